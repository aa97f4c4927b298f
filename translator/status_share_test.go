package translator

import (
	"reflect"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestStatusKeysCoverEveryField keeps the status keys complete: a field
// they do not encode would let two different statuses be shared as one.
func TestStatusKeysCoverEveryField(t *testing.T) {
	encoded := map[reflect.Type][]string{
		reflect.TypeFor[gwv1.HTTPRouteStatus]():      {"RouteStatus"},
		reflect.TypeFor[gwv1.RouteStatus]():          {"Parents"},
		reflect.TypeFor[gwv1.RouteParentStatus]():    {"ParentRef", "ControllerName", "Conditions"},
		reflect.TypeFor[gwv1.PolicyStatus]():         {"Ancestors"},
		reflect.TypeFor[gwv1.PolicyAncestorStatus](): {"AncestorRef", "ControllerName", "Conditions"},
		reflect.TypeFor[gwv1.ParentReference]():      {"Group", "Kind", "Namespace", "Name", "SectionName", "Port"},
		reflect.TypeFor[metav1.Condition]():          {"Type", "Status", "ObservedGeneration", "LastTransitionTime", "Reason", "Message"},
	}
	for typ, fields := range encoded {
		var have []string
		for i := range typ.NumField() {
			have = append(have, typ.Field(i).Name)
		}
		slices.Sort(have)
		if want := slices.Sorted(slices.Values(fields)); !slices.Equal(have, want) {
			t.Errorf("%s has fields %v; the status keys encode %v: update them", typ, have, want)
		}
	}
}

// TestStatusKeysDistinguish changes each field of a status in turn: every
// change must change the key.
func TestStatusKeysDistinguish(t *testing.T) {
	base := func() *gwv1.HTTPRouteStatus {
		g, k, ns, sec, port := gwv1.Group("g"), gwv1.Kind("Gateway"), gwv1.Namespace("ns"), gwv1.SectionName("http"), gwv1.PortNumber(80)
		return &gwv1.HTTPRouteStatus{RouteStatus: gwv1.RouteStatus{Parents: []gwv1.RouteParentStatus{{
			ParentRef:      gwv1.ParentReference{Group: &g, Kind: &k, Namespace: &ns, Name: "gw", SectionName: &sec, Port: &port},
			ControllerName: "c",
			Conditions:     []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", Message: "ok", ObservedGeneration: 1}},
		}}}}
	}
	key := func(st *gwv1.HTTPRouteStatus) string { return string(appendRouteStatusKey(nil, st)) }
	k := key(base())
	if k != key(base()) || !equalRouteStatus(base(), base()) {
		t.Fatal("equal statuses have different keys or compare unequal")
	}
	changes := map[string]func(p *gwv1.RouteParentStatus){
		"group":          func(p *gwv1.RouteParentStatus) { p.ParentRef.Group = nil },
		"empty group":    func(p *gwv1.RouteParentStatus) { g := gwv1.Group(""); p.ParentRef.Group = &g },
		"kind":           func(p *gwv1.RouteParentStatus) { k := gwv1.Kind("Other"); p.ParentRef.Kind = &k },
		"namespace":      func(p *gwv1.RouteParentStatus) { p.ParentRef.Namespace = nil },
		"name":           func(p *gwv1.RouteParentStatus) { p.ParentRef.Name = "gw2" },
		"section":        func(p *gwv1.RouteParentStatus) { p.ParentRef.SectionName = nil },
		"port":           func(p *gwv1.RouteParentStatus) { n := gwv1.PortNumber(81); p.ParentRef.Port = &n },
		"no port":        func(p *gwv1.RouteParentStatus) { p.ParentRef.Port = nil },
		"controller":     func(p *gwv1.RouteParentStatus) { p.ControllerName = "d" },
		"type":           func(p *gwv1.RouteParentStatus) { p.Conditions[0].Type = "ResolvedRefs" },
		"status":         func(p *gwv1.RouteParentStatus) { p.Conditions[0].Status = metav1.ConditionFalse },
		"reason":         func(p *gwv1.RouteParentStatus) { p.Conditions[0].Reason = "Other" },
		"message":        func(p *gwv1.RouteParentStatus) { p.Conditions[0].Message = "ok." },
		"generation":     func(p *gwv1.RouteParentStatus) { p.Conditions[0].ObservedGeneration = 2 },
		"transition":     func(p *gwv1.RouteParentStatus) { p.Conditions[0].LastTransitionTime = metav1.Unix(1, 0) },
		"condition":      func(p *gwv1.RouteParentStatus) { p.Conditions = append(p.Conditions, p.Conditions[0]) },
		"no conditions":  func(p *gwv1.RouteParentStatus) { p.Conditions = nil },
		"reason/message": func(p *gwv1.RouteParentStatus) { p.Conditions[0].Reason, p.Conditions[0].Message = "Accepted2", "k" },
	}
	for name, change := range changes {
		st := base()
		change(&st.Parents[0])
		if key(st) == k {
			t.Errorf("%s: the key did not change", name)
		}
		if equalRouteStatus(st, base()) || equalRouteStatus(base(), st) {
			t.Errorf("%s: still compares equal", name)
		}
	}
	two := base()
	two.Parents = append(two.Parents, two.Parents[0])
	if key(two) == k {
		t.Error("a second parent did not change the key")
	}
	// Policy statuses use the same parts.
	pol := func(name string) *gwv1.PolicyStatus {
		return &gwv1.PolicyStatus{Ancestors: []gwv1.PolicyAncestorStatus{{AncestorRef: gwv1.ParentReference{Name: gwv1.ObjectName(name)}, ControllerName: "c"}}}
	}
	if string(appendPolicyStatusKey(nil, pol("a"))) == string(appendPolicyStatusKey(nil, pol("b"))) || equalPolicyStatus(pol("a"), pol("b")) {
		t.Error("policy statuses of different ancestors have one key or compare equal")
	}
	if !equalPolicyStatus(pol("a"), pol("a")) {
		t.Error("equal policy statuses compare unequal")
	}
}

// TestEqualStatusesAreShared: routes and options whose statuses are equal
// hold one value, and those that differ keep their own.
func TestEqualStatusesAreShared(t *testing.T) {
	ok := func(msg string) *gwv1.HTTPRouteStatus {
		return &gwv1.HTTPRouteStatus{RouteStatus: gwv1.RouteStatus{Parents: []gwv1.RouteParentStatus{{
			ParentRef: gwv1.ParentReference{Name: "gw"}, Conditions: []metav1.Condition{{Type: "Accepted", Message: msg}}}}}}
	}
	s := newStatus()
	for _, n := range []string{"a", "b", "c"} {
		s.HTTPRoutes[types.NamespacedName{Namespace: "ns", Name: n}] = ok("fine")
	}
	s.HTTPRoutes[types.NamespacedName{Namespace: "ns", Name: "d"}] = ok("not fine")
	s.share()
	a, b, c, d := s.HTTPRoutes[nn("ns", "a")], s.HTTPRoutes[nn("ns", "b")], s.HTTPRoutes[nn("ns", "c")], s.HTTPRoutes[nn("ns", "d")]
	if a != b || b != c {
		t.Error("equal statuses were not shared")
	}
	if d == a || d.Parents[0].Conditions[0].Message != "not fine" {
		t.Errorf("a different status was shared or changed: %+v", d)
	}
	if len(s.HTTPRoutes) != 4 {
		t.Errorf("%d routes have a status, want 4", len(s.HTTPRoutes))
	}
}
