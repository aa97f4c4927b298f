package translator

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Status is what a translation has to say about each input object, in the
// Gateway API's own status types. Conditions carry no LastTransitionTime: the
// translator has no clock, and the writer of status sets it. Objects whose
// statuses are equal may share one value: a Status is read-only.
type Status struct {
	GatewayClasses     map[string]*gwv1.GatewayClassStatus
	Gateways           map[types.NamespacedName]*gwv1.GatewayStatus
	HTTPRoutes         map[types.NamespacedName]*gwv1.HTTPRouteStatus
	VirtualHostOptions map[types.NamespacedName]*gwv1.PolicyStatus
	RouteOptions       map[types.NamespacedName]*gwv1.PolicyStatus
}

func newStatus() *Status {
	return &Status{
		GatewayClasses:     map[string]*gwv1.GatewayClassStatus{},
		Gateways:           map[types.NamespacedName]*gwv1.GatewayStatus{},
		HTTPRoutes:         map[types.NamespacedName]*gwv1.HTTPRouteStatus{},
		VirtualHostOptions: map[types.NamespacedName]*gwv1.PolicyStatus{},
		RouteOptions:       map[types.NamespacedName]*gwv1.PolicyStatus{},
	}
}

// setCondition adds or replaces the condition of the same type.
func setCondition(conds *[]metav1.Condition, typ string, ok bool, reason, msg string, generation int64) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conds, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            msg,
		ObservedGeneration: generation,
	})
	// SetStatusCondition stamps the current time; a pure translation has none.
	for i := range *conds {
		(*conds)[i].LastTransitionTime = metav1.Time{}
	}
}

// Problem is one condition that is not True, on one object.
type Problem struct {
	Kind, Name string
	// Where narrows it down: a listener, or a parent or ancestor reference.
	Where     string
	Condition metav1.Condition
}

// Problems lists every condition that is not True, in a stable order.
func (s *Status) Problems() []Problem {
	var out []Problem
	add := func(kind, name, where string, conds []metav1.Condition) {
		for _, c := range conds {
			if c.Status != metav1.ConditionTrue {
				out = append(out, Problem{Kind: kind, Name: name, Where: where, Condition: c})
			}
		}
	}
	for _, name := range sortedKeys(s.GatewayClasses) {
		add("GatewayClass", name, "", s.GatewayClasses[name].Conditions)
	}
	for _, o := range namespaced(s.Gateways) {
		st := o.Status.(*gwv1.GatewayStatus)
		add("Gateway", o.Name, "", st.Conditions)
		for _, l := range st.Listeners {
			add("Gateway", o.Name, "listener "+string(l.Name), l.Conditions)
		}
	}
	for _, o := range namespaced(s.HTTPRoutes) {
		for _, p := range o.Status.(*gwv1.HTTPRouteStatus).Parents {
			add("HTTPRoute", o.Name, "parent "+string(p.ParentRef.Name), p.Conditions)
		}
	}
	policies := func(kind string, m map[types.NamespacedName]*gwv1.PolicyStatus) {
		for _, o := range namespaced(m) {
			for _, a := range o.Status.(*gwv1.PolicyStatus).Ancestors {
				add(kind, o.Name, "ancestor "+refString(a.AncestorRef), a.Conditions)
			}
		}
	}
	policies("VirtualHostOption", s.VirtualHostOptions)
	policies("RouteOption", s.RouteOptions)
	return out
}

// WithRejected returns a copy of s in which the Gateway namespace/name is
// not Programmed, with Envoy's message: Envoy rejected its configuration and
// keeps serving the last one it accepted. s itself is not changed; the copy
// shares everything but that Gateway's status. It returns nil when the
// Gateway is not in s.
func (s *Status) WithRejected(namespace, name, message string) *Status {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	st := s.Gateways[key]
	if st == nil {
		return nil
	}
	cp := *s
	cp.Gateways = make(map[types.NamespacedName]*gwv1.GatewayStatus, len(s.Gateways))
	for k, v := range s.Gateways {
		cp.Gateways[k] = v
	}
	gst := st.DeepCopy()
	gen := int64(0)
	for _, c := range gst.Conditions {
		gen = c.ObservedGeneration
	}
	setCondition(&gst.Conditions, string(gwv1.GatewayConditionProgrammed), false, string(gwv1.GatewayReasonInvalid),
		"Envoy rejected the configuration; it keeps serving the last one it accepted: "+message, gen)
	cp.Gateways[key] = gst
	return &cp
}
