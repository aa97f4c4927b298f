package translator

import (
	"fmt"
	"regexp"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// A GRPCRoute is translated as the HTTPRoute it is equivalent to: a gRPC
// call is an HTTP/2 POST to /<service>/<method>, so a method match is a path
// match, a gRPC header match a header match, and the GRPCRoute filters are
// the HTTPRoute filters of the same names. Its rules then take every policy
// an HTTPRoute's take (VirtualHostOption JWT and RBAC of the listener, a
// RouteOption by targetRefs or extensionRef) from the same code, so a gRPC
// API is never less protected than an HTTP one on the same listener. What
// differs is kept apart: its status (Status.GRPCRoutes), ReferenceGrants
// (from kind GRPCRoute), route names, and its backends, which are always
// reached over HTTP/2 (h2c), as gRPC requires.
//
// When jwt_authn or rbac refuse a gRPC call (content-type application/grpc),
// Envoy answers it as gRPC: HTTP 200 with grpc-status 16 UNAUTHENTICATED for
// 401 and 7 PERMISSION_DENIED for 403, the reason in grpc-message.

// routeKind is the kind of the route r stands for: GRPCRoute, TLSRoute,
// TCPRoute or UDPRoute for the HTTPRoute built from one (grpcAsHTTP,
// streamRouteAsHTTP), else HTTPRoute.
func routeKind(r *gwv1.HTTPRoute) string {
	if r.Kind != resource.KindHTTPRoute && resource.IsRouteKind(r.Kind) {
		return r.Kind
	}
	return resource.KindHTTPRoute
}

// routesToAttach are the HTTPRoutes, then the GRPCRoutes, TLSRoutes,
// TCPRoutes and UDPRoutes of the input.
func (t *translation) routesToAttach() []*gwv1.HTTPRoute {
	if len(t.in.GRPCRoutes) == 0 && len(t.in.TLSRoutes) == 0 && len(t.in.TCPRoutes) == 0 && len(t.in.UDPRoutes) == 0 {
		return t.in.HTTPRoutes
	}
	out := make([]*gwv1.HTTPRoute, 0, len(t.in.HTTPRoutes)+len(t.in.GRPCRoutes)+len(t.in.TLSRoutes)+len(t.in.TCPRoutes)+len(t.in.UDPRoutes))
	out = append(out, t.in.HTTPRoutes...)
	for _, g := range t.in.GRPCRoutes {
		out = append(out, grpcAsHTTP(g))
	}
	for _, r := range t.in.TLSRoutes {
		out = append(out, tlsAsHTTP(r))
	}
	for _, r := range t.in.TCPRoutes {
		out = append(out, tcpAsHTTP(r))
	}
	for _, r := range t.in.UDPRoutes {
		out = append(out, udpAsHTTP(r))
	}
	return out
}

// newRouteStatus registers the status of route r under its kind.
func (t *translation) newRouteStatus(r *gwv1.HTTPRoute) *gwv1.RouteStatus {
	return routeStatusMaps[routeKind(r)](t.status).add(nn(r.Namespace, r.Name))
}

// routeExists reports whether the input holds the route kind namespace/name.
func (t *translation) routeExists(kind string, key types.NamespacedName) bool {
	if kind == resource.KindGRPCRoute {
		for _, g := range t.in.GRPCRoutes {
			if g.Namespace == key.Namespace && g.Name == key.Name {
				return true
			}
		}
		return false
	}
	return t.index.routesByName[key] != nil
}

// bodyGRPCRouteInvalid is bodyRouteInvalid for a GRPCRoute. Envoy sends it
// to a gRPC client as the message of grpc-status 2 (UNKNOWN).
const bodyGRPCRouteInvalid = "This route cannot be served: see the status of its GRPCRoute.\n"

func routeInvalidBody(r *gwv1.HTTPRoute) string {
	if routeKind(r) == resource.KindGRPCRoute {
		return bodyGRPCRouteInvalid
	}
	return bodyRouteInvalid
}

// applyGRPCTimeout replaces Envoy's default route timeout (15 s, which
// would cut every streaming call) for a GRPCRoute by the client's own
// deadline: the grpc-timeout header, without a maximum. A call without a
// deadline is still ended by the connection manager's stream idle timeout
// when nothing moves.
func applyGRPCTimeout(r *gwv1.HTTPRoute, ra *routev3.RouteAction) {
	if routeKind(r) != resource.KindGRPCRoute {
		return
	}
	ra.Timeout = durationpb.New(0)
	ra.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{GrpcTimeoutHeaderMax: durationpb.New(0)}
}

// routeName is the Envoy route name of one match of one rule. GRPCRoutes
// say their kind, so that a GRPCRoute and an HTTPRoute of one name are told
// apart in Envoy's stats and access logs.
func routeName(e routeEntry) string {
	prefix := ""
	if routeKind(e.route.obj) == resource.KindGRPCRoute {
		prefix = "grpcroute/"
	}
	return fmt.Sprintf("%s%s/%s/rule/%d/match/%d", prefix, e.route.obj.Namespace, e.route.obj.Name, e.rule, e.match)
}

// speakGRPC makes b a backend reached over HTTP/2 without TLS. A Service
// port that says so (appProtocol kubernetes.io/h2c) keeps its cluster; any
// other gets one of its own, which HTTPRoutes to the port do not use.
func (b *backend) speakGRPC() {
	if b.appProtocol != appProtocolH2C {
		b.appProtocol = appProtocolH2C
		b.grpcH2C = true
	}
}

// grpcAsHTTP returns the HTTPRoute equivalent to g, of TypeMeta kind
// GRPCRoute. Its metadata is g's (name, generation, creation time), so that
// conditions and conflict order are g's own.
func grpcAsHTTP(g *gwv1.GRPCRoute) *gwv1.HTTPRoute {
	r := &gwv1.HTTPRoute{
		TypeMeta: metav1.TypeMeta{APIVersion: gwv1.GroupVersion.String(), Kind: resource.KindGRPCRoute},
		ObjectMeta: metav1.ObjectMeta{Namespace: g.Namespace, Name: g.Name, UID: g.UID,
			Generation: g.Generation, CreationTimestamp: g.CreationTimestamp},
	}
	r.Spec.ParentRefs = g.Spec.ParentRefs
	r.Spec.Hostnames = g.Spec.Hostnames
	for _, rule := range g.Spec.Rules {
		hr := gwv1.HTTPRouteRule{Name: rule.Name, SessionPersistence: rule.SessionPersistence}
		for _, m := range rule.Matches {
			hr.Matches = append(hr.Matches, grpcMatch(m))
		}
		for _, f := range rule.Filters {
			hr.Filters = append(hr.Filters, grpcFilter(f))
		}
		for _, b := range rule.BackendRefs {
			hb := gwv1.HTTPBackendRef{BackendRef: b.BackendRef}
			for _, f := range b.Filters {
				hb.Filters = append(hb.Filters, grpcFilter(f))
			}
			hr.BackendRefs = append(hr.BackendRefs, hb)
		}
		r.Spec.Rules = append(r.Spec.Rules, hr)
	}
	return r
}

// grpcMatch turns a gRPC method match into a path match on
// /<service>/<method>: both exact, an exact path; the service alone, the
// path prefix /<service>/; otherwise a regular expression in which an
// absent part is any one path segment. Exact names are quoted, so that a
// dot in a service name matches a dot only.
func grpcMatch(m gwv1.GRPCRouteMatch) gwv1.HTTPRouteMatch {
	var hm gwv1.HTTPRouteMatch
	for _, h := range m.Headers {
		typ := gwv1.HeaderMatchExact
		if h.Type != nil && *h.Type == gwv1.GRPCHeaderMatchRegularExpression {
			typ = gwv1.HeaderMatchRegularExpression
		}
		hm.Headers = append(hm.Headers, gwv1.HTTPHeaderMatch{Type: &typ, Name: gwv1.HTTPHeaderName(h.Name), Value: h.Value})
	}
	mm := m.Method
	if mm == nil || (ptrOr(mm.Service, "") == "" && ptrOr(mm.Method, "") == "") {
		return hm
	}
	service, method := ptrOr(mm.Service, ""), ptrOr(mm.Method, "")
	regex := mm.Type != nil && *mm.Type == gwv1.GRPCMethodMatchRegularExpression
	var typ gwv1.PathMatchType
	var value string
	switch {
	case !regex && service != "" && method != "":
		typ, value = gwv1.PathMatchExact, "/"+service+"/"+method
	case !regex && method == "":
		typ, value = gwv1.PathMatchPathPrefix, "/"+service+"/"
	default:
		part := func(s string) string {
			switch {
			case s == "":
				return "[^/]+"
			case regex:
				return "(?:" + s + ")"
			default:
				return regexp.QuoteMeta(s)
			}
		}
		typ, value = gwv1.PathMatchRegularExpression, "/"+part(service)+"/"+part(method)
	}
	hm.Path = &gwv1.HTTPPathMatch{Type: &typ, Value: &value}
	return hm
}

// grpcFilter is the HTTPRoute filter of the same type: GRPCRoute filters
// are a subset of HTTPRoute's, with the same fields.
func grpcFilter(f gwv1.GRPCRouteFilter) gwv1.HTTPRouteFilter {
	return gwv1.HTTPRouteFilter{
		Type:                   gwv1.HTTPRouteFilterType(f.Type),
		RequestHeaderModifier:  f.RequestHeaderModifier,
		ResponseHeaderModifier: f.ResponseHeaderModifier,
		RequestMirror:          f.RequestMirror,
		ExtensionRef:           f.ExtensionRef,
	}
}
