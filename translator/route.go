package translator

import (
	"cmp"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// Bodies of the fixed answers a route gives when it cannot be served as
// written. They say what kind of problem it is, not which object, since the
// client may be anyone; the object's status says the rest.
const (
	bodyPolicyInvalid = "The policy of this route is invalid: see the status of its VirtualHostOption and RouteOption.\n"
	bodyRouteInvalid  = "This route cannot be served: see the status of its HTTPRoute.\n"
	// bodyBackendTLSInvalid: a backend's BackendTLSPolicy cannot be used,
	// and the backend is not reached in plain text instead.
	bodyBackendTLSInvalid = "The TLS policy of this route's backend is invalid: see the status of its BackendTLSPolicy.\n"
)

// vhostBuild is one virtual host (one hostname) of a port.
type vhostBuild struct {
	hostname string
	// listener is the one listener whose routes and policy it holds.
	listener *listenerState
	policy   *vhostPolicy
	entries  []routeEntry
	built    []*routev3.Route
	typed    map[string]*anypb.Any
}

// routeEntry is one match of one rule of one HTTPRoute.
type routeEntry struct {
	route *routeState
	rule  int
	match int
	m     gwv1.HTTPRouteMatch
}

func (t *translation) buildGateway(gs *gatewayState) *xdsconfig.GatewayConfig {
	out := &xdsconfig.GatewayConfig{Namespace: gs.obj.Namespace, Name: gs.obj.Name}
	t.prebuildRBAC(gs)
	ports := map[int32]*portBuild{}
	bind := t.bindAddress(gs)
	accessLog := t.accessLogFor(gs)
	for _, l := range gs.listeners {
		if l.unprogrammed || bind == "" || isPassthrough(l) {
			continue
		}
		p := ports[int32(l.spec.Port)]
		if p == nil {
			p = &portBuild{port: int32(l.spec.Port), bind: bind, vhosts: map[string]*vhostBuild{},
				tls: l.spec.Protocol == gwv1.HTTPSProtocolType, gateway: gs.obj.Namespace + "/" + gs.obj.Name, accessLog: accessLog}
			ports[int32(l.spec.Port)] = p
		}
		if p.tls {
			p.addChain(l)
		}
		p.listeners = append(p.listeners, l)
	}
	// A listener that is not served (its certificates do not resolve) still
	// claims its hostname on a port that is: the routes of a less specific
	// listener must not take over its hosts while it is broken.
	for _, l := range gs.listeners {
		if p := ports[int32(l.spec.Port)]; p != nil && l.unprogrammed {
			p.listeners = append(p.listeners, l)
		}
	}
	for _, p := range ports {
		p.addVhosts()
	}
	secrets := map[string]certificate{}
	for _, p := range ports {
		for _, c := range p.chains {
			for _, cert := range c.certs {
				secrets[cert.name] = cert
			}
		}
	}
	if gs.backendCert != nil {
		secrets[gs.backendCert.name] = *gs.backendCert
	}
	backends := make(map[string]backend, len(t.in.Services))
	for _, port := range sortedPorts(ports) {
		p := ports[port]
		for _, h := range sortedKeys(p.vhosts) {
			t.buildVhost(gs, p, p.vhosts[h], backends)
		}
		p.scoped = useScopedRoutes(p, t.opts.ScopedRoutesMinHosts)
		out.Listeners = append(out.Listeners, buildListener(p))
		if p.scoped {
			rcs, scopes := buildScopedRoutes(p)
			out.Routes = append(out.Routes, rcs...)
			out.ScopedRoutes = append(out.ScopedRoutes, scopes...)
		} else {
			out.Routes = append(out.Routes, buildRouteConfig(p))
		}
	}
	// Listener names sort http-, tcp-, tls-, udp-.
	out.Listeners = append(out.Listeners, t.buildTCP(gs, bind, backends)...)
	out.Listeners = append(out.Listeners, t.buildPassthrough(gs, bind, backends, secrets)...)
	out.Listeners = append(out.Listeners, t.buildUDP(gs, bind, backends)...)
	for _, name := range sortedKeys(secrets) {
		out.Secrets = append(out.Secrets, buildSecret(secrets[name]))
	}
	for _, name := range sortedKeys(backends) {
		t.useBackendTLS(gs, backends[name])
		c := buildCluster(withClientCert(gs, backends[name]))
		cla, dns := t.buildEndpoints(backends[name])
		if dns {
			dnsCluster(c, cla)
		} else {
			out.Endpoints = append(out.Endpoints, cla)
		}
		out.Clusters = append(out.Clusters, c)
	}
	return out
}

// addVhosts gives each hostname of the port its virtual host, holding the
// routes of the one listener that serves it (see isolation.go).
func (p *portBuild) addVhosts() {
	vhost := func(h string, l *listenerState) *vhostBuild {
		vh := p.vhosts[h]
		if vh == nil {
			vh = &vhostBuild{hostname: h, listener: l, policy: l.vhostOp}
			p.vhosts[h] = vh
		}
		return vh
	}
	for _, l := range p.listeners {
		if claimsNeeded(p.listeners, l) {
			vhost(listenerHost(l), l)
		}
		if l.unprogrammed {
			continue // it serves no route
		}
		for _, a := range l.routes {
			for _, h := range a.hostnames {
				if shadowedBy(p.listeners, l, h) != nil {
					continue
				}
				vh := vhost(h, l)
				if vh.listener != l {
					// Two listeners of one port with one hostname: the
					// second is Conflicted and not served (gateways()).
					continue
				}
				for i, rule := range a.route.obj.Spec.Rules {
					matches := rule.Matches
					if len(matches) == 0 {
						matches = []gwv1.HTTPRouteMatch{{}}
					}
					for j, m := range matches {
						if checkMatch(m) != "" {
							continue // Envoy would reject it; the rule's status says why
						}
						vh.entries = append(vh.entries, routeEntry{route: a.route, rule: i, match: j, m: m})
					}
				}
			}
		}
	}
}

func (t *translation) buildVhost(gs *gatewayState, p *portBuild, vh *vhostBuild, backends map[string]backend) {
	slices.SortStableFunc(vh.entries, comparePrecedence)
	pol := vh.policy
	gwRef := ancestorGateway(gs.obj.Namespace, gs.obj.Name)
	vh.typed = map[string]*anypb.Any{}
	vhostInvalid := pol != nil && pol.invalid != nil
	var vhJwt *jwtConfig
	var vhRBAC *optv1.RBACExtension
	var vhRBACFrom *optv1.VirtualHostOption
	if pol != nil && !vhostInvalid {
		vhJwt = pol.jwt
		if !vhJwt.empty() {
			vh.typed[jwtAuthnFilter] = t.jwtPerRouteAny(vhJwt)
			p.useJwt(vhJwt, backends)
		}
		if pol.rbac != nil && !pol.rbac.Disable {
			vhRBAC, vhRBACFrom = pol.rbac, pol.rbacFrom
			cfg, msg := buildRBACSel(t.withRules(vhostRBACSel(pol.rbac, pol.rbacFrom)), vhJwt.providers())
			if msg != "" {
				vhostInvalid = true
				t.optionCondition(optv1.KindVirtualHostOption, pol.rbacFrom, gwRef, false, string(gwv1.PolicyReasonInvalid), msg+"; the routes of the targeted listeners answer 500 until it is fixed")
			} else {
				vh.typed[rbacFilter] = mustAny(cfg)
				p.usesRBAC = true
			}
		}
	}
	if vhostInvalid {
		vh.typed = nil
	}
	vh.typed = t.sharedTyped(vh.typed)
	for _, e := range vh.entries {
		r := &routev3.Route{
			Name:  routeName(e),
			Match: buildMatch(e.m),
		}
		rule := e.route.rules[e.rule]
		opt := e.route.option
		if rule.extensionRef {
			opt = rule.option
		}
		switch {
		case vhostInvalid:
			r.Action = directResponse(500, bodyPolicyInvalid)
		case rule.invalid != "" && rule.extensionRef && rule.option == nil:
			r.Action = directResponse(500, bodyPolicyInvalid)
		case opt != nil && opt.invalid != nil:
			r.Action = directResponse(500, bodyPolicyInvalid)
		case rule.invalid != "" || (len(rule.backends) == 0 && rule.filters.redirect == nil):
			r.Action = directResponse(500, routeInvalidBody(e.route.obj))
		case lockedFieldsMessage(vh.listener, pol, opt) != "":
			msg := lockedFieldsMessage(vh.listener, pol, opt)
			for _, gw := range e.route.parents {
				t.optionCondition(optv1.KindRouteOption, opt.obj, gw, false, string(gwv1.PolicyReasonInvalid), msg)
			}
			r.Action = directResponse(500, bodyPolicyInvalid)
		case t.backendTLSBody(gs, rule) != "":
			r.Action = directResponse(500, t.backendTLSBody(gs, rule))
		default:
			typed, msg := t.routePolicyConfig(p, opt, vhJwt, vhRBAC, vhRBACFrom, backends)
			if msg != "" {
				for _, gw := range e.route.parents {
					t.optionCondition(optv1.KindRouteOption, opt.obj, gw, false, string(gwv1.PolicyReasonInvalid), msg+"; the targeted routes answer 500 until it is fixed")
				}
				r.Action = directResponse(500, bodyPolicyInvalid)
				break
			}
			r.TypedPerFilterConfig = t.withCORS(typed, &rule.filters)
			rule.filters.applyHeaders(r)
			if rule.filters.redirect != nil {
				r.Action = rule.filters.redirectAction(e.m, p.port)
				break
			}
			ra := routeAction(rule.backends)
			rule.filters.applyRewrite(ra.Route, e.m)
			rule.filters.applyTimeouts(ra.Route)
			applyGRPCTimeout(e.route.obj, ra.Route)
			rule.filters.applyRetry(ra.Route)
			rule.filters.applyMirrors(ra.Route, backends)
			applyBackendFilters(ra.Route, rule.backends, rule.backendFilters)
			for _, b := range rule.backends {
				if b.appProtocol == appProtocolWebSocket {
					ra.Route.UpgradeConfigs = []*routev3.RouteAction_UpgradeConfig{{UpgradeType: "websocket", Enabled: wrapperspb.Bool(true)}}
				}
			}
			r.Action = ra
			for _, b := range rule.backends {
				backends[b.clusterName()] = b
			}
		}
		vh.built = append(vh.built, r)
	}
}

// routePolicyConfig is the per-route filter config a RouteOption adds to a
// route of a virtual host with JWT vhJwt and RBAC vhRBAC. A route whose JWT
// providers differ from the virtual host's gets the virtual host's RBAC
// rebuilt against its own providers.
func (t *translation) routePolicyConfig(p *portBuild, opt *routePolicy, vhJwt *jwtConfig, vhRBAC *optv1.RBACExtension, vhRBACFrom *optv1.VirtualHostOption, backends map[string]backend) (map[string]*anypb.Any, string) {
	if opt == nil {
		return nil, ""
	}
	typed := map[string]*anypb.Any{}
	routeJwt := vhJwt
	if opt.setsJwt() {
		routeJwt = opt.applyJwt(vhJwt)
		if !routeJwt.empty() || !vhJwt.empty() {
			typed[jwtAuthnFilter] = t.jwtPerRouteAny(routeJwt)
		}
		if !routeJwt.empty() {
			p.useJwt(routeJwt, backends)
		}
	}
	cfg, msg := t.routeRBAC(p, opt, vhRBAC, vhRBACFrom, routeJwt)
	if msg != "" {
		return nil, msg
	}
	if cfg != nil {
		typed[rbacFilter] = cfg
	}
	return t.sharedTyped(typed), ""
}

func (vh *vhostBuild) proto() *routev3.VirtualHost {
	return &routev3.VirtualHost{
		Name:                 vh.hostname,
		Domains:              domains(vh.hostname),
		Routes:               vh.built,
		TypedPerFilterConfig: vh.typed,
	}
}

func directResponse(status uint32, body string) *routev3.Route_DirectResponse {
	return &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
		Status: status,
		Body:   &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: body}},
	}}
}

func routeAction(backends []backend) *routev3.Route_Route {
	ra := &routev3.RouteAction{}
	if len(backends) == 1 {
		ra.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: backends[0].clusterName()}
	} else {
		wc := &routev3.WeightedCluster{}
		for _, b := range backends {
			wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: b.clusterName(), Weight: wrapperspb.UInt32(b.weight)})
		}
		ra.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	return &routev3.Route_Route{Route: ra}
}

func buildMatch(m gwv1.HTTPRouteMatch) *routev3.RouteMatch {
	rm := &routev3.RouteMatch{}
	typ, value := pathOf(m)
	switch typ {
	case gwv1.PathMatchExact:
		rm.PathSpecifier = &routev3.RouteMatch_Path{Path: value}
	case gwv1.PathMatchRegularExpression:
		rm.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: value}}
	default:
		trimmed := strings.TrimRight(value, "/")
		if trimmed == "" {
			rm.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
		} else {
			rm.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: trimmed}
		}
	}
	for _, h := range m.Headers {
		hm := &routev3.HeaderMatcher{Name: string(h.Name)}
		if h.Type != nil && *h.Type == gwv1.HeaderMatchRegularExpression {
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: h.Value}}}}
		} else {
			hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: h.Value}}}
		}
		rm.Headers = append(rm.Headers, hm)
	}
	if m.Method != nil {
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
			StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: string(*m.Method)}}}})
	}
	for _, q := range m.QueryParams {
		sm := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: q.Value}}
		if q.Type != nil && *q.Type == gwv1.QueryParamMatchRegularExpression {
			sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: q.Value}}}
		}
		rm.QueryParameters = append(rm.QueryParameters, &routev3.QueryParameterMatcher{
			Name: string(q.Name), QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm}})
	}
	return rm
}

// pathOf applies the Gateway API default: PathPrefix "/".
func pathOf(m gwv1.HTTPRouteMatch) (gwv1.PathMatchType, string) {
	typ, value := gwv1.PathMatchPathPrefix, "/"
	if m.Path != nil {
		if m.Path.Type != nil {
			typ = *m.Path.Type
		}
		if m.Path.Value != nil {
			value = *m.Path.Value
		}
	}
	return typ, value
}

// comparePrecedence orders matches as the Gateway API requires: exact path,
// then longer prefix, then method, then more headers, then more query
// parameters, then the older route, then namespace/name, then rule order.
func comparePrecedence(a, b routeEntry) int {
	ta, va := pathOf(a.m)
	tb, vb := pathOf(b.m)
	rank := func(t gwv1.PathMatchType) int {
		switch t {
		case gwv1.PathMatchExact:
			return 0
		case gwv1.PathMatchRegularExpression:
			return 1
		default:
			return 2
		}
	}
	if c := cmp.Compare(rank(ta), rank(tb)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(vb), len(va)); c != 0 {
		return c
	}
	if c := cmp.Compare(boolRank(b.m.Method != nil), boolRank(a.m.Method != nil)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.m.Headers), len(a.m.Headers)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.m.QueryParams), len(a.m.QueryParams)); c != 0 {
		return c
	}
	if c := olderFirst(a.route.obj, b.route.obj); c != 0 && a.route != b.route {
		return c
	}
	if c := cmp.Compare(a.route.obj.Namespace+"/"+a.route.obj.Name, b.route.obj.Namespace+"/"+b.route.obj.Name); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.rule, b.rule), cmp.Compare(a.match, b.match))
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
