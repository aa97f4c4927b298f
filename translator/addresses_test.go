package translator_test

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/translator"
)

// TestGatewayAddresses checks where a Gateway's published address comes
// from (spec.addresses, else its labelled Service, else the flag) and that
// BindGatewayAddress binds its listeners there.
func TestGatewayAddresses(t *testing.T) {
	res := loadInput(t, "testdata/gateway-https-listeners.in.yaml")
	for _, tc := range []struct {
		name     string
		spec     string // spec.addresses value, if any
		service  bool   // keep the labelled Service
		opts     translator.Options
		want     []string
		wantBind string
	}{
		{name: "service load balancer", service: true, want: []string{"192.0.2.10", "web.example.net"}, wantBind: "0.0.0.0"},
		{name: "service, bound", service: true, opts: translator.Options{BindGatewayAddress: true}, want: []string{"192.0.2.10", "web.example.net"}, wantBind: "192.0.2.10"},
		{name: "spec.addresses first", spec: "198.51.100.7", service: true, opts: translator.Options{BindGatewayAddress: true}, want: []string{"198.51.100.7"}, wantBind: "198.51.100.7"},
		{name: "flag last", opts: translator.Options{GatewayAddresses: []string{"gw.example.org"}}, want: []string{"gw.example.org"}, wantBind: "0.0.0.0"},
		// A host name cannot be bound: no listener is served.
		{name: "flag, bound", opts: translator.Options{GatewayAddresses: []string{"gw.example.org"}, BindGatewayAddress: true}, want: []string{"gw.example.org"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := *res
			in.Gateways = nil
			for _, g := range res.Gateways {
				g = g.DeepCopy()
				if tc.spec != "" {
					g.Spec.Addresses = append(g.Spec.Addresses, gwv1.GatewaySpecAddress{Value: tc.spec})
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
			st := r.Status.Gateways[types.NamespacedName{Namespace: "infra", Name: "web"}]
			var got []string
			for _, a := range st.Addresses {
				got = append(got, a.Value)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("addresses = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("addresses = %v, want %v", got, tc.want)
				}
			}
			gc := r.Gateway("infra/web")
			if tc.wantBind == "" && len(gc.Listeners) > 0 {
				t.Fatalf("%d listeners served without an IP address to bind", len(gc.Listeners))
			}
			for _, l := range gc.Listeners {
				if bind := l.GetAddress().GetSocketAddress().GetAddress(); bind != tc.wantBind {
					t.Errorf("listener %s binds %s, want %s", l.Name, bind, tc.wantBind)
				}
			}
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
			st := r.Status.Gateways[types.NamespacedName{Namespace: "infra", Name: "web"}]
			var got []string
			for _, a := range st.Addresses {
				got = append(got, a.Value)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("addresses = %v, want %v", got, tc.want)
			}
			c := meta.FindStatusCondition(st.Conditions, string(gwv1.GatewayConditionProgrammed))
			if c == nil || c.Status != tc.programmed || c.Reason != tc.reason {
				t.Fatalf("Programmed = %+v, want %s/%s", c, tc.programmed, tc.reason)
			}
		})
	}
}
