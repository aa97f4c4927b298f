package translator_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
	"github.com/gatewarden/gatewarden/translator"
)

// TestListenerSetInheritsGatewayPolicy checks, on the translation of
// testdata/listenerset.in.yaml, that every virtual host a tenant's
// ListenerSet adds carries the platform's JWT requirement (never the
// tenant's provider) and the RBAC of the listener whose hosts it takes,
// that the tenant's RouteOption does not turn JWT off there, and that the
// ListenerSet of a namespace the Gateway does not select adds nothing.
func TestListenerSetInheritsGatewayPolicy(t *testing.T) {
	res, gc := translateInput(t, "testdata/listenerset.in.yaml", "infra/gw")
	vhosts := map[string]*routev3.VirtualHost{}
	for _, rc := range gc.Routes {
		for _, vh := range rc.VirtualHosts {
			vhosts[rc.Name+" "+vh.Name] = vh
		}
	}
	for key, wantRBAC := range map[string]string{
		"http-8080 tenant.test": "tenant-team",   // the Gateway sets no RBAC: the ListenerSet's option may
		"http-9080 *":           "tenant-team",   // a port of the ListenerSet's own
		"http-8080 x.wild.test": "platform-team", // inside *.wild.test: its RBAC, not the tenant's
	} {
		vh := vhosts[key]
		if vh == nil {
			t.Errorf("%s: no virtual host", key)
			continue
		}
		var jwtCfg jwtauthnv3.PerRouteConfig
		if err := vh.TypedPerFilterConfig[xdsconfig.JWTAuthnFilter].UnmarshalTo(&jwtCfg); err != nil {
			t.Errorf("%s: no JWT requirement: %v", key, err)
		} else if req := jwtCfg.GetRequirementName(); !strings.Contains(req, "infra/platform-jwt") {
			t.Errorf("%s: JWT requirement %q, want the platform's (infra/platform-jwt)", key, req)
		}
		var rbacCfg rbacv3.RBACPerRoute
		if err := vh.TypedPerFilterConfig[xdsconfig.RBACFilter].UnmarshalTo(&rbacCfg); err != nil {
			t.Errorf("%s: no RBAC: %v", key, err)
		} else if _, ok := rbacCfg.GetRbac().GetRules().GetPolicies()[wantRBAC]; !ok {
			t.Errorf("%s: RBAC policies %v, want %s", key, rbacCfg.GetRbac().GetRules().GetPolicies(), wantRBAC)
		}
		for _, r := range vh.Routes {
			if strings.HasPrefix(r.Name, "tenant/open/") && r.GetDirectResponse().GetStatus() != 500 {
				t.Errorf("%s: route %s, whose RouteOption turns JWT off, is served: %v", key, r.Name, r.Action)
			}
			if _, ok := r.TypedPerFilterConfig[xdsconfig.JWTAuthnFilter]; ok {
				t.Errorf("%s: route %s overrides the JWT requirement", key, r.Name)
			}
		}
	}
	for key := range vhosts {
		if strings.Contains(key, "other.test") {
			t.Errorf("the refused ListenerSet's hostname has a virtual host: %s", key)
		}
	}
	st := res.Status.ListenerSets[types.NamespacedName{Namespace: "other", Name: "ls"}]
	if st == nil || len(st.Conditions) == 0 || st.Conditions[0].Reason != "NotAllowed" {
		t.Errorf("other/ls status %+v, want Accepted=False NotAllowed", st)
	}
}

// TestListenerSetRejectedWithItsGateway: when an Envoy rejects a Gateway's
// configuration, the ListenerSets attached to it are not Programmed either;
// the original status is left as it was.
func TestListenerSetRejectedWithItsGateway(t *testing.T) {
	res := translator.Translate(loadInput(t, "testdata/listenerset.in.yaml"), translator.Options{})
	key := types.NamespacedName{Namespace: "tenant", Name: "ls"}
	rejected := res.Status.WithRejected("infra", "gw", "bad listener")
	programmed := func(s *translator.Status) string {
		for _, c := range s.ListenerSets[key].Conditions {
			if c.Type == "Programmed" {
				return string(c.Status) + " " + c.Reason
			}
		}
		return "none"
	}
	if got := programmed(rejected); got != "False Invalid" {
		t.Errorf("rejected: ListenerSet Programmed %s, want False Invalid", got)
	}
	if got := programmed(res.Status); got != "True Programmed" {
		t.Errorf("original: ListenerSet Programmed %s, want True Programmed (unchanged)", got)
	}
}

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
				AllowedListeners: &gwv1.AllowedListeners{Namespaces: &gwv1.ListenerNamespaces{From: ptr.To(gwv1.NamespacesFromAll)}},
				Listeners:        []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType, Hostname: ptr.To(gwv1.Hostname("platform.test"))}}}}},
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range sets {
		s := &gwv1.ListenerSet{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: fmt.Sprintf("set-%02d", i),
			CreationTimestamp: metav1.NewTime(start.Add(time.Duration(i) * time.Minute))},
			Spec: gwv1.ListenerSetSpec{ParentRef: gwv1.ParentGatewayReference{Name: "gw", Namespace: ptr.To(gwv1.Namespace("infra"))}}}
		for j := range perSet {
			s.Spec.Listeners = append(s.Spec.Listeners, gwv1.ListenerEntry{Name: gwv1.SectionName(fmt.Sprintf("l%d", j)),
				Port: 8080, Protocol: gwv1.HTTPProtocolType, Hostname: ptr.To(gwv1.Hostname(fmt.Sprintf("h%d-%d.test", i, j)))})
		}
		in.ListenerSets = append(in.ListenerSets, s)
	}
	// One route on every ListenerSet, so each listener served has a
	// virtual host.
	route := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "tenant", Name: "app"}}
	for _, s := range in.ListenerSets {
		route.Spec.ParentRefs = append(route.Spec.ParentRefs, gwv1.ParentReference{
			Group: ptr.To(gwv1.Group(gwv1.GroupName)), Kind: ptr.To(gwv1.Kind("ListenerSet")), Name: gwv1.ObjectName(s.Name)})
	}
	route.Spec.Rules = []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{
		BackendObjectReference: gwv1.BackendObjectReference{Name: "app", Port: ptr.To(gwv1.PortNumber(80))}}}}}}
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
