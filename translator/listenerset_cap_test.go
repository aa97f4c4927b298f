package translator_test

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/translator"
)

// TestListenerSetsBoundedPerGateway: ListenerSets from every namespace a
// Gateway allows cannot grow it past MaxGatewayListeners listeners. In the
// GEP's order (the Gateway's own, then the older ListenerSets), the
// listeners past the bound are Accepted=False, TooManyListeners, and are not
// served; a ListenerSet with none left is not accepted.
func TestListenerSetsBoundedPerGateway(t *testing.T) {
	const perSet = 64 // the CRD's most
	sets := translator.MaxGatewayListeners/perSet + 2
	in := &resource.Resources{
		GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "gatewarden"},
			Spec: gwv1.GatewayClassSpec{ControllerName: "gatewarden.io/gatewarden"}}},
		Gateways: []*gwv1.Gateway{{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "gw"},
			Spec: gwv1.GatewaySpec{GatewayClassName: "gatewarden",
				AllowedListeners: &gwv1.AllowedListeners{Namespaces: &gwv1.ListenerNamespaces{From: ptrTo(gwv1.NamespacesFromAll)}},
				Listeners:        []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType, Hostname: ptrTo(gwv1.Hostname("platform.test"))}}}}},
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range sets {
		s := &gwv1.ListenerSet{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: fmt.Sprintf("set-%02d", i),
			CreationTimestamp: metav1.NewTime(start.Add(time.Duration(i) * time.Minute))},
			Spec: gwv1.ListenerSetSpec{ParentRef: gwv1.ParentGatewayReference{Name: "gw", Namespace: ptrTo(gwv1.Namespace("infra"))}}}
		for j := range perSet {
			s.Spec.Listeners = append(s.Spec.Listeners, gwv1.ListenerEntry{Name: gwv1.SectionName(fmt.Sprintf("l%d", j)),
				Port: 8080, Protocol: gwv1.HTTPProtocolType, Hostname: ptrTo(gwv1.Hostname(fmt.Sprintf("h%d-%d.test", i, j)))})
		}
		in.ListenerSets = append(in.ListenerSets, s)
	}
	// One route on every ListenerSet, so each listener served has a
	// virtual host.
	route := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "app"}}
	for _, s := range in.ListenerSets {
		route.Spec.ParentRefs = append(route.Spec.ParentRefs, gwv1.ParentReference{
			Group: ptrTo(gwv1.Group(gwv1.GroupName)), Kind: ptrTo(gwv1.Kind("ListenerSet")), Name: gwv1.ObjectName(s.Name)})
	}
	route.Spec.Rules = []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
		BackendObjectReference: gwv1.BackendObjectReference{Name: "app", Port: ptrTo(gwv1.PortNumber(80))}}}}}}
	in.HTTPRoutes = []*gwv1.HTTPRoute{route}
	in.Services = []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "app"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}}
	r := translator.Translate(in, translator.Options{})
	accepted, tooMany := 1, 0 // the Gateway's own listener
	for i := range sets {
		st := r.Status.ListenerSets[types.NamespacedName{Namespace: "tenant", Name: fmt.Sprintf("set-%02d", i)}]
		if st == nil {
			t.Fatalf("set-%02d: no status", i)
		}
		setAccepted := 0
		for _, l := range st.Listeners {
			c := meta.FindStatusCondition(l.Conditions, string(gwv1.ListenerConditionAccepted))
			switch {
			case c != nil && c.Status == metav1.ConditionTrue:
				setAccepted++
			case c != nil && c.Reason == string(gwv1.ListenerEntryReasonTooManyListeners):
				tooMany++
			default:
				t.Errorf("set-%02d listener %s: Accepted %+v", i, l.Name, c)
			}
		}
		accepted += setAccepted
		c := meta.FindStatusCondition(st.Conditions, string(gwv1.ListenerSetConditionAccepted))
		if want := setAccepted > 0; c == nil || (c.Status == metav1.ConditionTrue) != want {
			t.Errorf("set-%02d with %d listeners accepted: Accepted %+v", i, setAccepted, c)
		}
	}
	if accepted != translator.MaxGatewayListeners || tooMany != sets*perSet+1-translator.MaxGatewayListeners {
		t.Errorf("%d listeners accepted and %d refused as too many, want %d and %d", accepted, tooMany,
			translator.MaxGatewayListeners, sets*perSet+1-translator.MaxGatewayListeners)
	}
	// The refused listeners are not served: the Gateway's one port has a
	// virtual host for each accepted listener of a ListenerSet (the
	// Gateway's own has no route), and none for the others.
	hosts := 0
	for _, rc := range r.Gateway("infra/gw").Routes {
		hosts += len(rc.VirtualHosts)
	}
	if want := translator.MaxGatewayListeners - 1; hosts != want {
		t.Errorf("%d virtual hosts served, want %d", hosts, want)
	}
}

func ptrTo[T any](v T) *T { return &v }
