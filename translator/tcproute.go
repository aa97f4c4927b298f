package translator

import (
	"fmt"
	"maps"
	"slices"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// A TCPRoute is served on a TCP listener: every connection to the port is
// proxied to the route's backends (tcp_proxy). A TCP listener has no
// hostname to tell routes apart, so of the routes attached to it (all
// Accepted and counted) the oldest is served, as the Gateway API asks. As on
// a TLS passthrough listener, JWT or RBAC put on the listener by a
// VirtualHostOption cannot be enforced: the listener then closes every
// connection and the option says why.

// tcpAsHTTP returns the HTTPRoute of kind TCPRoute that stands for r.
func tcpAsHTTP(r *gwv1.TCPRoute) *gwv1.HTTPRoute {
	return streamRouteAsHTTP(resource.KindTCPRoute, r.ObjectMeta, r.Spec.ParentRefs, len(r.Spec.Rules), func(i int) (*gwv1.SectionName, []gwv1.BackendRef) {
		return r.Spec.Rules[i].Name, r.Spec.Rules[i].BackendRefs
	})
}

// streamRouteAsHTTP is the HTTPRoute of kind kind that stands for a route
// of connections (TLSRoute, TCPRoute): its parents and, for each of its n
// rules, the rule's name and backends.
func streamRouteAsHTTP(kind string, om metav1.ObjectMeta, parents []gwv1.ParentReference, n int, rule func(int) (*gwv1.SectionName, []gwv1.BackendRef)) *gwv1.HTTPRoute {
	h := &gwv1.HTTPRoute{
		TypeMeta: metav1.TypeMeta{APIVersion: gwv1.GroupVersion.String(), Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: om.Namespace, Name: om.Name, UID: om.UID,
			Generation: om.Generation, CreationTimestamp: om.CreationTimestamp},
	}
	h.Spec.ParentRefs = parents
	for i := range n {
		name, backends := rule(i)
		hr := gwv1.HTTPRouteRule{Name: name}
		for _, b := range backends {
			hr.BackendRefs = append(hr.BackendRefs, gwv1.HTTPBackendRef{BackendRef: b})
		}
		h.Spec.Rules = append(h.Spec.Rules, hr)
	}
	return h
}

// streamListener is one port of a Gateway's TCP or UDP listeners: the name
// and stat prefix of its Envoy listener and the route it serves, nil where
// it serves none (no route attached, or closed by its policy or because the
// listener is not programmed).
type streamListener struct {
	port             int32
	name, statPrefix string
	route            *routeState
}

// streamListeners returns the Gateway's listeners of protocol, the first of
// each port (a second one is Conflicted: gateways()), by port.
func (t *translation) streamListeners(gs *gatewayState, protocol gwv1.ProtocolType, prefix string) []streamListener {
	byPort := map[int32]*listenerState{}
	for _, l := range gs.listeners {
		if l.spec.Protocol == protocol && byPort[int32(l.spec.Port)] == nil {
			byPort[int32(l.spec.Port)] = l
		}
	}
	gwRef := ancestorGateway(gs.obj.Namespace, gs.obj.Name)
	var out []streamListener
	for _, port := range slices.Sorted(maps.Keys(byPort)) {
		l := byPort[port]
		sl := streamListener{port: port, name: fmt.Sprintf("%s-%d", prefix, port)}
		sl.statPrefix = hcmStatPrefix(gs.obj.Namespace+"/"+gs.obj.Name, sl.name)
		closed := t.passthroughPolicy(l, gwRef) || l.unprogrammed
		if len(l.routes) > 0 && !closed {
			sl.route = oldestRoute(l)
		}
		out = append(out, sl)
	}
	return out
}

// buildTCP returns the Envoy listeners of the Gateway's TCP listeners, one
// per port, and adds the clusters they use to backends.
func (t *translation) buildTCP(gs *gatewayState, bind string, backends map[string]backend) []*listenerv3.Listener {
	if bind == "" {
		return nil
	}
	var out []*listenerv3.Listener
	for _, sl := range t.streamListeners(gs, gwv1.TCPProtocolType, "tcp") {
		fc := closedChain()
		if sl.route != nil {
			fc = t.passthroughProxy(sl.route, sl.statPrefix, backends)
		}
		fc.Name = sl.name
		out = append(out, &listenerv3.Listener{
			Name:         sl.name,
			Address:      socketAddress(bind, uint32(sl.port)),
			FilterChains: []*listenerv3.FilterChain{fc},
		})
	}
	return out
}

// oldestRoute is the route a TCP or UDP listener serves, of those attached
// to it (at least one): the oldest, then the first by namespace and name.
func oldestRoute(l *listenerState) *routeState {
	return slices.MinFunc(l.routes, func(a, b *attachment) int {
		if c := olderFirst(a.route.obj, b.route.obj); c != 0 {
			return c
		}
		return compareKeys(a.route.obj, b.route.obj)
	}).route
}

func compareKeys(a, b metav1.Object) int {
	ka, kb := a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName()
	switch {
	case ka < kb:
		return -1
	case ka > kb:
		return 1
	}
	return 0
}
