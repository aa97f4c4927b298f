// Package resource owns gatewarden's one input type, Resources, and the loader
// that turns manifests (multi-document YAML or JSON) into it. Every source (a
// directory, the Kubernetes API), the translate command and every test build a
// Resources, so the translator sees the same thing whatever the origin.
package resource

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// Resources is everything the translator reads.
type Resources struct {
	GatewayClasses  []*gwv1.GatewayClass
	Gateways        []*gwv1.Gateway
	HTTPRoutes      []*gwv1.HTTPRoute
	ReferenceGrants []*gwv1beta1.ReferenceGrant
	Services        []*corev1.Service
	EndpointSlices  []*discoveryv1.EndpointSlice
	// Secrets hold the certificates of HTTPS listeners.
	Secrets []*corev1.Secret
	// BackendTLSPolicies say how to check the certificate of a Service
	// reached over TLS (a remote JWKS server); ConfigMaps hold their CAs.
	BackendTLSPolicies []*gwv1.BackendTLSPolicy
	ConfigMaps         []*corev1.ConfigMap
	// Namespaces are read for the labels listeners select routes by.
	Namespaces         []*corev1.Namespace
	VirtualHostOptions []*optv1.VirtualHostOption
	RouteOptions       []*optv1.RouteOption

	// GRPCRoutes route gRPC calls on HTTP and HTTPS listeners, under the
	// same policies as HTTPRoutes; TLSRoutes pass TLS connections through
	// by their SNI; TCPRoutes proxy the connections of TCP listeners and
	// UDPRoutes the datagrams of UDP listeners.
	GRPCRoutes []*gwv1.GRPCRoute
	TLSRoutes  []*gwv1.TLSRoute
	TCPRoutes  []*gwv1.TCPRoute
	UDPRoutes  []*gwv1.UDPRoute

	// ListenerSets add listeners to a Gateway that allows them
	// (spec.allowedListeners).
	ListenerSets []*gwv1.ListenerSet
}

// Add appends obj to the slice of its kind. It reports false for a kind
// gatewarden does not read.
func (r *Resources) Add(obj any) bool {
	switch o := obj.(type) {
	case *gwv1.GatewayClass:
		r.GatewayClasses = append(r.GatewayClasses, o)
	case *gwv1.Gateway:
		r.Gateways = append(r.Gateways, o)
	case *gwv1.HTTPRoute:
		r.HTTPRoutes = append(r.HTTPRoutes, o)
	case *gwv1.GRPCRoute:
		r.GRPCRoutes = append(r.GRPCRoutes, o)
	case *gwv1.TLSRoute:
		r.TLSRoutes = append(r.TLSRoutes, o)
	case *gwv1.TCPRoute:
		r.TCPRoutes = append(r.TCPRoutes, o)
	case *gwv1.UDPRoute:
		r.UDPRoutes = append(r.UDPRoutes, o)
	case *gwv1.ListenerSet:
		r.ListenerSets = append(r.ListenerSets, o)
	case *gwv1beta1.ReferenceGrant:
		r.ReferenceGrants = append(r.ReferenceGrants, o)
	case *corev1.Service:
		r.Services = append(r.Services, o)
	case *discoveryv1.EndpointSlice:
		r.EndpointSlices = append(r.EndpointSlices, o)
	case *corev1.Secret:
		r.Secrets = append(r.Secrets, o)
	case *gwv1.BackendTLSPolicy:
		r.BackendTLSPolicies = append(r.BackendTLSPolicies, o)
	case *corev1.ConfigMap:
		r.ConfigMaps = append(r.ConfigMaps, o)
	case *corev1.Namespace:
		r.Namespaces = append(r.Namespaces, o)
	case *optv1.VirtualHostOption:
		r.VirtualHostOptions = append(r.VirtualHostOptions, o)
	case *optv1.RouteOption:
		r.RouteOptions = append(r.RouteOptions, o)
	default:
		return false
	}
	return true
}

type named interface {
	GetNamespace() string
	GetName() string
}

func byKey[T named](a, b T) int {
	return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
}

// Sort orders every slice by namespace and name, so that sources which list
// objects in different orders still produce identical translations.
func (r *Resources) Sort() {
	slices.SortStableFunc(r.GatewayClasses, byKey)
	slices.SortStableFunc(r.Gateways, byKey)
	slices.SortStableFunc(r.HTTPRoutes, byKey)
	slices.SortStableFunc(r.GRPCRoutes, byKey)
	slices.SortStableFunc(r.TLSRoutes, byKey)
	slices.SortStableFunc(r.TCPRoutes, byKey)
	slices.SortStableFunc(r.UDPRoutes, byKey)
	slices.SortStableFunc(r.ListenerSets, byKey)
	slices.SortStableFunc(r.ReferenceGrants, byKey)
	slices.SortStableFunc(r.Services, byKey)
	slices.SortStableFunc(r.EndpointSlices, byKey)
	slices.SortStableFunc(r.Secrets, byKey)
	slices.SortStableFunc(r.BackendTLSPolicies, byKey)
	slices.SortStableFunc(r.ConfigMaps, byKey)
	slices.SortStableFunc(r.Namespaces, byKey)
	slices.SortStableFunc(r.VirtualHostOptions, byKey)
	slices.SortStableFunc(r.RouteOptions, byKey)
}

// Len is the number of objects of every kind.
func (r *Resources) Len() int {
	return len(r.GatewayClasses) + len(r.Gateways) + len(r.HTTPRoutes) + len(r.GRPCRoutes) + len(r.TLSRoutes) + len(r.TCPRoutes) + len(r.UDPRoutes) + len(r.ListenerSets) + len(r.ReferenceGrants) +
		len(r.Services) + len(r.EndpointSlices) + len(r.Secrets) + len(r.BackendTLSPolicies) + len(r.ConfigMaps) + len(r.Namespaces) + len(r.VirtualHostOptions) + len(r.RouteOptions)
}
