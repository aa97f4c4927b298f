package translator

import (
	"fmt"
	"slices"

	xdscorev3 "github.com/cncf/xds/go/xds/core/v3"
	matcherv3 "github.com/cncf/xds/go/xds/type/matcher/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	udpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// A UDPRoute is served on a UDP listener: Envoy's udp_proxy listener filter
// forwards the datagrams of each client session (its source address and
// port) to a backend and the backend's answers back. As on a TCP listener,
// nothing in a datagram tells routes apart, so of the routes attached to a
// listener (all Accepted and counted) the oldest is served.
//
// udp_proxy sends a session to one cluster and has no weighted clusters: a
// rule of several backends becomes one cluster whose localities are the
// backends, each weighted as the rule says (locality weighted load
// balancing), so that new sessions pick backends in those proportions.
//
// A listener that cannot serve its route (an invalid backend, no route at
// all, JWT or RBAC put on it by a VirtualHostOption, which no datagram
// carries) forwards nothing: its matcher has no action, and Envoy drops
// every datagram it receives.

const udpProxyFilter = "envoy.filters.udp_listener.udp_proxy"

// udpAsHTTP returns the HTTPRoute of kind UDPRoute that stands for r.
func udpAsHTTP(r *gwv1.UDPRoute) *gwv1.HTTPRoute {
	return streamRouteAsHTTP(resource.KindUDPRoute, r.ObjectMeta, r.Spec.ParentRefs, len(r.Spec.Rules), func(i int) (*gwv1.SectionName, []gwv1.BackendRef) {
		return r.Spec.Rules[i].Name, r.Spec.Rules[i].BackendRefs
	})
}

// buildUDP returns the Envoy listeners of the Gateway's UDP listeners, one
// per port, and adds the clusters they use to backends.
func (t *translation) buildUDP(gs *gatewayState, bind string, backends map[string]backend) []*listenerv3.Listener {
	if bind == "" {
		return nil
	}
	var out []*listenerv3.Listener
	for _, sl := range t.streamListeners(gs, gwv1.UDPProtocolType, "udp") {
		cluster := ""
		if sl.route != nil {
			cluster = udpCluster(sl.route, backends)
		}
		addr := socketAddress(bind, uint32(sl.port))
		addr.GetSocketAddress().Protocol = corev3.SocketAddress_UDP
		proxy := &udpv3.UdpProxyConfig{
			StatPrefix:     sl.statPrefix,
			RouteSpecifier: &udpv3.UdpProxyConfig_Matcher{Matcher: udpMatcher(cluster)},
		}
		out = append(out, &listenerv3.Listener{
			Name:    sl.name,
			Address: addr,
			ListenerFilters: []*listenerv3.ListenerFilter{{
				Name: udpProxyFilter, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(proxy)},
			}},
		})
	}
	return out
}

// udpMatcher routes every datagram to cluster; with no cluster it routes
// none, and Envoy drops them.
func udpMatcher(cluster string) *matcherv3.Matcher {
	if cluster == "" {
		return &matcherv3.Matcher{}
	}
	return &matcherv3.Matcher{OnNoMatch: &matcherv3.Matcher_OnMatch{OnMatch: &matcherv3.Matcher_OnMatch_Action{
		Action: &xdscorev3.TypedExtensionConfig{Name: "route", TypedConfig: mustAny(&udpv3.Route{Cluster: cluster})},
	}}}
}

// udpCluster returns the cluster the datagrams of the UDPRoute rs go to,
// adding it to backends, or "" when the route cannot be served.
func udpCluster(rs *routeState, backends map[string]backend) string {
	if len(rs.rules) == 0 {
		return ""
	}
	rule := rs.rules[0]
	if rule.invalid != "" || len(rule.backends) == 0 {
		return ""
	}
	if len(rule.backends) == 1 {
		b := rule.backends[0]
		backends[b.clusterName()] = b
		return b.clusterName()
	}
	// ":" is in no namespace or name: never the cluster of a Service port.
	c := backend{name: fmt.Sprintf("udproute:%s/%s", rs.obj.Namespace, rs.obj.Name), members: slices.Clone(rule.backends)}
	backends[c.name] = c
	return c.name
}

// weightLocalities makes c pick a locality (a backend of a UDPRoute rule)
// by its weight before an endpoint within it.
func weightLocalities(c *clusterv3.Cluster) {
	c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{
		LocalityConfigSpecifier: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig_{
			LocalityWeightedLbConfig: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig{},
		},
	}
}

// memberEndpoints are the endpoints of a cluster of weighted backends: one
// locality per backend that has endpoints, named after the backend's own
// cluster, of the backend's weight. dns is set when a backend's endpoints
// are host names: the cluster then resolves every address (an IP address
// resolves to itself).
func (t *translation) memberEndpoints(b backend) (*endpointv3.ClusterLoadAssignment, bool) {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: b.clusterName()}
	dns := false
	for _, m := range b.members {
		mcla, mdns := t.buildEndpoints(m)
		dns = dns || mdns
		var eps []*endpointv3.LbEndpoint
		for _, l := range mcla.Endpoints {
			eps = append(eps, l.LbEndpoints...)
		}
		if len(eps) == 0 {
			continue
		}
		cla.Endpoints = append(cla.Endpoints, &endpointv3.LocalityLbEndpoints{
			Locality:            &corev3.Locality{SubZone: m.clusterName()},
			LbEndpoints:         eps,
			LoadBalancingWeight: wrapperspb.UInt32(m.weight),
		})
	}
	return cla, dns
}
