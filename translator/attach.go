package translator

import (
	"fmt"
	"slices"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// routeState is one HTTPRoute or GRPCRoute attached to at least one of our
// Gateways. A GRPCRoute is held as the HTTPRoute it is equivalent to
// (grpcroute.go), so that its rules, filters and policies are translated by
// the same code; its kind is obj's TypeMeta kind (see routeKind).
type routeState struct {
	obj    *gwv1.HTTPRoute
	status *gwv1.RouteStatus
	rules  []*ruleState
	// option is the RouteOption that targets the route through targetRefs.
	option *routePolicy
	// parents are the Gateways the route is attached to, for option status.
	parents []gwv1.ParentReference
}

// ruleState is one rule of an HTTPRoute, its backends resolved.
type ruleState struct {
	backends []backend
	// invalid, when set, is why the rule cannot be served as written: its
	// routes answer with a fixed error instead.
	invalid string
	reason  string
	// option is the RouteOption named by the rule's ExtensionRef filter.
	option *routePolicy
	// extensionRef is set when the rule names a RouteOption by ExtensionRef.
	extensionRef bool
	// filters are the rule's standard HTTPRoute filters.
	filters ruleFilters
	// backendFilters are the filters of each of backends (nil: none).
	backendFilters []*backendFilters
}

// attachment is a route attached to one listener, with the hostnames it
// serves there.
type attachment struct {
	route     *routeState
	hostnames []string
}

func (t *translation) attachRoutes(gateways []*gatewayState) []*routeState {
	byName := map[string]*gatewayState{}
	for _, g := range gateways {
		byName[g.obj.Namespace+"/"+g.obj.Name] = g
	}
	sets := listenerSetByKey(gateways)
	var out []*routeState
	for _, r := range t.routesToAttach() {
		var rs *routeState
		for _, ref := range r.Spec.ParentRefs {
			if ref.Group != nil && *ref.Group != gwv1.GroupName {
				continue
			}
			ns := r.Namespace
			if ref.Namespace != nil {
				ns = string(*ref.Namespace)
			}
			var gs *gatewayState
			var set *listenerSetState
			switch ptrOr(ref.Kind, "Gateway") {
			case "Gateway":
				gs = byName[ns+"/"+string(ref.Name)]
			case kindListenerSet:
				if set = sets[nn(ns, string(ref.Name))]; set != nil {
					gs = set.gw
				}
			}
			if gs == nil {
				continue // not a Gateway of ours: its controller writes the status
			}
			if rs == nil {
				rs = &routeState{obj: r, status: t.newRouteStatus(r)}
				t.resolveRules(rs)
			}
			t.attachToParent(rs, gs, set, ref)
		}
		if rs != nil {
			out = append(out, rs)
		}
	}
	return out
}

// attachToParent attaches rs to the listeners of gs that ref selects: the
// Gateway's own when set is nil, else those of the ListenerSet set.
func (t *translation) attachToParent(rs *routeState, gs *gatewayState, set *listenerSetState, ref gwv1.ParentReference) {
	r := rs.obj
	ps := gwv1.RouteParentStatus{ParentRef: ref, ControllerName: gwv1.GatewayController(t.opts.ControllerName)}
	attached, reason, msg := 0, string(gwv1.RouteReasonNoMatchingParent), "no listener matches the parentRef"
	if set != nil && set.refused != "" {
		msg = fmt.Sprintf("ListenerSet %s/%s is not attached to its Gateway: %s", set.obj.Namespace, set.obj.Name, set.refused)
	}
	for _, l := range gs.listeners {
		if l.set != set {
			continue
		}
		if ref.SectionName != nil && *ref.SectionName != l.spec.Name {
			continue
		}
		if ref.Port != nil && *ref.Port != l.spec.Port {
			continue
		}
		if !l.allowsKind(routeKind(r)) {
			reason, msg = string(gwv1.RouteReasonNotAllowedByListeners), fmt.Sprintf("listener %q does not allow %ss", l.spec.Name, routeKind(r))
			continue
		}
		if !l.allowsNamespace(r.Namespace, t.index.namespaces) {
			reason, msg = string(gwv1.RouteReasonNotAllowedByListeners), fmt.Sprintf("listener %q does not allow routes from namespace %q", l.spec.Name, r.Namespace)
			continue
		}
		hosts := intersectHostnames(l.spec.Hostname, r.Spec.Hostnames)
		if len(hosts) == 0 {
			reason, msg = string(gwv1.RouteReasonNoMatchingListenerHostname), fmt.Sprintf("no hostname of the route matches listener %q", l.spec.Name)
			continue
		}
		l.routes = append(l.routes, &attachment{route: rs, hostnames: hosts})
		l.status.AttachedRoutes++
		attached++
	}
	if attached > 0 {
		reason, msg = string(gwv1.RouteReasonAccepted), "Route is accepted"
		// A route attached through the Gateway and a ListenerSet of it
		// has the Gateway once.
		gwRef := ancestorGateway(gs.obj.Namespace, gs.obj.Name)
		if !slices.ContainsFunc(rs.parents, func(p gwv1.ParentReference) bool { return refString(p) == refString(gwRef) }) {
			rs.parents = append(rs.parents, gwRef)
		}
	}
	setCondition(&ps.Conditions, string(gwv1.RouteConditionAccepted), attached > 0, reason, msg, r.Generation)
	refsOK, refsReason, refsMsg := true, string(gwv1.RouteReasonResolvedRefs), "References are resolved"
	for _, rule := range rs.rules {
		if rule.invalid != "" {
			refsOK, refsReason, refsMsg = false, rule.reason, rule.invalid
			break
		}
	}
	setCondition(&ps.Conditions, string(gwv1.RouteConditionResolvedRefs), refsOK, refsReason, refsMsg, r.Generation)
	rs.status.Parents = append(rs.status.Parents, ps)
}

// resolveRules resolves the backends and filters of every rule once, whatever
// the number of listeners the route attaches to.
func (t *translation) resolveRules(rs *routeState) {
	for i, rule := range rs.obj.Spec.Rules {
		st := &ruleState{}
		for k, f := range rule.Filters {
			if f.Type != gwv1.HTTPRouteFilterExtensionRef || f.ExtensionRef == nil {
				if msg := st.filters.add(i, k, f); msg != "" {
					st.setInvalid(msg, reasonUnsupportedValue)
				}
				continue
			}
			ref := f.ExtensionRef
			if string(ref.Group) != optv1.GroupName || string(ref.Kind) != optv1.KindRouteOption {
				st.setInvalid(fmt.Sprintf("spec.rules[%d].filters: extensionRef %s/%s is not supported; supported: %s/%s", i, ref.Group, ref.Kind, optv1.GroupName, optv1.KindRouteOption), string(gwv1.RouteReasonInvalidKind))
				continue
			}
			st.extensionRef = true
			st.option = t.routeOption(rs.obj.Namespace, string(ref.Name))
			if st.option == nil {
				st.setInvalid(fmt.Sprintf("spec.rules[%d].filters: RouteOption %s/%s named by extensionRef does not exist", i, rs.obj.Namespace, ref.Name), string(gwv1.RouteReasonBackendNotFound))
			}
		}
		if st.filters.redirect != nil {
			if msg := checkPathModifier(fmt.Sprintf("spec.rules[%d].filters.requestRedirect", i), st.filters.redirect.Path, rule.Matches); msg != "" {
				st.setInvalid(msg, reasonUnsupportedValue)
			}
		}
		if st.filters.rewrite != nil {
			if msg := checkPathModifier(fmt.Sprintf("spec.rules[%d].filters.urlRewrite", i), st.filters.rewrite.Path, rule.Matches); msg != "" {
				st.setInvalid(msg, reasonUnsupportedValue)
			}
		}
		if msg := st.filters.setTimeouts(i, rule.Timeouts); msg != "" {
			st.setInvalid(msg, reasonUnsupportedValue)
		}
		if msg := st.filters.setRetry(i, rule.Retry); msg != "" {
			st.setInvalid(msg, reasonUnsupportedValue)
		}
		t.resolveMirrors(rs.obj, st)
		for j, m := range rule.Matches {
			if msg := checkMatch(m); msg != "" {
				st.setInvalid(fmt.Sprintf("spec.rules[%d].matches[%d].%s", i, j, msg), reasonUnsupportedValue)
			}
		}
		for j, ref := range rule.BackendRefs {
			b, err := t.resolveBackend(rs.obj, ref.BackendRef)
			if err != nil {
				st.setInvalid(fmt.Sprintf("spec.rules[%d].backendRefs[%d]: %s", i, j, err.msg), err.reason)
				continue
			}
			bf, msg := checkBackendFilters(i, j, ref.Filters)
			if msg != "" {
				st.setInvalid(msg, reasonUnsupportedValue)
				continue
			}
			if b.weight > 0 {
				st.backends = append(st.backends, b)
				st.backendFilters = append(st.backendFilters, bf)
			}
		}
		rs.rules = append(rs.rules, st)
	}
}

const reasonUnsupportedValue = "UnsupportedValue"

func (r *ruleState) setInvalid(msg, reason string) {
	if r.invalid == "" {
		r.invalid = msg
		r.reason = reason
	}
}

func ptr[T any](v T) *T { return &v }

// checkMatch finds what Envoy would reject in a match: a regular
// expression RE2 cannot compile (or that is too large), a header name that
// is not an HTTP token. Without it one bad route would make Envoy reject
// the whole route configuration of its listener.
func checkMatch(m gwv1.HTTPRouteMatch) string {
	if m.Path != nil && m.Path.Type != nil && *m.Path.Type == gwv1.PathMatchRegularExpression && m.Path.Value != nil {
		if err := checkRegex(*m.Path.Value); err != nil {
			return fmt.Sprintf("path.value: %q is not a valid RE2 regular expression: %v", *m.Path.Value, err)
		}
	}
	for k, h := range m.Headers {
		if !isToken(string(h.Name)) {
			return fmt.Sprintf("headers[%d].name: %q is not a valid HTTP header name", k, h.Name)
		}
		if h.Type != nil && *h.Type == gwv1.HeaderMatchRegularExpression {
			if err := checkRegex(h.Value); err != nil {
				return fmt.Sprintf("headers[%d].value: %q is not a valid RE2 regular expression: %v", k, h.Value, err)
			}
		}
	}
	for k, q := range m.QueryParams {
		if q.Name == "" {
			return fmt.Sprintf("queryParams[%d].name: a name is required", k)
		}
		if q.Type != nil && *q.Type == gwv1.QueryParamMatchRegularExpression {
			if err := checkRegex(q.Value); err != nil {
				return fmt.Sprintf("queryParams[%d].value: %q is not a valid RE2 regular expression: %v", k, q.Value, err)
			}
		}
	}
	return ""
}

// isToken reports an RFC 9110 token: the characters of a header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c > 127 || c <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", c) {
			return false
		}
	}
	return true
}
