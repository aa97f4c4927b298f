package translator

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// The policy of a ListenerSet's listener.
//
// A ListenerSet lets a tenant add listeners to a shared Gateway: a new port,
// or a new hostname on a port of the Gateway, where the hostname may be
// more specific than a listener of the Gateway and so take its hosts
// (isolation.go). Were the listener's policy only what targets it, a tenant
// could escape the Gateway's JWT and RBAC by declaring a ListenerSet. So:
//
//   - the listener inherits the policy of the listener whose hosts it would
//     otherwise take (the most specific listener of its port, the Gateway's
//     or an older ListenerSet's, that has no hostname or one covering its
//     own), or, when there is none, the Gateway's VirtualHostOptions
//     without sectionName;
//   - a VirtualHostOption targeting the ListenerSet (with or without
//     sectionName) sets only the fields the inherited policy leaves unset,
//     and never jwt where the inherited policy sets rbac: its providers
//     would mint the claims the platform's RBAC checks;
//   - on the listener's routes, a RouteOption that would turn off or
//     replace an inherited field makes the route answer 500 instead
//     (lockedFieldsMessage).

// vhoTarget is one targetRef of a VirtualHostOption: a Gateway's or a
// ListenerSet's listener (section), or all of them ("").
type vhoTarget struct {
	vho     *checkedVHO
	section string
}

// candidates returns the options of targets for the listener named
// section: those naming it (sectionName) before those naming none; within
// each, older first (targets are already sorted).
func candidates(targets []vhoTarget, section string) []*checkedVHO {
	var cands []*checkedVHO
	for _, tg := range targets {
		if tg.section == section {
			cands = append(cands, tg.vho)
		}
	}
	for _, tg := range targets {
		if tg.section == "" {
			cands = append(cands, tg.vho)
		}
	}
	return cands
}

// vhoOutcome is what merging VirtualHostOptions left each: won records the
// options that set at least one field, lost per option and field the option
// that set it instead.
type vhoOutcome struct {
	won  map[*optv1.VirtualHostOption]bool
	lost map[*optv1.VirtualHostOption]map[string]string
}

func newVHOOutcome() *vhoOutcome {
	return &vhoOutcome{won: map[*optv1.VirtualHostOption]bool{}, lost: map[*optv1.VirtualHostOption]map[string]string{}}
}

// lose is a loseFunc recording into out.lost.
func (out *vhoOutcome) lose(o *optv1.VirtualHostOption, field string, to *optv1.VirtualHostOption) {
	if out.lost[o] == nil {
		out.lost[o] = map[string]string{}
	}
	out.lost[o][field] = to.Namespace + "/" + to.Name
}

// vhoCondition sets the condition of v for its ancestor ref: TargetNotFound
// with notFound where that is not empty, then invalid, Conflicted (conflict,
// then the fields lost) where it set no field, Accepted otherwise, naming
// the fields it lost where it lost some to setBy.
func (t *translation) vhoCondition(v *checkedVHO, ref gwv1.ParentReference, notFound string, out *vhoOutcome, conflict, setBy string) {
	o := v.obj
	switch {
	case notFound != "":
		t.optionCondition(optv1.KindVirtualHostOption, o, ref, false, string(gwv1.PolicyReasonTargetNotFound), notFound)
	case v.invalid != nil:
		t.optionCondition(optv1.KindVirtualHostOption, o, ref, false, invalidReason(v.invalid),
			v.invalid.Error()+"; the routes of the targeted listeners answer 500 until it is fixed")
	case !out.won[o]:
		t.optionCondition(optv1.KindVirtualHostOption, o, ref, false, string(gwv1.PolicyReasonConflicted), conflict+": "+lostFields(out.lost[o]))
	case len(out.lost[o]) > 0:
		t.optionCondition(optv1.KindVirtualHostOption, o, ref, true, string(gwv1.PolicyReasonAccepted),
			"Policy is accepted; on some listeners "+setBy+" sets "+lostFields(out.lost[o]))
	default:
		t.optionCondition(optv1.KindVirtualHostOption, o, ref, true, string(gwv1.PolicyReasonAccepted), "Policy is accepted")
	}
}

// loseFunc records that option o does not set field because to does.
type loseFunc func(o *optv1.VirtualHostOption, field string, to *optv1.VirtualHostOption)

// merge lets each option of cands, in order, set the fields of p that none
// before it set; won records the options that set at least one.
func (p *vhostPolicy) merge(cands []*checkedVHO, won map[*optv1.VirtualHostOption]bool, lose loseFunc) {
	for _, c := range cands {
		opts := c.obj.Spec.Options
		takes := false
		if opts.Jwt != nil || opts.JwtStaged != nil {
			switch {
			case p.rbacLocked && p.jwtFrom == nil:
				lose(c.obj, "jwt", p.rbacFrom)
			case p.jwtFrom == nil:
				p.jwt, p.jwtFrom, takes = c.jwt, c.obj, true
			case p.jwtFrom != c.obj:
				lose(c.obj, "jwt", p.jwtFrom)
			}
		}
		if opts.Rbac != nil {
			if p.rbacFrom == nil {
				p.rbac, p.rbacFrom, takes = opts.Rbac, c.obj, true
			} else if p.rbacFrom != c.obj {
				lose(c.obj, "rbac", p.rbacFrom)
			}
		}
		if takes {
			won[c.obj] = true
			if c.invalid != nil && p.invalid == nil {
				p.invalid, p.invalidFrom = c.invalid, c.obj
			}
		}
	}
}

// inherited is a copy of p whose set fields are locked.
func (p *vhostPolicy) inherited() *vhostPolicy {
	cp := *p
	cp.jwtLocked = p.jwtLocked || p.jwtFrom != nil
	cp.rbacLocked = p.rbacLocked || p.rbacFrom != nil
	return &cp
}

func (t *translation) listenerSetExists(key types.NamespacedName) bool {
	return t.index.listenerSetNames[key]
}

// inheritFrom is the listener of l's port whose hosts l would take: the most
// specific one less specific than l that has no hostname or one covering
// l's. Only listeners whose policy is already set are looked at.
func inheritFrom(listeners []*listenerState, l *listenerState) *listenerState {
	lh := listenerHost(l)
	var best *listenerState
	for _, m := range listeners {
		mh := listenerHost(m)
		if m == l || m.vhostOp == nil || m.spec.Port != l.spec.Port || !moreSpecific(lh, mh) || (mh != "" && !covers(mh, lh)) {
			continue
		}
		if best == nil || moreSpecific(mh, listenerHost(best)) {
			best = m
		}
	}
	return best
}

// listenerSetPolicies sets the policy of every ListenerSet listener of gs
// and the status of the options that target its ListenerSets. targets are
// the Gateway's options (won and lose record their fate), bySet those of
// each ListenerSet.
func (t *translation) listenerSetPolicies(gs *gatewayState, targets []vhoTarget, bySet map[types.NamespacedName][]vhoTarget, won map[*optv1.VirtualHostOption]bool, lose loseFunc) {
	if len(gs.sets) == 0 {
		return
	}
	var wideCands []*checkedVHO
	for _, tg := range targets {
		if tg.section == "" {
			wideCands = append(wideCands, tg.vho)
		}
	}
	wide := &vhostPolicy{}
	wide.merge(wideCands, won, lose)

	set := newVHOOutcome()
	// Less specific listeners first: a listener inherits from one that is
	// less specific than itself.
	var ls []*listenerState
	for _, l := range gs.listeners {
		if l.set != nil {
			ls = append(ls, l)
		}
	}
	slices.SortStableFunc(ls, func(a, b *listenerState) int {
		ra, la := hostSpecificity(listenerHost(a))
		rb, lb := hostSpecificity(listenerHost(b))
		if ra != rb {
			return ra - rb
		}
		return la - lb
	})
	for _, l := range ls {
		base := wide
		if parent := inheritFrom(gs.listeners, l); parent != nil {
			base = parent.vhostOp
		}
		p := base.inherited()
		p.merge(candidates(bySet[l.set.key()], string(l.spec.Name)), set.won, set.lose)
		l.vhostOp = p
	}
	for _, ss := range gs.sets {
		ref := ancestorListenerSet(ss.obj.Namespace, ss.obj.Name)
		for _, tg := range bySet[ss.key()] {
			hasSection := slices.ContainsFunc(ss.listeners, func(l *listenerState) bool { return string(l.spec.Name) == tg.section })
			notFound := ""
			switch {
			case len(ss.listeners) == 0:
				notFound = fmt.Sprintf("spec.targetRefs: ListenerSet %s/%s has no accepted listener", ss.obj.Namespace, ss.obj.Name)
			case tg.section != "" && !hasSection:
				notFound = fmt.Sprintf("spec.targetRefs: ListenerSet %s/%s has no valid listener %q", ss.obj.Namespace, ss.obj.Name, tg.section)
			}
			t.vhoCondition(tg.vho, ref, notFound, set,
				fmt.Sprintf("every field it sets is set on the listeners of ListenerSet %s/%s by the Gateway's policy (which a ListenerSet's option cannot replace; it cannot add jwt where the Gateway's sets rbac) or a more specific (sectionName) or older VirtualHostOption", ss.obj.Namespace, ss.obj.Name),
				"the Gateway's policy or a more specific (sectionName) or older VirtualHostOption")
		}
	}
}

// lockedFieldsMessage says why opt may not apply to a route of the virtual
// host whose policy is pol ("" when it may): on a ListenerSet's listener, a
// RouteOption cannot turn off or replace the JWT or RBAC the listener
// inherits from the Gateway (and replacing the JWT providers where RBAC is
// inherited would let it mint the claims that RBAC checks).
func lockedFieldsMessage(l *listenerState, pol *vhostPolicy, opt *routePolicy) string {
	if l == nil || l.set == nil || pol == nil || opt == nil {
		return ""
	}
	var field string
	var from *optv1.VirtualHostOption
	switch {
	case opt.setsJwt() && pol.jwtLocked:
		field, from = "jwt", pol.jwtFrom
	case opt.setsJwt() && pol.rbacLocked:
		field, from = "rbac", pol.rbacFrom
	case opt.obj.Spec.Options.Rbac != nil && pol.rbacLocked:
		field, from = "rbac", pol.rbacFrom
	default:
		return ""
	}
	return fmt.Sprintf("on listener %q of ListenerSet %s/%s, %s is set by VirtualHostOption %s/%s for the Gateway: a RouteOption cannot turn off or replace it there (nor set jwt where the Gateway sets rbac); the route answers 500 on that listener",
		l.spec.Name, l.set.obj.Namespace, l.set.obj.Name, field, from.Namespace, from.Name)
}
