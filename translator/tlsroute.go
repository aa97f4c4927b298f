package translator

import (
	"fmt"
	"maps"
	"slices"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	directv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/direct_response/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
	"github.com/gatewarden/gatewarden/pkg/resource"
)

// A TLSRoute is served on a TLS listener, in one of two modes, picked by
// the SNI of the client's hello (tls_inspector): the filter chain of that
// server name proxies the connection to the route's backends (tcp_proxy).
// In Passthrough mode the connection goes on still encrypted, and the
// client's TLS session ends at the backend. In Terminate mode the chain
// carries the listener's certificates (Envoy picks one by SNI, as on HTTPS
// listeners) and the decrypted stream goes on in plain TCP. Listeners of
// both modes may share a port (the Gateway API's TLSRouteModeMixed): each
// server name has its own chain, so each hostname keeps its listener's
// mode. Envoy never reads requests in the stream, so no JWT or RBAC can
// apply: a TLS listener that a VirtualHostOption with JWT or RBAC targets
// serves none of its routes (it fails closed) and the option says why.
// Like a GRPCRoute, a TLSRoute is attached and resolved as an HTTPRoute of
// TypeMeta kind TLSRoute: hostnames, parentRefs, ReferenceGrants and
// backendRefs mean the same.

const (
	tcpProxyFilter       = "envoy.filters.network.tcp_proxy"
	directResponseFilter = "envoy.filters.network.direct_response"
)

// tlsAsHTTP returns the HTTPRoute of kind TLSRoute that stands for r.
func tlsAsHTTP(r *gwv1.TLSRoute) *gwv1.HTTPRoute {
	h := streamRouteAsHTTP(resource.KindTLSRoute, r.ObjectMeta, r.Spec.ParentRefs, len(r.Spec.Rules), func(i int) (*gwv1.SectionName, []gwv1.BackendRef) {
		return r.Spec.Rules[i].Name, r.Spec.Rules[i].BackendRefs
	})
	h.Spec.Hostnames = r.Spec.Hostnames
	return h
}

// checkTLSListener returns a reason and message when gatewarden cannot
// serve the TLS listener l: its tls.mode is neither Terminate (the Gateway
// API's default) nor Passthrough.
func checkTLSListener(l gwv1.Listener) (string, string) {
	if mode := tlsMode(l); mode != gwv1.TLSModeTerminate && mode != gwv1.TLSModePassthrough {
		return string(gwv1.ListenerReasonUnsupportedValue), fmt.Sprintf("listener %q: tls.mode %q is not supported for protocol TLS; supported: Terminate, Passthrough", l.Name, mode)
	}
	return "", ""
}

// tlsMode is the tls.mode of l, Terminate when unset (the CRD's default).
func tlsMode(l gwv1.Listener) gwv1.TLSModeType {
	if l.TLS == nil || l.TLS.Mode == nil || *l.TLS.Mode == "" {
		return gwv1.TLSModeTerminate
	}
	return *l.TLS.Mode
}

// terminatesTLS reports a listener whose TLS sessions end at Envoy, with
// the certificates of tls.certificateRefs: HTTPS, and TLS in mode
// Terminate.
func terminatesTLS(l gwv1.Listener) bool {
	switch l.Protocol {
	case gwv1.HTTPSProtocolType:
		return true
	case gwv1.TLSProtocolType:
		return tlsMode(l) == gwv1.TLSModeTerminate
	}
	return false
}

// isPassthrough reports a listener that proxies connections (TLS
// passthrough, TCP) or datagrams (UDP) rather than serving HTTP.
func isPassthrough(l *listenerState) bool {
	return l.spec.Protocol == gwv1.TLSProtocolType || l.spec.Protocol == gwv1.TCPProtocolType || l.spec.Protocol == gwv1.UDPProtocolType
}

// passthroughChain is the filter chain of one server name of a TLS port.
type passthroughChain struct {
	serverName string
	route      *routeState    // nil: the connection is closed
	listener   *listenerState // the listener that serves the name
}

// buildPassthrough returns the Envoy listeners of the Gateway's TLS ports,
// one per port, and adds the clusters they use to backends and the
// certificates their Terminate chains serve to secrets.
func (t *translation) buildPassthrough(gs *gatewayState, bind string, backends map[string]backend, secrets map[string]certificate) []*listenerv3.Listener {
	if bind == "" {
		return nil
	}
	byPort := map[int32][]*listenerState{}
	for _, l := range gs.listeners {
		if l.spec.Protocol == gwv1.TLSProtocolType {
			byPort[int32(l.spec.Port)] = append(byPort[int32(l.spec.Port)], l)
		}
	}
	gwRef := ancestorGateway(gs.obj.Namespace, gs.obj.Name)
	var out []*listenerv3.Listener
	for _, port := range slices.Sorted(maps.Keys(byPort)) {
		listeners := byPort[port]
		chains := map[string]*passthroughChain{}
		for _, l := range listeners {
			closed := t.passthroughPolicy(l, gwRef)
			if l.unprogrammed {
				closed = true
			}
			routes := slices.Clone(l.routes)
			slices.SortStableFunc(routes, func(a, b *attachment) int { return olderFirst(a.route.obj, b.route.obj) })
			for _, a := range routes {
				for _, h := range a.hostnames {
					if shadowedBy(listeners, l, h) != nil {
						continue // a more specific listener serves it
					}
					if _, taken := chains[h]; taken {
						continue // an older route has it
					}
					c := &passthroughChain{serverName: h, listener: l}
					if !closed {
						c.route = a.route
					}
					chains[h] = c
				}
			}
		}
		name := fmt.Sprintf("tls-%d", port)
		li := &listenerv3.Listener{
			Name:            name,
			Address:         socketAddress(bind, uint32(port)),
			ListenerFilters: []*listenerv3.ListenerFilter{tlsInspector()},
			// A server name no route claims, or no SNI at all, is closed.
			DefaultFilterChain: closedChain(),
		}
		stat := hcmStatPrefix(gs.obj.Namespace+"/"+gs.obj.Name, name)
		for _, h := range sortedKeys(chains) {
			c := chains[h]
			fc := closedChain()
			if c.route != nil {
				var opts []func(*tcpv3.TcpProxy)
				if terminatesTLS(c.listener.spec) {
					opts = append(opts, afterHandshake)
				}
				fc = t.passthroughProxy(c.route, stat, backends, opts...)
				// A chain that closes its connections needs no
				// certificate: it ends them before any handshake.
				if terminatesTLS(c.listener.spec) && proxies(fc) {
					fc.TransportSocket = terminateChain(c.listener).transportSocket()
					for _, cert := range c.listener.certs {
						secrets[cert.name] = cert
					}
				}
			}
			if h != "*" {
				fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{h}}
			}
			fc.Name = h
			li.FilterChains = append(li.FilterChains, fc)
		}
		out = append(out, li)
	}
	return out
}

// passthroughPolicy reports whether a VirtualHostOption puts JWT or RBAC on
// the TLS or TCP listener l, which Envoy cannot enforce on a connection it
// proxies unread: l's routes are then not served, and the option says so.
func (t *translation) passthroughPolicy(l *listenerState, gwRef gwv1.ParentReference) bool {
	pol := l.vhostOp
	if pol == nil {
		return false
	}
	var from *optv1.VirtualHostOption
	switch {
	case pol.invalid != nil:
		return true // its status says why already
	case !pol.jwt.empty():
		from = pol.jwtFrom
	case pol.rbac != nil && !pol.rbac.Disable:
		from = pol.rbacFrom
	default:
		return false
	}
	t.optionCondition(optv1.KindVirtualHostOption, from, gwRef, false, string(gwv1.PolicyReasonInvalid),
		fmt.Sprintf("listener %q is a %s listener: JWT and RBAC cannot be enforced on connections Envoy proxies without reading their requests, so its routes are not served; target the Gateway's HTTP and HTTPS listeners by sectionName", l.spec.Name, passthroughDesc(l)))
	return true
}

// passthroughProxy is the filter chain that proxies a connection to the
// backends of the TLSRoute rs, or closes it when the route cannot be served.
// Each option adjusts the tcp_proxy.
func (t *translation) passthroughProxy(rs *routeState, stat string, backends map[string]backend, opts ...func(*tcpv3.TcpProxy)) *listenerv3.FilterChain {
	if len(rs.rules) == 0 {
		return closedChain()
	}
	rule := rs.rules[0]
	if rule.invalid != "" || len(rule.backends) == 0 {
		return closedChain()
	}
	tp := &tcpv3.TcpProxy{StatPrefix: stat}
	if len(rule.backends) == 1 {
		tp.ClusterSpecifier = &tcpv3.TcpProxy_Cluster{Cluster: rule.backends[0].clusterName()}
	} else {
		wc := &tcpv3.TcpProxy_WeightedCluster{}
		for _, b := range rule.backends {
			wc.Clusters = append(wc.Clusters, &tcpv3.TcpProxy_WeightedCluster_ClusterWeight{Name: b.clusterName(), Weight: b.weight})
		}
		tp.ClusterSpecifier = &tcpv3.TcpProxy_WeightedClusters{WeightedClusters: wc}
	}
	for _, opt := range opts {
		opt(tp)
	}
	for _, b := range rule.backends {
		backends[b.clusterName()] = b
	}
	return &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
		Name: tcpProxyFilter, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(tp)},
	}}}
}

// afterHandshake makes a tcp_proxy behind a TLS listener in mode Terminate
// connect to the backend only once the client's TLS handshake is complete:
// a client the handshake refuses (no client certificate the Gateway's
// spec.tls.frontend asks for, say) never opens a connection to a backend.
// Nothing the client sends is buffered meanwhile.
func afterHandshake(tp *tcpv3.TcpProxy) {
	tp.UpstreamConnectMode = tcpv3.UpstreamConnectMode_ON_DOWNSTREAM_TLS_HANDSHAKE
	tp.MaxEarlyDataBytes = wrapperspb.UInt32(0)
}

// proxies reports whether fc proxies its connections rather than closing
// them.
func proxies(fc *listenerv3.FilterChain) bool {
	return len(fc.Filters) == 1 && fc.Filters[0].Name == tcpProxyFilter
}

// closedChain closes every connection it takes, sending nothing.
func closedChain() *listenerv3.FilterChain {
	return &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
		Name: directResponseFilter, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(&directv3.Config{})},
	}}}
}

// terminateChain is the TLS context of a TLS listener in mode Terminate:
// its certificates, the client certificate check of the Gateway's
// spec.tls.frontend, and no ALPN (the stream inside is not HTTP).
func terminateChain(l *listenerState) tlsChain {
	return tlsChain{certs: l.certs, clientCA: l.clientCA, opaque: true}
}

// passthroughDesc names the kind of a listener that proxies connections.
func passthroughDesc(l *listenerState) string {
	if l.spec.Protocol == gwv1.TLSProtocolType {
		return fmt.Sprintf("TLS (%s)", tlsMode(l.spec))
	}
	return string(l.spec.Protocol)
}
