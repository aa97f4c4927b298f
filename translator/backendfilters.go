package translator

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// backendFilters are the filters of one backendRef: header modifiers that
// apply only to the requests (and their responses) sent to that backend.
type backendFilters struct {
	request, response *gwv1.HTTPHeaderFilter
}

// checkBackendFilters reads the filters of backendRefs[j] of rule i.
// Filters other than the header modifiers are refused: silently ignoring a
// filter would serve the route differently from what it says.
func checkBackendFilters(i, j int, filters []gwv1.HTTPRouteFilter) (*backendFilters, string) {
	if len(filters) == 0 {
		return nil, ""
	}
	out := &backendFilters{}
	for k, f := range filters {
		field := fmt.Sprintf("spec.rules[%d].backendRefs[%d].filters[%d]", i, j, k)
		// setOnce takes the filter's header modifier named name into dst,
		// which must not have one yet.
		setOnce := func(name string, mod *gwv1.HTTPHeaderFilter, dst **gwv1.HTTPHeaderFilter) string {
			if mod == nil || *dst != nil {
				return field + ": " + name + " must be set, once per backendRef"
			}
			*dst = mod
			return checkHeaderFilter(field+"."+name, mod)
		}
		msg := ""
		switch f.Type {
		case gwv1.HTTPRouteFilterRequestHeaderModifier:
			msg = setOnce("requestHeaderModifier", f.RequestHeaderModifier, &out.request)
		case gwv1.HTTPRouteFilterResponseHeaderModifier:
			msg = setOnce("responseHeaderModifier", f.ResponseHeaderModifier, &out.response)
		default:
			msg = fmt.Sprintf("%s: filter type %q is not supported on a backendRef; supported: RequestHeaderModifier, ResponseHeaderModifier", field, f.Type)
		}
		if msg != "" {
			return nil, msg
		}
	}
	return out, ""
}

// applyBackendFilters puts the header modifiers of each backend on its
// weighted cluster, a route to one backend becoming a weighted cluster of
// one so that it has a place for them. Envoy applies them before the
// rule's own header modifiers.
func applyBackendFilters(ra *routev3.RouteAction, backends []backend, filters []*backendFilters) {
	some := false
	for _, f := range filters {
		some = some || f != nil
	}
	if !some {
		return
	}
	wc := &routev3.WeightedCluster{}
	for k, b := range backends {
		cw := &routev3.WeightedCluster_ClusterWeight{Name: b.clusterName(), Weight: wrapperspb.UInt32(b.weight)}
		if f := filters[k]; f != nil {
			cw.RequestHeadersToAdd, cw.RequestHeadersToRemove = headerOptions(f.request)
			cw.ResponseHeadersToAdd, cw.ResponseHeadersToRemove = headerOptions(f.response)
		}
		wc.Clusters = append(wc.Clusters, cw)
	}
	ra.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
}
