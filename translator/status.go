package translator

import (
	"cmp"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
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
	// ListenerSets are those whose parentRef names a Gateway of ours.
	ListenerSets map[types.NamespacedName]*gwv1.ListenerSetStatus
	// attachedTo is the Gateway of each ListenerSet attached to one (for
	// WithRejected).
	attachedTo map[types.NamespacedName]types.NamespacedName

	// GRPCRoutes, TLSRoutes, TCPRoutes and UDPRoutes are nil when the
	// input has none.
	GRPCRoutes map[types.NamespacedName]*gwv1.GRPCRouteStatus
	TLSRoutes  map[types.NamespacedName]*gwv1.TLSRouteStatus
	TCPRoutes  map[types.NamespacedName]*gwv1.TCPRouteStatus
	UDPRoutes  map[types.NamespacedName]*gwv1.UDPRouteStatus

	// BackendTLSPolicies is nil when the input has none; a policy no
	// Gateway uses has no entry.
	BackendTLSPolicies map[types.NamespacedName]*gwv1.PolicyStatus
}

// RouteStatus is the status of the route of kind (one of
// resource.RouteKinds) named key, or nil when the translation has none.
func (s *Status) RouteStatus(kind string, key types.NamespacedName) *gwv1.RouteStatus {
	statuses, ok := routeStatusMaps[kind]
	if !ok {
		return nil
	}
	return statuses(s).get(key)
}

// routeStatusMaps are, by route kind, the map of a Status that holds the
// statuses of the routes of that kind.
var routeStatusMaps = map[string]func(*Status) routeStatusMap{
	resource.KindHTTPRoute: func(s *Status) routeStatusMap { return statusMap[*gwv1.HTTPRouteStatus]{&s.HTTPRoutes} },
	resource.KindGRPCRoute: func(s *Status) routeStatusMap { return statusMap[*gwv1.GRPCRouteStatus]{&s.GRPCRoutes} },
	resource.KindTLSRoute:  func(s *Status) routeStatusMap { return statusMap[*gwv1.TLSRouteStatus]{&s.TLSRoutes} },
	resource.KindTCPRoute:  func(s *Status) routeStatusMap { return statusMap[*gwv1.TCPRouteStatus]{&s.TCPRoutes} },
	resource.KindUDPRoute:  func(s *Status) routeStatusMap { return statusMap[*gwv1.UDPRouteStatus]{&s.UDPRoutes} },
}

// routeStatusMap is the map of a Status that holds the statuses of the
// routes of one kind.
type routeStatusMap interface {
	// get is the RouteStatus of the route key, nil when the map has none.
	get(key types.NamespacedName) *gwv1.RouteStatus
	// add puts a new, empty status of the route key in the map, making the
	// map when it is nil, and returns its RouteStatus.
	add(key types.NamespacedName) *gwv1.RouteStatus
}

// kindRouteStatus is a pointer to the status type of one route kind. Each
// of them is a RouteStatus and nothing else, as routeStatusOnly is: the
// pointers convert to one another.
type kindRouteStatus interface {
	*gwv1.HTTPRouteStatus | *gwv1.GRPCRouteStatus | *gwv1.TLSRouteStatus | *gwv1.TCPRouteStatus | *gwv1.UDPRouteStatus
}

// routeStatusOnly has the fields of every route kind's status type.
type routeStatusOnly struct {
	gwv1.RouteStatus `json:",inline"`
}

// statusMap is the map m points to, of the statuses of one route kind.
type statusMap[P kindRouteStatus] struct{ m *map[types.NamespacedName]P }

func (s statusMap[P]) get(key types.NamespacedName) *gwv1.RouteStatus {
	if st := (*routeStatusOnly)((*s.m)[key]); st != nil {
		return &st.RouteStatus
	}
	return nil
}

func (s statusMap[P]) add(key types.NamespacedName) *gwv1.RouteStatus {
	if *s.m == nil {
		*s.m = map[types.NamespacedName]P{}
	}
	st := &routeStatusOnly{}
	(*s.m)[key] = P(st)
	return &st.RouteStatus
}

func newStatus() *Status { return newStatusFor(&resource.Resources{}) }

// newStatusFor sizes the maps for the objects of in.
func newStatusFor(in *resource.Resources) *Status {
	return &Status{
		GatewayClasses:     map[string]*gwv1.GatewayClassStatus{},
		Gateways:           make(map[types.NamespacedName]*gwv1.GatewayStatus, len(in.Gateways)),
		HTTPRoutes:         make(map[types.NamespacedName]*gwv1.HTTPRouteStatus, len(in.HTTPRoutes)),
		VirtualHostOptions: make(map[types.NamespacedName]*gwv1.PolicyStatus, len(in.VirtualHostOptions)),
		RouteOptions:       make(map[types.NamespacedName]*gwv1.PolicyStatus, len(in.RouteOptions)),
		ListenerSets:       make(map[types.NamespacedName]*gwv1.ListenerSetStatus, len(in.ListenerSets)),
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
	gatewayProblems := func(st *gwv1.GatewayStatus) bool {
		if !allTrue(st.Conditions) {
			return true
		}
		for _, l := range st.Listeners {
			if !allTrue(l.Conditions) {
				return true
			}
		}
		return false
	}
	for _, k := range withProblems(s.Gateways, gatewayProblems) {
		st := s.Gateways[k]
		add("Gateway", k.String(), "", st.Conditions)
		for _, l := range st.Listeners {
			add("Gateway", k.String(), "listener "+string(l.Name), l.Conditions)
		}
	}
	for _, k := range withProblems(s.ListenerSets, func(st *gwv1.ListenerSetStatus) bool {
		return !allTrue(st.Conditions) || slices.ContainsFunc(st.Listeners, func(l gwv1.ListenerEntryStatus) bool { return !allTrue(l.Conditions) })
	}) {
		st := s.ListenerSets[k]
		add("ListenerSet", k.String(), "", st.Conditions)
		for _, l := range st.Listeners {
			add("ListenerSet", k.String(), "listener "+string(l.Name), l.Conditions)
		}
	}
	routeProblems(s.HTTPRoutes, "HTTPRoute", func(st *gwv1.HTTPRouteStatus) *gwv1.RouteStatus { return &st.RouteStatus }, add)
	routeProblems(s.GRPCRoutes, "GRPCRoute", func(st *gwv1.GRPCRouteStatus) *gwv1.RouteStatus { return &st.RouteStatus }, add)
	routeProblems(s.TLSRoutes, "TLSRoute", func(st *gwv1.TLSRouteStatus) *gwv1.RouteStatus { return &st.RouteStatus }, add)
	routeProblems(s.TCPRoutes, "TCPRoute", func(st *gwv1.TCPRouteStatus) *gwv1.RouteStatus { return &st.RouteStatus }, add)
	routeProblems(s.UDPRoutes, "UDPRoute", func(st *gwv1.UDPRouteStatus) *gwv1.RouteStatus { return &st.RouteStatus }, add)
	policyProblems := func(st *gwv1.PolicyStatus) bool {
		return slices.ContainsFunc(st.Ancestors, func(a gwv1.PolicyAncestorStatus) bool { return !allTrue(a.Conditions) })
	}
	policies := func(kind string, m map[types.NamespacedName]*gwv1.PolicyStatus) {
		for _, k := range withProblems(m, policyProblems) {
			for _, a := range m[k].Ancestors {
				add(kind, k.String(), "ancestor "+refString(a.AncestorRef), a.Conditions)
			}
		}
	}
	policies("VirtualHostOption", s.VirtualHostOptions)
	policies("RouteOption", s.RouteOptions)
	policies("BackendTLSPolicy", s.BackendTLSPolicies)
	return out
}

// routeProblems adds the conditions that are not True of the routes of
// kind in m, by route and parent.
func routeProblems[S any](m map[types.NamespacedName]*S, kind string, route func(*S) *gwv1.RouteStatus, add func(kind, name, where string, conds []metav1.Condition)) {
	has := func(st *S) bool {
		return slices.ContainsFunc(route(st).Parents, func(p gwv1.RouteParentStatus) bool { return !allTrue(p.Conditions) })
	}
	for _, k := range withProblems(m, has) {
		for _, p := range route(m[k]).Parents {
			add(kind, k.String(), "parent "+string(p.ParentRef.Name), p.Conditions)
		}
	}
}

func allTrue(conds []metav1.Condition) bool {
	return !slices.ContainsFunc(conds, func(c metav1.Condition) bool { return c.Status != metav1.ConditionTrue })
}

// withProblems returns the keys of m whose status has a condition that is
// not True, by namespace and name. Statuses are often shared: each is
// looked at once.
func withProblems[V any](m map[types.NamespacedName]*V, has func(*V) bool) []types.NamespacedName {
	seen := map[*V]bool{}
	var keys []types.NamespacedName
	for k, v := range m {
		bad, ok := seen[v]
		if !ok {
			bad = has(v)
			seen[v] = bad
		}
		if bad {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b types.NamespacedName) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return keys
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
	// The ListenerSets attached to it are served by the same Envoys.
	copied := false
	for lsKey, gwKey := range s.attachedTo {
		if gwKey != key || s.ListenerSets[lsKey] == nil {
			continue
		}
		if !copied {
			cp.ListenerSets = maps.Clone(s.ListenerSets)
			copied = true
		}
		lst := s.ListenerSets[lsKey].DeepCopy()
		if c := meta.FindStatusCondition(lst.Conditions, string(gwv1.ListenerSetConditionProgrammed)); c != nil && c.Status == metav1.ConditionTrue {
			setCondition(&lst.Conditions, string(gwv1.ListenerSetConditionProgrammed), false, string(gwv1.ListenerSetReasonInvalid),
				"Envoy rejected the configuration of Gateway "+key.String()+"; it keeps serving the last one it accepted: "+message, c.ObservedGeneration)
		}
		cp.ListenerSets[lsKey] = lst
	}
	return &cp
}
