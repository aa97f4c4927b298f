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
		switch f.Type {
		case gwv1.HTTPRouteFilterRequestHeaderModifier:
			if f.RequestHeaderModifier == nil || out.request != nil {
				return nil, field + ": requestHeaderModifier must be set, once per backendRef"
			}
			out.request = f.RequestHeaderModifier
			if msg := checkHeaderFilter(field+".requestHeaderModifier", out.request); msg != "" {
				return nil, msg
			}
		case gwv1.HTTPRouteFilterResponseHeaderModifier:
			if f.ResponseHeaderModifier == nil || out.response != nil {
				return nil, field + ": responseHeaderModifier must be set, once per backendRef"
			}
			out.response = f.ResponseHeaderModifier
			if msg := checkHeaderFilter(field+".responseHeaderModifier", out.response); msg != "" {
				return nil, msg
			}
		default:
			return nil, fmt.Sprintf("%s: filter type %q is not supported on a backendRef; supported: RequestHeaderModifier, ResponseHeaderModifier", field, f.Type)
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
