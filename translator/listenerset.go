package translator

import (
	"cmp"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ListenerSets (GEP-1713) add listeners to a Gateway that allows them
// (spec.allowedListeners, None by default). Their listeners are merged into
// the Gateway's: they share its ports and Envoy listeners, and conflicts are
// settled in favour of the Gateway's own listeners, then of the older
// ListenerSet (then the one whose namespace/name sorts first). Routes reach
// them only through a parentRef of kind ListenerSet; a parentRef to the
// Gateway never attaches to a ListenerSet's listener.
//
// A ListenerSet is how a tenant adds listeners to a shared Gateway, so the
// platform's policy follows it (options.go, listenerPolicy): each of its
// listeners takes the VirtualHostOptions of the listener whose hosts it
// would otherwise take, or the Gateway's without sectionName; a
// VirtualHostOption targeting the ListenerSet only sets what those leave
// unset, and a RouteOption cannot turn off or replace what they set.

const kindListenerSet = "ListenerSet"

// listenerSetState is one ListenerSet whose parentRef names one of our
// Gateways.
type listenerSetState struct {
	obj    *gwv1.ListenerSet
	gw     *gatewayState
	status *gwv1.ListenerSetStatus
	// entries are the statuses of its listeners, as a Gateway's, until
	// finishListenerSets copies them into status.
	entries []gwv1.ListenerStatus
	// listeners are its accepted listeners (also in gw.listeners).
	listeners []*listenerState
	// refused, when set, is why it is not attached (not allowed, or its
	// Gateway is not accepted).
	refused string
}

func (s *listenerSetState) key() types.NamespacedName { return nn(s.obj.Namespace, s.obj.Name) }

// describe names listener name of owner in a message.
func (o listenerOwner) describe(name gwv1.SectionName) string {
	if o.kind == kindListenerSet {
		return fmt.Sprintf("listener %q of ListenerSet %s/%s", name, o.namespace, o.name)
	}
	return fmt.Sprintf("listener %q", name)
}

// namespace is the namespace of the object that declares l: "Same" in its
// allowedRoutes means this one.
func (l *listenerState) namespace() string {
	if l.set != nil {
		return l.set.obj.Namespace
	}
	return l.gw.obj.Namespace
}

// ListenerSetParent is the Gateway the parentRef of s names; false when it
// names another kind.
func ListenerSetParent(s *gwv1.ListenerSet) (types.NamespacedName, bool) {
	ref := s.Spec.ParentRef
	if (ref.Group != nil && *ref.Group != gwv1.GroupName) || (ref.Kind != nil && *ref.Kind != "Gateway") {
		return types.NamespacedName{}, false
	}
	ns := s.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	return nn(ns, string(ref.Name)), true
}

// listenerSetsOf returns the ListenerSets whose parentRef names g, in the
// GEP's order of precedence: older first, then by namespace and name.
func (t *translation) listenerSetsOf(g *gwv1.Gateway) []*gwv1.ListenerSet {
	out := slices.Clone(t.index.listenerSets[nn(g.Namespace, g.Name)])
	slices.SortStableFunc(out, ListenerSetPrecedence)
	return out
}

// ListenerSetPrecedence orders the ListenerSets of one Gateway as the GEP
// does: older first, then by namespace and name.
func ListenerSetPrecedence(a, b *gwv1.ListenerSet) int {
	ta, tb := a.CreationTimestamp, b.CreationTimestamp
	if !ta.Equal(&tb) {
		if ta.Before(&tb) {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

func (t *translation) listenerSetAllowed(g *gwv1.Gateway, s *gwv1.ListenerSet) string {
	return ListenerSetRefusal(g, s, t.index.namespaces[s.Namespace])
}

// ListenerSetRefusal says why g does not take the ListenerSet s, whose
// Namespace object is ns ("" when it does): spec.allowedListeners.namespaces,
// None by default.
func ListenerSetRefusal(g *gwv1.Gateway, s *gwv1.ListenerSet, ns *corev1.Namespace) string {
	from := gwv1.NamespacesFromNone
	var sel *metav1.LabelSelector
	if a := g.Spec.AllowedListeners; a != nil && a.Namespaces != nil {
		if a.Namespaces.From != nil {
			from = *a.Namespaces.From
		}
		sel = a.Namespaces.Selector
	}
	refused := fmt.Sprintf("Gateway %s/%s does not allow ListenerSets from namespace %q (spec.allowedListeners.namespaces.from: %s)", g.Namespace, g.Name, s.Namespace, from)
	switch from {
	case gwv1.NamespacesFromAll:
		return ""
	case gwv1.NamespacesFromSame:
		if s.Namespace == g.Namespace {
			return ""
		}
	case gwv1.NamespacesFromSelector:
		if sel == nil || ns == nil {
			return refused + "; its selector does not match the namespace's labels"
		}
		selector, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return fmt.Sprintf("Gateway %s/%s: spec.allowedListeners.namespaces.selector is invalid: %v", g.Namespace, g.Name, err)
		}
		if selector.Matches(labels.Set(ns.Labels)) {
			return ""
		}
		return refused + "; its selector does not match the namespace's labels"
	}
	return refused
}

// entryListener is a ListenerSet's listener as a Gateway's: the fields are
// the same (a conversion, so that a field added to one and not the other
// fails to compile instead of being dropped).
func entryListener(e gwv1.ListenerEntry) gwv1.Listener { return gwv1.Listener(e) }

// MaxGatewayListeners bounds the listeners one Gateway takes, its own and
// those of the ListenerSets it allows: each ListenerSet holds 64 at most, but
// nothing bounds how many ListenerSets the namespaces a Gateway allows may
// create. The listeners past the first MaxGatewayListeners, in the GEP's
// order of precedence (the Gateway's own first), are not accepted (reason
// TooManyListeners) nor exposed by the provisioned Service, so a tenant's
// ListenerSets cannot grow the Envoys' configuration without bound.
const MaxGatewayListeners = 1024

// tooManyListeners is the status of a ListenerSet's listener l refused
// because g serves MaxGatewayListeners already.
func tooManyListeners(g *gwv1.Gateway, l gwv1.Listener, gen int64) gwv1.ListenerStatus {
	ls := gwv1.ListenerStatus{Name: l.Name, SupportedKinds: supportedKinds(l)}
	msg := fmt.Sprintf("listener %q: Gateway %s/%s serves %d listeners already, the most gatewarden serves on one Gateway", l.Name, g.Namespace, g.Name, MaxGatewayListeners)
	reason := string(gwv1.ListenerEntryReasonTooManyListeners)
	setCondition(&ls.Conditions, string(gwv1.ListenerConditionAccepted), false, reason, msg, gen)
	setCondition(&ls.Conditions, string(gwv1.ListenerConditionProgrammed), false, reason, msg, gen)
	return ls
}

// attachListenerSets accepts the listeners of the ListenerSets of gs after
// its own, with the same checks and conflicts (claims holds the ports and
// hostnames the Gateway's listeners took).
func (t *translation) attachListenerSets(gs *gatewayState, gatewayAccepted bool, claims *portClaims) {
	g := gs.obj
	sets := t.listenerSetsOf(g)
	if len(sets) == 0 {
		return
	}
	attached := int32(0)
	taken := len(g.Spec.Listeners) // listeners considered, in precedence order
	for _, s := range sets {
		st := &gwv1.ListenerSetStatus{}
		t.status.ListenerSets[nn(s.Namespace, s.Name)] = st
		ss := &listenerSetState{obj: s, gw: gs, status: st}
		gs.sets = append(gs.sets, ss)
		if t.status.attachedTo == nil {
			t.status.attachedTo = map[types.NamespacedName]types.NamespacedName{}
		}
		t.status.attachedTo[ss.key()] = nn(g.Namespace, g.Name)
		refuse := func(reason, msg string) {
			ss.refused = msg
			setCondition(&st.Conditions, string(gwv1.ListenerSetConditionAccepted), false, reason, msg, s.Generation)
			setCondition(&st.Conditions, string(gwv1.ListenerSetConditionProgrammed), false, reason, msg, s.Generation)
		}
		if msg := t.listenerSetAllowed(g, s); msg != "" {
			refuse(string(gwv1.ListenerSetReasonNotAllowed), msg)
			continue
		}
		if !gatewayAccepted {
			refuse(string(gwv1.ListenerSetReasonParentNotAccepted), fmt.Sprintf("Gateway %s/%s is not accepted", g.Namespace, g.Name))
			continue
		}
		owner := listenerOwner{kind: kindListenerSet, namespace: s.Namespace, name: s.Name, generation: s.Generation}
		for _, e := range s.Spec.Listeners {
			if taken >= MaxGatewayListeners {
				ss.entries = append(ss.entries, tooManyListeners(g, entryListener(e), s.Generation))
				continue
			}
			taken++
			ls, state := t.acceptListener(gs, owner, entryListener(e), claims)
			ss.entries = append(ss.entries, ls)
			if state != nil {
				state.set = ss
				ss.listeners = append(ss.listeners, state)
			}
		}
		programmed := 0
		for _, l := range ss.listeners {
			for i := range ss.entries {
				if ss.entries[i].Name == l.spec.Name {
					l.status = &ss.entries[i]
				}
			}
			if !l.unprogrammed {
				programmed++
			}
		}
		gs.listeners = append(gs.listeners, ss.listeners...)
		switch {
		case programmed == 0:
			// Its listeners still take routes (for their status) and
			// claim their hostnames, as a Gateway's do.
			msg := "ListenerSet has no valid listener: see their conditions"
			setCondition(&st.Conditions, string(gwv1.ListenerSetConditionAccepted), false, string(gwv1.ListenerSetReasonListenersNotValid), msg, s.Generation)
			setCondition(&st.Conditions, string(gwv1.ListenerSetConditionProgrammed), false, string(gwv1.ListenerSetReasonListenersNotValid), msg, s.Generation)
		case programmed < len(s.Spec.Listeners):
			attached++
			setCondition(&st.Conditions, string(gwv1.ListenerSetConditionAccepted), true, string(gwv1.ListenerSetReasonListenersNotValid),
				"ListenerSet is accepted; some listeners are not valid: see their conditions", s.Generation)
			setCondition(&st.Conditions, string(gwv1.ListenerSetConditionProgrammed), true, string(gwv1.ListenerSetReasonProgrammed), "ListenerSet is programmed", s.Generation)
		default:
			attached++
			setCondition(&st.Conditions, string(gwv1.ListenerSetConditionAccepted), true, string(gwv1.ListenerSetReasonAccepted), "ListenerSet is accepted", s.Generation)
			setCondition(&st.Conditions, string(gwv1.ListenerSetConditionProgrammed), true, string(gwv1.ListenerSetReasonProgrammed), "ListenerSet is programmed", s.Generation)
		}
	}
	gs.status.AttachedListenerSets = &attached
}

// finishListenerSets copies the listener statuses of every ListenerSet,
// their routes counted, into its status.
func (t *translation) finishListenerSets(gateways []*gatewayState) {
	for _, gs := range gateways {
		for _, ss := range gs.sets {
			for _, e := range ss.entries {
				ss.status.Listeners = append(ss.status.Listeners, gwv1.ListenerEntryStatus(e))
			}
		}
	}
}

// listenerSetByKey finds the ListenerSet namespace/name among those of gateways.
func listenerSetByKey(gateways []*gatewayState) map[types.NamespacedName]*listenerSetState {
	out := map[types.NamespacedName]*listenerSetState{}
	for _, gs := range gateways {
		for _, ss := range gs.sets {
			out[ss.key()] = ss
		}
	}
	return out
}

// ancestorListenerSet is the ancestor reference of an option that targets
// a ListenerSet.
func ancestorListenerSet(namespace, name string) gwv1.ParentReference {
	return gwv1.ParentReference{Group: ptr(gwv1.Group(gwv1.GroupName)), Kind: ptr(gwv1.Kind(kindListenerSet)),
		Namespace: ptr(gwv1.Namespace(namespace)), Name: gwv1.ObjectName(name)}
}
