package translator

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
	"github.com/gatewarden/gatewarden/pkg/resource"
)

// vhostPolicy is what the VirtualHostOptions of one listener add up to.
type vhostPolicy struct {
	jwt      *jwtConfig
	jwtFrom  *optv1.VirtualHostOption
	rbac     *optv1.RBACExtension
	rbacFrom *optv1.VirtualHostOption
	// invalid is set when an option that won a field cannot be translated:
	// the routes of the virtual host then fail closed.
	invalid     error
	invalidFrom *optv1.VirtualHostOption
	// jwtLocked and rbacLocked, on a ListenerSet's listener, mark the
	// fields its policy inherits (listenerset_policy.go): neither the
	// ListenerSet's options nor a RouteOption may change them.
	jwtLocked, rbacLocked bool
}

// routePolicy is one checked RouteOption.
type routePolicy struct {
	obj     *optv1.RouteOption
	invalid error
	// disableBefore and disableAfter turn a stage of the virtual host's JWT
	// off; before and after replace it.
	disableBefore, disableAfter bool
	before, after               *jwtStage
}

// setsJwt reports whether the option changes JWT verification at all.
func (p *routePolicy) setsJwt() bool {
	return p.disableBefore || p.disableAfter || p.before != nil || p.after != nil
}

// applyJwt is the JWT configuration of a route whose virtual host has vh.
func (p *routePolicy) applyJwt(vh *jwtConfig) *jwtConfig {
	out := &jwtConfig{}
	if vh != nil {
		*out = *vh
	}
	if p.disableBefore {
		out.before = nil
	}
	if p.disableAfter {
		out.after = nil
	}
	if p.before != nil {
		out.before = p.before
	}
	if p.after != nil {
		out.after = p.after
	}
	return out
}

// checkedVHO is one VirtualHostOption with its JWT config built once.
type checkedVHO struct {
	obj     *optv1.VirtualHostOption
	jwt     *jwtConfig
	invalid error
}

// olderFirst orders options the way conflicts are settled: the older wins,
// then the name that sorts first.
func olderFirst(a, b metav1.Object) int {
	ta, tb := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !ta.Equal(&tb) {
		if ta.Before(&tb) {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.GetName(), b.GetName())
}

func (t *translation) routeOption(namespace, name string) *routePolicy {
	return t.routeOpts[nn(namespace, name)]
}

// attachOptions checks every option once and attaches it to the listeners
// and routes it targets.
func (t *translation) attachOptions(gateways []*gatewayState, routes []*routeState) {
	t.attachVirtualHostOptions(gateways)
	t.attachRouteOptions(routes)
}

func (t *translation) attachVirtualHostOptions(gateways []*gatewayState) {
	byGateway := map[types.NamespacedName][]vhoTarget{}
	bySet := map[types.NamespacedName][]vhoTarget{}
	vhos := slices.Clone(t.in.VirtualHostOptions)
	slices.SortStableFunc(vhos, func(a, b *optv1.VirtualHostOption) int { return olderFirst(a, b) })
	for _, o := range vhos {
		c := &checkedVHO{obj: o}
		c.jwt, c.invalid = t.vhoJwt(o)
		if c.invalid == nil && o.Spec.Options.Rbac != nil {
			c.invalid = t.checkRBAC(o.Spec.Options.Rbac)
		}
		for i, ref := range o.Spec.TargetRefs {
			gwRef := ancestorGateway(o.Namespace, string(ref.Name))
			isSet := ref.Group == gwv1.GroupName && ref.Kind == kindListenerSet
			if isSet {
				gwRef = ancestorListenerSet(o.Namespace, string(ref.Name))
			}
			if ref.Group != gwv1.GroupName || (ref.Kind != "Gateway" && !isSet) {
				t.optionCondition(optv1.KindVirtualHostOption, o, gwRef, false, string(gwv1.PolicyReasonInvalid),
					fmt.Sprintf("spec.targetRefs[%d]: kind %s/%s is not supported; a VirtualHostOption targets %s/Gateway or %s/ListenerSet", i, ref.Group, ref.Kind, gwv1.GroupName, gwv1.GroupName))
				continue
			}
			if ref.Namespace != nil && *ref.Namespace != o.Namespace {
				t.optionCondition(optv1.KindVirtualHostOption, o, gwRef, false, string(gwv1.PolicyReasonInvalid),
					fmt.Sprintf("spec.targetRefs[%d].namespace: %q differs from the option's namespace %q; an option only targets objects of its own namespace", i, *ref.Namespace, o.Namespace))
				continue
			}
			key := nn(o.Namespace, ref.Name)
			if isSet {
				if !t.listenerSetExists(key) {
					t.optionCondition(optv1.KindVirtualHostOption, o, gwRef, false, string(gwv1.PolicyReasonTargetNotFound),
						fmt.Sprintf("spec.targetRefs[%d]: ListenerSet %s not found", i, key))
					continue
				}
				bySet[key] = append(bySet[key], vhoTarget{vho: c, section: string(ptrOr(ref.SectionName, ""))})
				continue
			}
			if gw := t.index.gatewayByName[key]; gw == nil {
				t.optionCondition(optv1.KindVirtualHostOption, o, gwRef, false, string(gwv1.PolicyReasonTargetNotFound),
					fmt.Sprintf("spec.targetRefs[%d]: Gateway %s not found", i, key))
				continue
			}
			section := ""
			if ref.SectionName != nil {
				section = *ref.SectionName
			}
			byGateway[key] = append(byGateway[key], vhoTarget{vho: c, section: section})
		}
	}
	for _, gs := range gateways {
		targets := byGateway[nn(gs.obj.Namespace, gs.obj.Name)]
		gwRef := ancestorGateway(gs.obj.Namespace, gs.obj.Name)
		out := newVHOOutcome()
		for _, l := range gs.listeners {
			if l.set != nil {
				continue // listenerSetPolicies
			}
			p := &vhostPolicy{}
			p.merge(candidates(targets, string(l.spec.Name)), out.won, out.lose)
			l.vhostOp = p
		}
		t.listenerSetPolicies(gs, targets, bySet, out.won, out.lose)
		for _, tg := range targets {
			notFound := ""
			if tg.section != "" && listenerPtr(gs, gwv1.SectionName(tg.section)) == nil {
				notFound = fmt.Sprintf("spec.targetRefs: Gateway %s/%s has no valid listener %q", gs.obj.Namespace, gs.obj.Name, tg.section)
			}
			t.vhoCondition(tg.vho, gwRef, notFound, out,
				fmt.Sprintf("every field it sets is set by a more specific (sectionName) or older VirtualHostOption for Gateway %s/%s", gs.obj.Namespace, gs.obj.Name),
				"a more specific (sectionName) or older VirtualHostOption")
		}
	}
}

func (t *translation) attachRouteOptions(routes []*routeState) {
	type kindName struct {
		kind string
		name types.NamespacedName
	}
	attached := make(map[kindName]*routeState, len(routes))
	for _, r := range routes {
		attached[kindName{routeKind(r.obj), nn(r.obj.Namespace, r.obj.Name)}] = r
	}
	ros := slices.Clone(t.in.RouteOptions)
	slices.SortStableFunc(ros, func(a, b *optv1.RouteOption) int { return olderFirst(a, b) })
	for _, o := range ros {
		p := t.routeOpts[nn(o.Namespace, o.Name)]
		if p == nil {
			continue
		}
		for i, ref := range o.Spec.TargetRefs {
			rref := ancestorRouteOf(string(ref.Kind), o.Namespace, gwv1.ObjectName(ref.Name))
			if ref.Group != gwv1.GroupName || !resource.IsRouteOptionTarget(string(ref.Kind)) {
				t.optionCondition(optv1.KindRouteOption, o, rref, false, string(gwv1.PolicyReasonInvalid),
					fmt.Sprintf("spec.targetRefs[%d]: kind %s/%s is not supported; a RouteOption targets %s", i, ref.Group, ref.Kind, resource.RouteOptionTargets()))
				continue
			}
			if ref.Namespace != nil && *ref.Namespace != o.Namespace {
				t.optionCondition(optv1.KindRouteOption, o, rref, false, string(gwv1.PolicyReasonInvalid),
					fmt.Sprintf("spec.targetRefs[%d].namespace: %q differs from the option's namespace %q; an option only targets objects of its own namespace", i, *ref.Namespace, o.Namespace))
				continue
			}
			if !t.routeExists(string(ref.Kind), nn(o.Namespace, string(ref.Name))) {
				t.optionCondition(optv1.KindRouteOption, o, rref, false, string(gwv1.PolicyReasonTargetNotFound),
					fmt.Sprintf("spec.targetRefs[%d]: %s %s/%s not found", i, ref.Kind, o.Namespace, ref.Name))
				continue
			}
			rs := attached[kindName{string(ref.Kind), nn(o.Namespace, string(ref.Name))}]
			if rs == nil {
				continue // the route is not attached to a Gateway of ours
			}
			if rs.option != nil {
				for _, gw := range rs.parents {
					t.optionCondition(optv1.KindRouteOption, o, gw, false, string(gwv1.PolicyReasonConflicted),
						fmt.Sprintf("%s %s/%s is already targeted by the older RouteOption %s", ref.Kind, o.Namespace, ref.Name, rs.option.obj.Name))
				}
				continue
			}
			rs.option = p
		}
	}
	// Every RouteOption in use reports on each Gateway its routes attach to.
	for _, rs := range routes {
		used := map[*routePolicy]bool{}
		if rs.option != nil {
			used[rs.option] = true
		}
		for _, r := range rs.rules {
			if r.option != nil {
				used[r.option] = true
			}
		}
		for p := range used {
			for _, gw := range rs.parents {
				if p.invalid != nil {
					t.optionCondition(optv1.KindRouteOption, p.obj, gw, false, invalidReason(p.invalid),
						p.invalid.Error()+"; the targeted routes answer 500 until it is fixed")
				} else {
					t.optionCondition(optv1.KindRouteOption, p.obj, gw, true, string(gwv1.PolicyReasonAccepted), "Policy is accepted")
				}
			}
		}
	}
}

// checkRouteOptions checks every RouteOption once, before rules name them.
func (t *translation) checkRouteOptions() {
	t.routeOpts = make(map[types.NamespacedName]*routePolicy, len(t.in.RouteOptions))
	for _, o := range t.in.RouteOptions {
		p := t.routeOptionJwt(o)
		if p.invalid == nil && o.Spec.Options.Rbac != nil {
			p.invalid = t.checkRBAC(o.Spec.Options.Rbac)
		}
		t.routeOpts[nn(o.Namespace, o.Name)] = p
	}
}

func ancestorGateway(namespace, name string) gwv1.ParentReference {
	return gwv1.ParentReference{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: ptr(gwv1.Kind("Gateway")),
		Namespace: ptr(gwv1.Namespace(namespace)), Name: gwv1.ObjectName(name)}
}

func ancestorRouteOf(kind, namespace string, name gwv1.ObjectName) gwv1.ParentReference {
	return gwv1.ParentReference{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: ptr(gwv1.Kind(kind)),
		Namespace: ptr(gwv1.Namespace(namespace)), Name: gwv1.ObjectName(name)}
}

// optionCondition records the Accepted condition of an option for one
// ancestor. A False condition is never overwritten by a True one, so the
// first problem found is the one reported.
func (t *translation) optionCondition(kind string, o metav1.Object, ancestor gwv1.ParentReference, ok bool, reason, msg string) {
	key := optionKey{kind: kind, name: nn(o.GetNamespace(), o.GetName())}
	m := t.optConds[key]
	if m == nil {
		m = map[string]*optionCond{}
		t.optConds[key] = m
	}
	akey := refString(ancestor)
	if prev := m[akey]; prev != nil && (!prev.ok || ok) {
		return
	}
	if ok && isDryRun(o) {
		msg += dryRunNote
	}
	m[akey] = &optionCond{ancestor: ancestor, ok: ok, reason: reason, msg: msg, generation: o.GetGeneration()}
}

type optionKey struct {
	kind string
	name types.NamespacedName
}

type optionCond struct {
	ancestor   gwv1.ParentReference
	ok         bool
	reason     string
	msg        string
	generation int64
}

func refString(r gwv1.ParentReference) string {
	var b strings.Builder
	if r.Kind != nil {
		b.WriteString(string(*r.Kind))
	}
	b.WriteByte('/')
	if r.Namespace != nil {
		b.WriteString(string(*r.Namespace))
	}
	b.WriteByte('/')
	b.WriteString(string(r.Name))
	return b.String()
}

// finishOptionStatus writes the recorded conditions into Status. An option
// that nothing was recorded for targets nothing gatewarden serves and gets no
// status, so that it is left to whichever controller owns its target.
func (t *translation) finishOptionStatus() {
	for key, conds := range t.optConds {
		st := &gwv1.PolicyStatus{}
		keys := make([]string, 0, len(conds))
		for k := range conds {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			c := conds[k]
			as := gwv1.PolicyAncestorStatus{AncestorRef: c.ancestor, ControllerName: gwv1.GatewayController(t.opts.ControllerName)}
			setCondition(&as.Conditions, string(gwv1.PolicyConditionAccepted), c.ok, c.reason, c.msg, c.generation)
			st.Ancestors = append(st.Ancestors, as)
		}
		switch key.kind {
		case optv1.KindVirtualHostOption:
			t.status.VirtualHostOptions[key.name] = st
		case optv1.KindRouteOption:
			t.status.RouteOptions[key.name] = st
		}
	}
}

// vhoJwt builds the JWT configuration of a VirtualHostOption: jwt is the
// afterExtAuth stage; jwtStaged sets either stage.
func (t *translation) vhoJwt(o *optv1.VirtualHostOption) (*jwtConfig, error) {
	opts := o.Spec.Options
	if opts.Jwt != nil && opts.JwtStaged != nil {
		return nil, errors.New("spec.options: set one of jwt and jwtStaged, not both")
	}
	cfg := &jwtConfig{}
	var err error
	switch {
	case opts.Jwt != nil:
		cfg.after, err = t.buildJwtStage(optv1.KindVirtualHostOption, o.Namespace, o.Name, "spec.options.jwt", opts.Jwt)
	case opts.JwtStaged != nil:
		if opts.JwtStaged.BeforeExtAuth != nil {
			cfg.before, err = t.buildJwtStage(optv1.KindVirtualHostOption, o.Namespace, o.Name, "spec.options.jwtStaged.beforeExtAuth", opts.JwtStaged.BeforeExtAuth)
		}
		if err == nil && opts.JwtStaged.AfterExtAuth != nil {
			cfg.after, err = t.buildJwtStage(optv1.KindVirtualHostOption, o.Namespace, o.Name, "spec.options.jwtStaged.afterExtAuth", opts.JwtStaged.AfterExtAuth)
		}
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// routeOptionJwt checks a RouteOption and builds its JWT changes.
func (t *translation) routeOptionJwt(o *optv1.RouteOption) *routePolicy {
	p := &routePolicy{obj: o}
	opts := o.Spec.Options
	set := 0
	for _, isSet := range []bool{opts.Jwt != nil, opts.JwtStaged != nil, opts.JwtProvidersStaged != nil} {
		if isSet {
			set++
		}
	}
	if set > 1 {
		p.invalid = errors.New("spec.options: set at most one of jwt, jwtStaged and jwtProvidersStaged")
		return p
	}
	switch {
	case opts.Jwt != nil:
		p.disableBefore, p.disableAfter = opts.Jwt.Disable, opts.Jwt.Disable
	case opts.JwtStaged != nil:
		p.disableBefore = opts.JwtStaged.BeforeExtAuth != nil && opts.JwtStaged.BeforeExtAuth.Disable
		p.disableAfter = opts.JwtStaged.AfterExtAuth != nil && opts.JwtStaged.AfterExtAuth.Disable
	case opts.JwtProvidersStaged != nil:
		if s := opts.JwtProvidersStaged.BeforeExtAuth; s != nil {
			p.before, p.invalid = t.buildJwtStage(optv1.KindRouteOption, o.Namespace, o.Name, "spec.options.jwtProvidersStaged.beforeExtAuth", s)
		}
		if s := opts.JwtProvidersStaged.AfterExtAuth; p.invalid == nil && s != nil {
			p.after, p.invalid = t.buildJwtStage(optv1.KindRouteOption, o.Namespace, o.Name, "spec.options.jwtProvidersStaged.afterExtAuth", s)
		}
	}
	return p
}

// refNotPermittedError is a reference to another namespace that no
// ReferenceGrant allows: the condition of the option that makes it takes
// the reason RefNotPermitted instead of Invalid. Its message ends with the
// reason in parentheses.
type refNotPermittedError struct{ msg string }

func (e *refNotPermittedError) Error() string { return e.msg + " (" + refNotPermitted + ")" }

// refNotPermitted is the reason of a policy's reference that no
// ReferenceGrant allows (the Gateway API names it for routes and listeners,
// not policies).
const refNotPermitted = "RefNotPermitted"

// invalidReason is the reason of an option that cannot be translated for
// err: RefNotPermitted or Invalid.
func invalidReason(err error) string {
	if rnp := (*refNotPermittedError)(nil); errors.As(err, &rnp) {
		return refNotPermitted
	}
	return string(gwv1.PolicyReasonInvalid)
}

// lostFields renders "jwt (by ns/a), rbac (by ns/b)".
func lostFields(m map[string]string) string {
	var parts []string
	for _, f := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s (by %s)", f, m[f]))
	}
	return strings.Join(parts, ", ")
}
