package translator

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The status of a BackendTLSPolicy: one ancestor per Gateway whose routes
// (or JWKS fetches) reach a Service port it targets, each with the
// conditions the spec names. Accepted: False with Conflicted when another
// policy of the same target takes precedence (the older, then the first by
// name), TargetNotFound when its sectionName names no port of the Service,
// Invalid or NoValidCACertificate when it cannot be used. ResolvedRefs:
// False with InvalidKind or InvalidCACertificateRef when a CA reference
// does not resolve.

// maxPolicyAncestors is the most ancestors a policy status holds (the
// CRD's maxItems): the API server refuses a longer list.
const maxPolicyAncestors = 16

// useBackendTLS records that the Gateway gs reaches the backend b, so that
// the BackendTLSPolicies that target b's Service port, those that lost it
// to another included, report to gs.
func (t *translation) useBackendTLS(gs *gatewayState, b backend) {
	if !b.tlsRoute && (b.tls == nil || b.tls.policy == "") {
		return
	}
	gw := nn(gs.obj.Namespace, gs.obj.Name)
	idx := t.index.tls
	note := func(key tlsTarget) {
		for _, p := range idx.policies[key] {
			if t.tlsUses == nil {
				t.tlsUses = map[*gwv1.BackendTLSPolicy]map[types.NamespacedName][]tlsTarget{}
			}
			uses := t.tlsUses[p]
			if uses == nil {
				uses = map[types.NamespacedName][]tlsTarget{}
				t.tlsUses[p] = uses
			}
			if !slices.Contains(uses[gw], key) {
				uses[gw] = append(uses[gw], key)
			}
		}
	}
	note(tlsTarget{b.namespace, b.service, ""})
	svc := t.index.services[nn(b.namespace, b.service)]
	for _, section := range idx.sections[nn(b.namespace, b.service)] {
		if section == b.portName || (svc != nil && !hasPortNamed(svc, section)) {
			note(tlsTarget{b.namespace, b.service, section})
		}
	}
}

func hasPortNamed(svc *corev1.Service, name string) bool {
	return slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == name })
}

// finishBackendTLSStatus writes the status of every BackendTLSPolicy some
// Gateway uses; the others have nothing to report to.
func (t *translation) finishBackendTLSStatus() {
	if len(t.in.BackendTLSPolicies) == 0 {
		return
	}
	t.status.BackendTLSPolicies = make(map[types.NamespacedName]*gwv1.PolicyStatus, len(t.tlsUses))
	for _, p := range t.in.BackendTLSPolicies {
		uses := t.tlsUses[p]
		if len(uses) == 0 {
			continue
		}
		gws := make([]types.NamespacedName, 0, len(uses))
		for gw := range uses {
			gws = append(gws, gw)
		}
		slices.SortFunc(gws, func(a, b types.NamespacedName) int {
			return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
		})
		st := &gwv1.PolicyStatus{}
		for _, gw := range gws[:min(len(gws), maxPolicyAncestors)] {
			a := gwv1.PolicyAncestorStatus{AncestorRef: ancestorGateway(gw.Namespace, gw.Name), ControllerName: gwv1.GatewayController(t.opts.ControllerName)}
			t.backendTLSConditions(p, uses[gw], &a.Conditions)
			st.Ancestors = append(st.Ancestors, a)
		}
		t.status.BackendTLSPolicies[nn(p.Namespace, p.Name)] = st
	}
}

// backendTLSConditions sets the conditions of p towards a Gateway that
// reaches the targets keys.
func (t *translation) backendTLSConditions(p *gwv1.BackendTLSPolicy, keys []tlsTarget, conds *[]metav1.Condition) {
	accepted, reason, msg := true, string(gwv1.PolicyReasonAccepted), "Policy is accepted"
	refsOK, refsReason, refsMsg := true, string(gwv1.BackendTLSPolicyReasonResolvedRefs), "References are resolved"
	if c := t.checkBackendTLS(p); c.problem != nil {
		if c.problem.refs != "" {
			refsOK, refsReason, refsMsg = false, c.problem.refs, c.problem.msg+"; the routes of its backends answer 500 until it is fixed"
		}
		if c.problem.accepted != "" {
			accepted, reason, msg = false, c.problem.accepted, c.problem.msg+"; the routes of its backends answer 500 until it is fixed"
		} else {
			msg = "Policy is accepted, but a caCertificateRef does not resolve (see ResolvedRefs): the routes of its backends answer 500 until it does"
		}
	}
	for _, key := range keys {
		if key.section != "" {
			if svc := t.index.services[nn(key.namespace, key.service)]; svc != nil && !hasPortNamed(svc, key.section) {
				accepted, reason, msg = false, string(gwv1.PolicyReasonTargetNotFound),
					fmt.Sprintf("spec.targetRefs: Service %s/%s has no port named %q (sectionName)", key.namespace, key.service, key.section)
				break
			}
		}
		if winner := t.index.tls.policies[key][0]; winner != p {
			target := "Service " + key.namespace + "/" + key.service
			if key.section != "" {
				target += " port " + key.section
			}
			accepted, reason, msg = false, string(gwv1.PolicyReasonConflicted),
				fmt.Sprintf("BackendTLSPolicy %s/%s also targets %s and takes precedence (older, or first by name): this policy is not used there", winner.Namespace, winner.Name, target)
			break
		}
	}
	setCondition(conds, string(gwv1.PolicyConditionAccepted), accepted, reason, msg, p.Generation)
	setCondition(conds, string(gwv1.BackendTLSPolicyConditionResolvedRefs), refsOK, refsReason, refsMsg, p.Generation)
}

// backendTLSBody is the body of the 500 a rule answers when a backend of it
// (a mirror included) cannot be reached with the TLS it should be: its
// BackendTLSPolicy cannot be used, or it is reached over TLS and the client
// certificate of the Gateway gs cannot be used. "" when none. The policies
// still report to gs.
func (t *translation) backendTLSBody(gs *gatewayState, rule *ruleState) string {
	body := ""
	check := func(b backend) {
		switch {
		case b.tlsInvalid != "":
			t.useBackendTLS(gs, b)
			body = bodyBackendTLSInvalid
		case b.tls != nil && gs.backendCertInvalid != "" && body == "":
			body = bodyBackendClientCertInvalid
		}
	}
	for _, b := range rule.backends {
		check(b)
	}
	for _, m := range rule.filters.mirrors {
		check(m.to)
	}
	return body
}
