package translator_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/translator"
)

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
