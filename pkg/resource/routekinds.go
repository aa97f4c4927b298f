package resource

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// The route kinds gatewarden serves, in group gateway.networking.k8s.io.
const (
	KindHTTPRoute = "HTTPRoute"
	KindGRPCRoute = "GRPCRoute"
	KindTLSRoute  = "TLSRoute"
	KindTCPRoute  = "TCPRoute"
	KindUDPRoute  = "UDPRoute"
)

// APIObject is an object of the Kubernetes API: the method set of
// controller-runtime's client.Object, which this package does not import.
type APIObject interface {
	metav1.Object
	runtime.Object
}

// APIObjectList is a list of the Kubernetes API (client.ObjectList).
type APIObjectList interface {
	metav1.ListInterface
	runtime.Object
}

// RouteKind is one route kind gatewarden serves, with what each layer needs
// to know of it: the loader, the Kubernetes source, the translator's
// listeners and RouteOptions, the status writer. RouteKinds is the one list
// of them, so that serving a new kind starts with one entry there.
type RouteKind struct {
	// Kind is the kind's name in group gateway.networking.k8s.io.
	Kind string
	// Versions are the API versions the loader reads documents of it in.
	Versions []string
	// Protocols are the listener protocols whose listeners take it: their
	// supportedKinds, in the order of RouteKinds.
	Protocols []gwv1.ProtocolType
	// Optional kinds are read only where their CRD is installed, so that a
	// cluster with an older release of the Gateway API's CRDs has its
	// HTTPRoutes served all the same.
	Optional bool
	// RouteOptionTarget is whether a RouteOption may name it in
	// spec.targetRefs.
	RouteOptionTarget bool
	// New and NewList return an empty object and an empty list of it.
	New     func() APIObject
	NewList func() APIObjectList
	// Status is the route status of obj, an object of the kind.
	Status func(obj APIObject) *gwv1.RouteStatus
}

var (
	v1Only            = []string{gwv1.GroupVersion.Version}
	httpTakers        = []gwv1.ProtocolType{gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType}
	httpRouteVersions = []string{gwv1.GroupVersion.Version, gwv1beta1.GroupVersion.Version}
)

// RouteKinds are the route kinds gatewarden serves. HTTP and HTTPS
// listeners take HTTPRoutes and GRPCRoutes, which share their virtual
// hosts and policies; TLS listeners (in Passthrough mode) take TLSRoutes,
// which pick a backend by SNI without terminating TLS; TCP listeners take
// TCPRoutes, UDP listeners UDPRoutes. Read it, do not change it.
var RouteKinds = []RouteKind{
	typed[gwv1.HTTPRouteList](RouteKind{Kind: KindHTTPRoute, Versions: httpRouteVersions, Protocols: httpTakers, RouteOptionTarget: true},
		func(r *gwv1.HTTPRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus }),
	typed[gwv1.GRPCRouteList](RouteKind{Kind: KindGRPCRoute, Versions: v1Only, Protocols: httpTakers, Optional: true, RouteOptionTarget: true},
		func(r *gwv1.GRPCRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus }),
	typed[gwv1.TLSRouteList](RouteKind{Kind: KindTLSRoute, Versions: v1Only, Protocols: []gwv1.ProtocolType{gwv1.TLSProtocolType}, Optional: true},
		func(r *gwv1.TLSRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus }),
	typed[gwv1.TCPRouteList](RouteKind{Kind: KindTCPRoute, Versions: v1Only, Protocols: []gwv1.ProtocolType{gwv1.TCPProtocolType}, Optional: true},
		func(r *gwv1.TCPRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus }),
	typed[gwv1.UDPRouteList](RouteKind{Kind: KindUDPRoute, Versions: v1Only, Protocols: []gwv1.ProtocolType{gwv1.UDPProtocolType}, Optional: true},
		func(r *gwv1.UDPRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus }),
}

// objectPointer is *R, an APIObject; listPointer is *L, an APIObjectList.
type (
	objectPointer[R any] interface {
		*R
		APIObject
	}
	listPointer[L any] interface {
		*L
		APIObjectList
	}
)

// typed is k with New, NewList and Status filled in for the kind whose
// lists are of type L and objects of type R; status is the route status of
// an object.
func typed[L any, PL listPointer[L], R any, PR objectPointer[R]](k RouteKind, status func(PR) *gwv1.RouteStatus) RouteKind {
	k.New = func() APIObject { return PR(new(R)) }
	k.NewList = func() APIObjectList { return PL(new(L)) }
	k.Status = func(o APIObject) *gwv1.RouteStatus { return status(o.(PR)) }
	return k
}

// listenerRouteKinds maps a listener protocol to the kinds it takes,
// computed once: the translator asks for every listener.
var listenerRouteKinds = func() map[gwv1.ProtocolType][]string {
	m := map[gwv1.ProtocolType][]string{}
	for _, k := range RouteKinds {
		for _, p := range k.Protocols {
			m[p] = append(m[p], k.Kind)
		}
	}
	return m
}()

// ListenerRouteKinds are the route kinds a listener of protocol p takes, in
// the order of RouteKinds; nil for a protocol no kind is served on. The
// slice is shared: do not change it.
func ListenerRouteKinds(p gwv1.ProtocolType) []string { return listenerRouteKinds[p] }

// IsRouteKind reports whether kind is one of RouteKinds.
func IsRouteKind(kind string) bool {
	for _, k := range RouteKinds {
		if k.Kind == kind {
			return true
		}
	}
	return false
}

// IsRouteOptionTarget reports whether a RouteOption may target kind.
func IsRouteOptionTarget(kind string) bool {
	for _, k := range RouteKinds {
		if k.Kind == kind {
			return k.RouteOptionTarget
		}
	}
	return false
}

// RouteOptionTargets names the kinds a RouteOption may target, for a
// person: "gateway.networking.k8s.io/HTTPRoute or ...".
func RouteOptionTargets() string {
	var names []string
	for _, k := range RouteKinds {
		if k.RouteOptionTarget {
			names = append(names, gwv1.GroupName+"/"+k.Kind)
		}
	}
	return strings.Join(names, " or ")
}
