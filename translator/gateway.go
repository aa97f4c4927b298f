package translator

import (
	"fmt"
	"net"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// gatewayState is one Gateway of an accepted class, being translated.
type gatewayState struct {
	obj       *gwv1.Gateway
	status    *gwv1.GatewayStatus
	listeners []*listenerState // accepted listeners, in spec order
}

// listenerState is one accepted listener of a Gateway.
type listenerState struct {
	gw      *gatewayState
	spec    gwv1.Listener
	status  *gwv1.ListenerStatus
	routes  []*attachment
	vhostOp *vhostPolicy // the merged VirtualHostOptions of this listener
}

func (t *translation) acceptClasses() {
	for _, c := range t.in.GatewayClasses {
		if string(c.Spec.ControllerName) != t.opts.ControllerName {
			continue
		}
		st := &gwv1.GatewayClassStatus{}
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
		st := &gwv1.GatewayStatus{Addresses: t.gatewayAddresses()}
		t.status.Gateways[nn(g.Namespace, g.Name)] = st
		gs := &gatewayState{obj: g, status: st}
		for _, l := range g.Spec.Listeners {
			ls := gwv1.ListenerStatus{Name: l.Name, SupportedKinds: []gwv1.RouteGroupKind{}}
			reason, msg := checkListener(l)
			if reason == "" {
				group := gwv1.Group(gwv1.GroupName)
				ls.SupportedKinds = []gwv1.RouteGroupKind{{Group: &group, Kind: "HTTPRoute"}}
			}
			st.Listeners = append(st.Listeners, ls)
			lp := &st.Listeners[len(st.Listeners)-1]
			if reason != "" {
				setCondition(&lp.Conditions, string(gwv1.ListenerConditionAccepted), false, reason, msg, g.Generation)
				setCondition(&lp.Conditions, string(gwv1.ListenerConditionProgrammed), false, string(gwv1.ListenerReasonInvalid), msg, g.Generation)
				continue
			}
			setCondition(&lp.Conditions, string(gwv1.ListenerConditionAccepted), true, string(gwv1.ListenerReasonAccepted), "Listener is accepted", g.Generation)
			setCondition(&lp.Conditions, string(gwv1.ListenerConditionResolvedRefs), true, string(gwv1.ListenerReasonResolvedRefs), "References are resolved", g.Generation)
			setCondition(&lp.Conditions, string(gwv1.ListenerConditionProgrammed), true, string(gwv1.ListenerReasonProgrammed), "Listener is programmed", g.Generation)
			gs.listeners = append(gs.listeners, &listenerState{gw: gs, spec: l})
		}
		// Listener status pointers are taken once the slice stops growing.
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
		if !accepted {
			reason = string(gwv1.GatewayReasonListenersNotValid)
		}
		setCondition(&st.Conditions, string(gwv1.GatewayConditionAccepted), accepted, reason, msg, g.Generation)
		progReason := string(gwv1.GatewayReasonProgrammed)
		if !accepted {
			progReason = string(gwv1.GatewayReasonInvalid)
		}
		setCondition(&st.Conditions, string(gwv1.GatewayConditionProgrammed), accepted, progReason,
			map[bool]string{true: "Gateway is programmed", false: "Gateway has no valid listener"}[accepted], g.Generation)
		out = append(out, gs)
	}
	return out
}

// checkListener returns a reason and message when gatewarden cannot serve l.
func checkListener(l gwv1.Listener) (string, string) {
	if l.Protocol != gwv1.HTTPProtocolType {
		return string(gwv1.ListenerReasonUnsupportedProtocol), fmt.Sprintf("listener %q: protocol %q is not supported; supported: HTTP", l.Name, l.Protocol)
	}
	if l.Port < 1 || l.Port > 65535 {
		return string(gwv1.ListenerReasonPortUnavailable), fmt.Sprintf("listener %q: port %d is out of range", l.Name, l.Port)
	}
	return "", ""
}

// allowsNamespace applies a listener's allowedRoutes.namespaces to a route
// in routeNS. The default, as in the Gateway API CRD, is Same.
func (l *listenerState) allowsNamespace(routeNS string) bool {
	from := gwv1.NamespacesFromSame
	if l.spec.AllowedRoutes != nil && l.spec.AllowedRoutes.Namespaces != nil && l.spec.AllowedRoutes.Namespaces.From != nil {
		from = *l.spec.AllowedRoutes.Namespaces.From
	}
	switch from {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSame:
		return routeNS == l.gw.obj.Namespace
	default:
		// Selector needs Namespace objects, which gatewarden does not read yet:
		// refusing is the safe answer.
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

func listenerPtr(gs *gatewayState, name gwv1.SectionName) *listenerState {
	for _, l := range gs.listeners {
		if l.spec.Name == name {
			return l
		}
	}
	return nil
}

func (t *translation) gatewayAddresses() []gwv1.GatewayStatusAddress {
	var out []gwv1.GatewayStatusAddress
	for _, a := range t.opts.GatewayAddresses {
		typ := gwv1.HostnameAddressType
		if net.ParseIP(a) != nil {
			typ = gwv1.IPAddressType
		}
		out = append(out, gwv1.GatewayStatusAddress{Type: ptr(typ), Value: a})
	}
	return out
}
