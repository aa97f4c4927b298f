package translator

import "strings"

// Listener isolation (the Gateway API's GatewayHTTPListenerIsolation).
//
// The listeners of one port share one Envoy route configuration: Envoy picks
// a virtual host by the request's Host, and the routes of that virtual host
// alone. A route attached to a catch-all listener may still name hostnames
// that a more specific listener of the port claims ("api.test" on a port
// whose listener "api.test" requires a JWT). Were its routes merged into that
// listener's virtual host, a tenant allowed on the catch-all listener would
// serve, or take over, the paths of the stricter one.
//
// So a request is handled only by the routes of the most specific listener
// that matches its host on its port (exact hostname over wildcard, a longer
// wildcard over a shorter one, any hostname over none), and each virtual host
// holds the routes of exactly one listener, whose VirtualHostOption it takes:
//
//   - a route hostname is dropped from a listener when a more specific
//     listener of the port covers all of it (its hostname equals it, or is a
//     wildcard that matches it);
//   - a listener with a hostname always has a virtual host for it (empty, so
//     404, when none of its routes serves it), wherever a less specific
//     listener of the port could otherwise catch its hosts: Envoy's own
//     choice of virtual host (exact domain over the longest wildcard suffix
//     over "*") then follows the listeners' order of specificity.

// hostSpecificity ranks a listener hostname: none (0) < wildcard (1, then by
// length: "*.foo.example.com" is more specific than "*.example.com") <
// exact (2).
func hostSpecificity(h string) (rank, length int) {
	switch {
	case h == "" || h == "*":
		return 0, 0
	case strings.HasPrefix(h, "*."):
		return 1, len(h)
	default:
		return 2, len(h)
	}
}

// moreSpecific reports whether listener hostname a is more specific than b.
func moreSpecific(a, b string) bool {
	ra, la := hostSpecificity(a)
	rb, lb := hostSpecificity(b)
	return ra > rb || (ra == rb && la > lb)
}

// covers reports whether every host that the route hostname h (exact or
// wildcard) matches is also matched by the listener hostname l.
func covers(l, h string) bool {
	return l != "" && (l == h || wildcardMatches(l, h))
}

// listenerHost is a listener's hostname in lower case, "" when it has none.
func listenerHost(l *listenerState) string {
	if l.spec.Hostname == nil {
		return ""
	}
	return strings.ToLower(string(*l.spec.Hostname))
}

// shadowedBy returns the listener of the port, more specific than l, that
// claims every host of the route hostname h; nil when l serves h itself.
func shadowedBy(port []*listenerState, l *listenerState, h string) *listenerState {
	lh := listenerHost(l)
	var best *listenerState
	for _, m := range port {
		mh := listenerHost(m)
		if m == l || !moreSpecific(mh, lh) || !covers(mh, h) {
			continue
		}
		if best == nil || moreSpecific(mh, listenerHost(best)) {
			best = m
		}
	}
	return best
}

// claimsNeeded reports whether listener l's own hostname needs a virtual
// host of its own on its port: when a less specific listener of the port,
// without hostname or with a wildcard covering l's, has routes that could
// otherwise serve its hosts.
func claimsNeeded(port []*listenerState, l *listenerState) bool {
	lh := listenerHost(l)
	if lh == "" {
		return false
	}
	for _, m := range port {
		mh := listenerHost(m)
		if m != l && len(m.routes) > 0 && moreSpecific(lh, mh) && (mh == "" || covers(mh, lh)) {
			return true
		}
	}
	return false
}
