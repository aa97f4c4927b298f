package translator

import (
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// gatewayState is one Gateway of an accepted class, being translated.
type gatewayState struct {
	obj    *gwv1.Gateway
	status *gwv1.GatewayStatus
	// listeners are the accepted listeners: the Gateway's in spec order,
	// then those of its accepted ListenerSets (listenerset.go).
	listeners []*listenerState
	sets      []*listenerSetState
	// backendCert is the client certificate presented to TLS backends;
	// backendCertInvalid why it cannot be used (backendclientcert.go).
	backendCert        *certificate
	backendCertInvalid string
	// refused: the Gateway is not accepted for its spec.addresses
	// (UnsupportedAddress): none of its listeners is served.
	refused bool
}

// listenerState is one accepted listener of a Gateway.
type listenerState struct {
	gw *gatewayState
	// set is the ListenerSet that declares it; nil for the Gateway's own.
	set     *listenerSetState
	spec    gwv1.Listener
	status  *gwv1.ListenerStatus
	routes  []*attachment
	vhostOp *vhostPolicy  // the merged VirtualHostOptions of this listener
	certs   []certificate // HTTPS: the certificates it serves
	// clientCA, for an HTTPS listener with client certificate validation,
	// is the PEM bundle of the authorities client certificates must chain to.
	clientCA string
	// unprogrammed listeners take routes (for status) but are not served.
	unprogrammed bool
}

func (t *translation) acceptClasses() {
	for _, c := range t.in.GatewayClasses {
		if string(c.Spec.ControllerName) != t.opts.ControllerName {
			continue
		}
		st := &gwv1.GatewayClassStatus{SupportedFeatures: supportedFeatures(t.opts)}
		setCondition(&st.Conditions, string(gwv1.GatewayClassConditionStatusAccepted), true,
			string(gwv1.GatewayClassReasonAccepted), "Accepted by "+t.opts.ControllerName, c.Generation)
		t.status.GatewayClasses[c.Name] = st
	}
}

func (t *translation) ownsClass(name gwv1.ObjectName) bool {
	_, ok := t.status.GatewayClasses[string(name)]
	return ok
}

// gateways returns the Gateways of accepted classes with their listeners
// checked; other Gateways belong to other controllers and are left alone.
func (t *translation) gateways() []*gatewayState {
	var out []*gatewayState
	for _, g := range t.in.Gateways {
		if !t.ownsClass(g.Spec.GatewayClassName) {
			continue
		}
		addrs := t.gatewayAddresses(g)
		st := &gwv1.GatewayStatus{Addresses: addrs.published}
		t.status.Gateways[nn(g.Namespace, g.Name)] = st
		gs := &gatewayState{obj: g, status: st, refused: addrs.unsupported != ""}
		claims := newPortClaims()
		owner := listenerOwner{kind: "Gateway", namespace: g.Namespace, generation: g.Generation}
		for _, l := range g.Spec.Listeners {
			ls, state := t.acceptListener(gs, owner, l, claims)
			st.Listeners = append(st.Listeners, ls)
			if state != nil {
				gs.listeners = append(gs.listeners, state)
			}
		}
		// Listener status pointers are taken once the slice stops growing.
		// Only the Gateway's own listeners are there yet (its ListenerSets'
		// come after: attachListenerSets).
		for _, ls := range gs.listeners {
			for i := range st.Listeners {
				if st.Listeners[i].Name == ls.spec.Name {
					ls.status = &st.Listeners[i]
				}
			}
		}
		accepted := len(gs.listeners) > 0
		msg := "Gateway is accepted"
		if !accepted {
			msg = "Gateway has no valid listener"
		}
		reason := string(gwv1.GatewayReasonAccepted)
		if len(gs.listeners) < len(g.Spec.Listeners) {
			// Accepted (or not) with some listeners refused.
			reason = string(gwv1.GatewayReasonListenersNotValid)
			if accepted {
				msg = "Gateway is accepted; some listeners are not valid: see their conditions"
			}
		}
		progMsg := map[bool]string{true: "Gateway is programmed", false: "Gateway has no valid listener"}[accepted]
		if gs.refused {
			accepted, reason, msg, progMsg = false, string(gwv1.GatewayReasonUnsupportedAddress), addrs.unsupported, "not programmed: "+addrs.unsupported
		}
		setCondition(&st.Conditions, string(gwv1.GatewayConditionAccepted), accepted, reason, msg, g.Generation)
		if gs.refused {
			for i := range st.Listeners {
				setCondition(&st.Listeners[i].Conditions, string(gwv1.ListenerConditionProgrammed), false, string(gwv1.ListenerReasonInvalid),
					"not served: the Gateway is not accepted ("+string(gwv1.GatewayReasonUnsupportedAddress)+")", g.Generation)
			}
		}
		t.resolveBackendClientCert(gs)
		progReason := string(gwv1.GatewayReasonProgrammed)
		if !accepted {
			progReason = string(gwv1.GatewayReasonInvalid)
		}
		programmed := accepted
		switch {
		case accepted && addrs.notUsable != "":
			programmed, progReason, progMsg = false, string(gwv1.GatewayReasonAddressNotUsable), addrs.notUsable
		case accepted && addrs.pending != "":
			programmed, progReason, progMsg = false, string(gwv1.GatewayReasonAddressNotAssigned), addrs.pending
		case accepted && t.opts.BindGatewayAddress && t.bindAddress(gs) == "":
			programmed, progReason = false, string(gwv1.GatewayReasonAddressNotAssigned)
			progMsg = "the Gateway has no IP address to bind its listeners to"
		}
		setCondition(&st.Conditions, string(gwv1.GatewayConditionProgrammed), programmed, progReason, progMsg, g.Generation)
		t.attachListenerSets(gs, accepted, claims)
		out = append(out, gs)
	}
	return out
}

// checkListener returns a reason and message when gatewarden cannot serve l.
func checkListener(l gwv1.Listener) (string, string) {
	switch l.Protocol {
	case gwv1.HTTPProtocolType:
	case gwv1.HTTPSProtocolType:
		if l.TLS != nil && l.TLS.Mode != nil && *l.TLS.Mode != gwv1.TLSModeTerminate {
			return string(gwv1.ListenerReasonUnsupportedValue), fmt.Sprintf("listener %q: tls.mode %q is not supported for HTTPS; supported: Terminate", l.Name, *l.TLS.Mode)
		}
	case gwv1.TLSProtocolType:
		if reason, msg := checkTLSListener(l); reason != "" {
			return reason, msg
		}
	case gwv1.TCPProtocolType, gwv1.UDPProtocolType:
	default:
		return string(gwv1.ListenerReasonUnsupportedProtocol), fmt.Sprintf("listener %q: protocol %q is not supported; supported: HTTP, HTTPS, TLS, TCP, UDP", l.Name, l.Protocol)
	}
	if l.Port < 1 || l.Port > 65535 {
		return string(gwv1.ListenerReasonPortUnavailable), fmt.Sprintf("listener %q: port %d is out of range", l.Name, l.Port)
	}
	return "", ""
}

// supportedKinds lists the route kinds of allowedRoutes.kinds that
// gatewarden serves on l (every kind its protocol takes when none is named).
func supportedKinds(l gwv1.Listener) []gwv1.RouteGroupKind {
	group := gwv1.Group(gwv1.GroupName)
	out := []gwv1.RouteGroupKind{}
	if l.AllowedRoutes == nil || len(l.AllowedRoutes.Kinds) == 0 {
		for _, k := range listenerKinds(l) {
			out = append(out, gwv1.RouteGroupKind{Group: &group, Kind: gwv1.Kind(k)})
		}
		return out
	}
	for _, k := range l.AllowedRoutes.Kinds {
		if kindServed(l, k) {
			out = append(out, gwv1.RouteGroupKind{Group: &group, Kind: k.Kind})
		}
	}
	return out
}

// unsupportedKinds names the kinds of allowedRoutes.kinds gatewarden does
// not serve on l, or is empty.
func unsupportedKinds(l gwv1.Listener) string {
	if l.AllowedRoutes == nil {
		return ""
	}
	var bad []string
	for _, k := range l.AllowedRoutes.Kinds {
		if !kindServed(l, k) {
			g := gwv1.GroupName
			if k.Group != nil {
				g = string(*k.Group)
			}
			bad = append(bad, g+"/"+string(k.Kind))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	var names []string
	for _, k := range listenerKinds(l) {
		names = append(names, gwv1.GroupName+"/"+k)
	}
	return fmt.Sprintf("listener %q: allowedRoutes.kinds %v are not supported; supported on a %s listener: %s", l.Name, bad, l.Protocol, strings.Join(names, ", "))
}

// allowsNamespace applies a listener's allowedRoutes.namespaces to a route
// in routeNS. The default, as in the Gateway API CRD, is Same. A Selector is
// matched against the labels of the route's Namespace object.
func (l *listenerState) allowsNamespace(routeNS string, namespaces map[string]*corev1.Namespace) bool {
	from := gwv1.NamespacesFromSame
	if l.spec.AllowedRoutes != nil && l.spec.AllowedRoutes.Namespaces != nil && l.spec.AllowedRoutes.Namespaces.From != nil {
		from = *l.spec.AllowedRoutes.Namespaces.From
	}
	switch from {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSame:
		return routeNS == l.namespace()
	case gwv1.NamespacesFromSelector:
		sel := l.spec.AllowedRoutes.Namespaces.Selector
		ns := namespaces[routeNS]
		if sel == nil || ns == nil {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return false
		}
		return s.Matches(labels.Set(ns.Labels))
	default:
		return false
	}
}

// intersectHostnames returns the hostnames a route serves on a listener.
// Gateway API: a listener without hostname accepts every route hostname; a
// route without hostnames takes the listener's; otherwise each pair that
// matches yields the more specific of the two.
func intersectHostnames(listener *gwv1.Hostname, routeHosts []gwv1.Hostname) []string {
	hosts := intersect(listener, routeHosts)
	seen := make(map[string]bool, len(hosts))
	out := hosts[:0]
	for _, h := range hosts {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

func intersect(listener *gwv1.Hostname, routeHosts []gwv1.Hostname) []string {
	// Host names compare case-insensitively (Envoy matches domains so);
	// two spellings of one name must make one virtual host.
	route := make([]gwv1.Hostname, len(routeHosts))
	for i, h := range routeHosts {
		route[i] = gwv1.Hostname(strings.ToLower(string(h)))
	}
	if listener != nil {
		l := gwv1.Hostname(strings.ToLower(string(*listener)))
		listener = &l
	}
	if listener == nil || *listener == "" {
		if len(route) == 0 {
			return []string{"*"}
		}
		out := make([]string, 0, len(route))
		for _, h := range route {
			out = append(out, string(h))
		}
		return out
	}
	l := string(*listener)
	if len(route) == 0 {
		return []string{l}
	}
	var out []string
	for _, rh := range route {
		r := string(rh)
		switch {
		case r == l:
			out = append(out, r)
		case wildcardMatches(l, r):
			out = append(out, r)
		case wildcardMatches(r, l):
			out = append(out, l)
		}
	}
	return out
}

// wildcardMatches reports whether the wildcard pattern "*.example.com"
// covers host (which may itself be a narrower wildcard).
func wildcardMatches(pattern, host string) bool {
	if !strings.HasPrefix(pattern, "*.") {
		return false
	}
	suffix := pattern[1:]
	return strings.HasSuffix(host, suffix) && len(host) > len(suffix) && host != pattern
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// listenerPtr returns the Gateway's own listener name (not a ListenerSet's).
func listenerPtr(gs *gatewayState, name gwv1.SectionName) *listenerState {
	for _, l := range gs.listeners {
		if l.set == nil && l.spec.Name == name {
			return l
		}
	}
	return nil
}

// bindAddress is where the listeners of gs bind: 0.0.0.0, or with
// BindGatewayAddress the Gateway's first IP address ("" when it has none:
// its listeners are then not served; nor are those of a Gateway refused for
// its addresses).
func (t *translation) bindAddress(gs *gatewayState) string {
	if gs.refused {
		return ""
	}
	if !t.opts.BindGatewayAddress {
		return "0.0.0.0"
	}
	for _, a := range gs.status.Addresses {
		if ip := net.ParseIP(a.Value); ip != nil {
			return ip.String()
		}
	}
	return ""
}
