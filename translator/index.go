package translator

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// index gives the lookups the translation needs in constant time.
type index struct {
	services      map[types.NamespacedName]*corev1.Service
	slices        map[types.NamespacedName][]*discoveryv1.EndpointSlice // by Service
	grants        map[string][]*gwv1beta1.ReferenceGrant                // by namespace
	classes       map[string]*gwv1.GatewayClass
	routesByName  map[types.NamespacedName]*gwv1.HTTPRoute
	gatewayByName map[types.NamespacedName]*gwv1.Gateway
	secrets       map[types.NamespacedName]*corev1.Secret
	namespaces    map[string]*corev1.Namespace
	tls           backendTLSIndex
	// listenerSets are the ListenerSets by the Gateway their parentRef
	// names, in input order; listenerSetNames holds every one by name.
	listenerSets     map[types.NamespacedName][]*gwv1.ListenerSet
	listenerSetNames map[types.NamespacedName]bool
}

func newIndex(in *resource.Resources) index {
	// Sized up front: with thousands of routes, growing them is a good
	// part of a translation.
	idx := index{
		services:      make(map[types.NamespacedName]*corev1.Service, len(in.Services)),
		slices:        make(map[types.NamespacedName][]*discoveryv1.EndpointSlice, len(in.Services)),
		grants:        map[string][]*gwv1beta1.ReferenceGrant{},
		classes:       make(map[string]*gwv1.GatewayClass, len(in.GatewayClasses)),
		routesByName:  make(map[types.NamespacedName]*gwv1.HTTPRoute, len(in.HTTPRoutes)),
		gatewayByName: make(map[types.NamespacedName]*gwv1.Gateway, len(in.Gateways)),
		secrets:       make(map[types.NamespacedName]*corev1.Secret, len(in.Secrets)),
		namespaces:    make(map[string]*corev1.Namespace, len(in.Namespaces)),
	}
	idx.tls = newBackendTLSIndex(in)
	for _, s := range in.Secrets {
		idx.secrets[nn(s.Namespace, s.Name)] = s
	}
	for _, n := range in.Namespaces {
		idx.namespaces[n.Name] = n
	}
	for _, s := range in.Services {
		idx.services[nn(s.Namespace, s.Name)] = s
	}
	for _, es := range in.EndpointSlices {
		svc := es.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		key := nn(es.Namespace, svc)
		idx.slices[key] = append(idx.slices[key], es)
	}
	for _, g := range in.ReferenceGrants {
		idx.grants[g.Namespace] = append(idx.grants[g.Namespace], g)
	}
	for _, c := range in.GatewayClasses {
		idx.classes[c.Name] = c
	}
	for _, r := range in.HTTPRoutes {
		idx.routesByName[nn(r.Namespace, r.Name)] = r
	}
	for _, g := range in.Gateways {
		idx.gatewayByName[nn(g.Namespace, g.Name)] = g
	}
	idx.listenerSets = map[types.NamespacedName][]*gwv1.ListenerSet{}
	idx.listenerSetNames = make(map[types.NamespacedName]bool, len(in.ListenerSets))
	for _, s := range in.ListenerSets {
		idx.listenerSetNames[nn(s.Namespace, s.Name)] = true
		if parent, ok := ListenerSetParent(s); ok {
			idx.listenerSets[parent] = append(idx.listenerSets[parent], s)
		}
	}
	return idx
}

// granted reports whether a ReferenceGrant in toNamespace lets an object of
// fromKind in fromNamespace refer to the object toKind/toName.
func (idx index) granted(fromGroup, fromKind, fromNamespace, toGroup, toKind, toNamespace, toName string) bool {
	for _, g := range idx.grants[toNamespace] {
		fromOK := false
		for _, f := range g.Spec.From {
			if string(f.Group) == fromGroup && string(f.Kind) == fromKind && string(f.Namespace) == fromNamespace {
				fromOK = true
				break
			}
		}
		if !fromOK {
			continue
		}
		for _, t := range g.Spec.To {
			if string(t.Group) == toGroup && string(t.Kind) == toKind && (t.Name == nil || *t.Name == "" || string(*t.Name) == toName) {
				return true
			}
		}
	}
	return false
}
