package translator_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
	"github.com/gatewarden/gatewarden/translator"
)

// TestGatewayAddresses checks where a Gateway's published address comes
// from (its labelled Service, else the flag), that a requested address is
// published only when the Gateway really has it (AddressNotUsable
// otherwise), and that BindGatewayAddress binds its listeners there.
func TestGatewayAddresses(t *testing.T) {
	res := loadInput(t, "testdata/gateway-https-listeners.in.yaml")
	for _, tc := range []struct {
		name     string
		spec     string // spec.addresses value, if any
		service  bool   // keep the labelled Service
		opts     translator.Options
		want     []string
		wantBind string
		reason   string // Programmed's
	}{
		{name: "service load balancer", service: true, want: []string{"192.0.2.10", "web.example.net"}, wantBind: "0.0.0.0"},
		{name: "service, bound", service: true, opts: translator.Options{BindGatewayAddress: true}, want: []string{"192.0.2.10", "web.example.net"}, wantBind: "192.0.2.10"},
		{name: "requested, the service's", spec: "192.0.2.10", service: true, opts: translator.Options{BindGatewayAddress: true}, want: []string{"192.0.2.10"}, wantBind: "192.0.2.10"},
		{name: "requested host name, the service's", spec: "web.example.net", service: true, want: []string{"web.example.net"}, wantBind: "0.0.0.0"},
		// The Service's load balancer did not assign it: never published,
		// never bound.
		{name: "requested, not the service's", spec: "198.51.100.7", service: true, opts: translator.Options{BindGatewayAddress: true}, reason: string(gwv1.GatewayReasonAddressNotUsable)},
		{name: "requested, not the service's, unbound", spec: "198.51.100.7", service: true, wantBind: "0.0.0.0", reason: string(gwv1.GatewayReasonAddressNotUsable)},
		{name: "flag last", opts: translator.Options{GatewayAddresses: []string{"gw.example.org"}}, want: []string{"gw.example.org"}, wantBind: "0.0.0.0"},
		// A host name cannot be bound: no listener is served.
		{name: "flag host name, bound", opts: translator.Options{GatewayAddresses: []string{"gw.example.org"}, BindGatewayAddress: true}, want: []string{"gw.example.org"}, reason: string(gwv1.GatewayReasonAddressNotAssigned)},
		{name: "requested, one of the flag's", spec: "203.0.113.5", opts: translator.Options{GatewayAddresses: []string{"gw.example.org", "203.0.113.5"}}, want: []string{"203.0.113.5"}, wantBind: "0.0.0.0"},
		// Listeners on 0.0.0.0: an address the flag does not name is not
		// the Gateway's.
		{name: "requested, not the flag's", spec: "198.51.100.7", opts: translator.Options{GatewayAddresses: []string{"203.0.113.5"}}, wantBind: "0.0.0.0", reason: string(gwv1.GatewayReasonAddressNotUsable)},
		// Bound: the Gateway's Envoys bind the address it asks for.
		{name: "requested, bound", spec: "198.51.100.7", opts: translator.Options{GatewayAddresses: []string{"203.0.113.5"}, BindGatewayAddress: true}, want: []string{"198.51.100.7"}, wantBind: "198.51.100.7"},
		{name: "requested, not an IP", spec: "not-an-ip", opts: translator.Options{BindGatewayAddress: true}, reason: string(gwv1.GatewayReasonAddressNotUsable)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := *res
			in.Gateways = nil
			for _, g := range res.Gateways {
				g = g.DeepCopy()
				if tc.spec != "" {
					typ := gwv1.IPAddressType
					if strings.HasSuffix(tc.spec, ".net") {
						typ = gwv1.HostnameAddressType
					}
					g.Spec.Addresses = append(g.Spec.Addresses, gwv1.GatewaySpecAddress{Type: &typ, Value: tc.spec})
				}
				in.Gateways = append(in.Gateways, g)
			}
			if !tc.service {
				in.Services = nil
				for _, s := range res.Services {
					if s.Labels[translator.GatewayServiceLabel] == "" {
						in.Services = append(in.Services, s)
					}
				}
			}
			r := translator.Translate(&in, tc.opts)
			st := gatewayAddresses(t, r, "infra/web", tc.want)
			reason := cmp.Or(tc.reason, string(gwv1.GatewayReasonProgrammed))
			if c := meta.FindStatusCondition(st.Conditions, string(gwv1.GatewayConditionProgrammed)); c == nil || c.Reason != reason {
				t.Fatalf("Programmed = %+v, want reason %s", c, reason)
			}
			checkListenersBind(t, r.Gateway("infra/web"), tc.wantBind)
		})
	}
}

// TestGatewayAddressPending: a LoadBalancer Service without an address yet
// gives the Gateway none (not the flag's, not a cluster IP) and Programmed
// False with reason AddressNotAssigned; a ClusterIP Service gives its IP.
func TestGatewayAddressPending(t *testing.T) {
	res := loadInput(t, "testdata/gateway-https-listeners.in.yaml")
	for _, tc := range []struct {
		name       string
		svcType    corev1.ServiceType
		want       []string
		programmed metav1.ConditionStatus
		reason     string
	}{
		{"load balancer without address", corev1.ServiceTypeLoadBalancer, nil, metav1.ConditionFalse, string(gwv1.GatewayReasonAddressNotAssigned)},
		{"cluster IP", corev1.ServiceTypeClusterIP, []string{"10.96.0.10"}, metav1.ConditionTrue, string(gwv1.GatewayReasonProgrammed)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := *res
			in.Services = nil
			for _, s := range res.Services {
				if s.Labels[translator.GatewayServiceLabel] != "" {
					s = s.DeepCopy()
					s.Spec.Type = tc.svcType
					s.Spec.ClusterIPs = []string{"10.96.0.10"}
					s.Status.LoadBalancer.Ingress = nil
				}
				in.Services = append(in.Services, s)
			}
			r := translator.Translate(&in, translator.Options{GatewayAddresses: []string{"flag.example.org"}})
			st := gatewayAddresses(t, r, "infra/web", tc.want)
			c := meta.FindStatusCondition(st.Conditions, string(gwv1.GatewayConditionProgrammed))
			if c == nil || c.Status != tc.programmed || c.Reason != tc.reason {
				t.Fatalf("Programmed = %+v, want %s/%s", c, tc.programmed, tc.reason)
			}
		})
	}
}

// TestGatewayAddressTheft: a tenant's Gateway asking for an address that is
// another Gateway's (its Service's load balancer's, even when the tenant's
// own Service got it from a careless load balancer, or requested first by
// an older Gateway) gets Programmed=False, AddressNotUsable, no status entry
// for it and no listener bound there; the owner keeps it, even when another
// Service asks for it (spec.loadBalancerIP). An unsupported
// address type refuses the Gateway (Accepted=False, UnsupportedAddress)
// and nothing of it is served.
func TestGatewayAddressTheft(t *testing.T) {
	in := loadInput(t, "testdata/gateway-addresses.in.yaml")
	r := translator.Translate(in, translator.Options{BindGatewayAddress: true})
	for _, tc := range []struct {
		gateway  string
		want     []string
		accepted metav1.ConditionStatus
		reason   string // Programmed's, or Accepted's when not accepted
		bind     string // "" when nothing may be served
	}{
		{"infra/victim", []string{"100.73.0.5"}, metav1.ConditionTrue, string(gwv1.GatewayReasonProgrammed), "100.73.0.5"},
		{"infra/owner", []string{"100.73.0.7"}, metav1.ConditionTrue, string(gwv1.GatewayReasonProgrammed), "100.73.0.7"},
		{"tenant-b/thief", nil, metav1.ConditionTrue, string(gwv1.GatewayReasonAddressNotUsable), ""},
		{"tenant-c/odd", nil, metav1.ConditionFalse, string(gwv1.GatewayReasonUnsupportedAddress), ""},
		{"tenant-g/claimer", nil, metav1.ConditionTrue, string(gwv1.GatewayReasonAddressNotUsable), ""},
		{"tenant-d/early", []string{"192.0.2.44"}, metav1.ConditionTrue, string(gwv1.GatewayReasonProgrammed), "192.0.2.44"},
		{"tenant-e/late", nil, metav1.ConditionTrue, string(gwv1.GatewayReasonAddressNotUsable), ""},
	} {
		t.Run(tc.gateway, func(t *testing.T) {
			st := gatewayAddresses(t, r, tc.gateway, tc.want)
			acc := meta.FindStatusCondition(st.Conditions, string(gwv1.GatewayConditionAccepted))
			prog := meta.FindStatusCondition(st.Conditions, string(gwv1.GatewayConditionProgrammed))
			if acc == nil || acc.Status != tc.accepted {
				t.Fatalf("Accepted = %+v, want %s", acc, tc.accepted)
			}
			if c := map[bool]*metav1.Condition{true: acc, false: prog}[tc.accepted == metav1.ConditionFalse]; c.Reason != tc.reason {
				t.Fatalf("reason %s (%s), want %s", c.Reason, c.Message, tc.reason)
			}
			checkListenersBind(t, r.Gateway(tc.gateway), tc.bind)
		})
	}
}

// gatewayAddresses checks that the status of the Gateway "namespace/name"
// in r publishes the addresses want, in that order, and returns it.
func gatewayAddresses(t *testing.T, r *translator.Result, gateway string, want []string) *gwv1.GatewayStatus {
	t.Helper()
	ns, name, _ := strings.Cut(gateway, "/")
	st := r.Status.Gateways[types.NamespacedName{Namespace: ns, Name: name}]
	if st == nil {
		t.Fatalf("%s: no status", gateway)
	}
	var got []string
	for _, a := range st.Addresses {
		got = append(got, a.Value)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: status.addresses = %v, want %v", gateway, got, want)
	}
	return st
}

// checkListenersBind checks that every listener of gc binds the address
// want, and that none is served when want is "" (nothing may be bound).
func checkListenersBind(t *testing.T, gc *xdsconfig.GatewayConfig, want string) {
	t.Helper()
	if want == "" && len(gc.Listeners) > 0 {
		t.Fatalf("%d listeners served, want none", len(gc.Listeners))
	}
	if want != "" && len(gc.Listeners) == 0 {
		t.Fatalf("no listener served, want them on %s", want)
	}
	for _, l := range gc.Listeners {
		if bind := l.GetAddress().GetSocketAddress().GetAddress(); bind != want {
			t.Errorf("listener %s binds %s, want %s", l.Name, bind, want)
		}
	}
}

// TestAddressTakenNamesTheFirstTaker: when several Services take an address
// a Gateway requests, the first in input order is named, whether it has the
// address or asks for it; the Gateway's own labelled Service is never a
// taker, and once the Gateway holds the address only a Service that has it
// takes it, not one that asks for it.
func TestAddressTakenNamesTheFirstTaker(t *testing.T) {
	gw := func(ns, name string, addrs ...string) *gwv1.Gateway {
		g := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: gwv1.GatewaySpec{GatewayClassName: "gatewarden",
				Listeners: []gwv1.Listener{{Name: "http", Port: 8080, Protocol: gwv1.HTTPProtocolType}}}}
		for _, a := range addrs {
			g.Spec.Addresses = append(g.Spec.Addresses, gwv1.GatewaySpecAddress{Value: a})
		}
		return g
	}
	svc := func(ns, name, gateway string, spec corev1.ServiceSpec) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
		if gateway != "" {
			s.Labels = map[string]string{translator.GatewayServiceLabel: gateway}
		}
		return s
	}
	in := &resource.Resources{
		GatewayClasses: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: "gatewarden"},
			Spec: gwv1.GatewayClassSpec{ControllerName: "gatewarden.io/gatewarden"}}},
		Gateways: []*gwv1.Gateway{gw("infra", "held", "10.0.0.1"), gw("infra", "wanted", "10.0.0.2")},
		Services: []*corev1.Service{
			// held's own Service has 10.0.0.1.
			svc("infra", "held-gatewarden", "held", corev1.ServiceSpec{ClusterIP: "10.0.0.1", ClusterIPs: []string{"10.0.0.1"}}),
			// wanted's own Service asks for 10.0.0.2 and has another address.
			svc("infra", "wanted-gatewarden", "wanted", corev1.ServiceSpec{ClusterIP: "10.0.0.20", LoadBalancerIP: "10.0.0.2"}),
			svc("apps", "asks-held", "", corev1.ServiceSpec{LoadBalancerIP: "10.0.0.1"}),
			svc("apps", "asks-wanted", "", corev1.ServiceSpec{LoadBalancerIP: "10.0.0.2"}),
			svc("apps", "has-held", "", corev1.ServiceSpec{ExternalIPs: []string{"10.0.0.1"}}),
			svc("apps", "has-wanted", "", corev1.ServiceSpec{ExternalIPs: []string{"10.0.0.2"}}),
		},
	}
	r := translator.Translate(in, translator.Options{})
	for gateway, want := range map[string]string{
		"held":   "10.0.0.1 is an address of Service apps/has-held",
		"wanted": "10.0.0.2 is asked for by Service apps/asks-wanted (spec.loadBalancerIP)",
	} {
		st := r.Status.Gateways[types.NamespacedName{Namespace: "infra", Name: gateway}]
		if st == nil {
			t.Fatalf("%s: no status", gateway)
		}
		c := meta.FindStatusCondition(st.Conditions, string(gwv1.GatewayConditionProgrammed))
		if c == nil || c.Reason != string(gwv1.GatewayReasonAddressNotUsable) || !strings.Contains(c.Message, want) {
			t.Errorf("%s: Programmed = %+v, want AddressNotUsable saying %q", gateway, c, want)
		}
	}
}
