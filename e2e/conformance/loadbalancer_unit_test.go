package conformance

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestLoadBalancerRequested: the stand-in load balancer gives a Service the
// address it asks for only when that address is in its range and no other
// Service has it, and hands out dynamic addresses that are neither taken
// nor the one the suite asks for.
func TestLoadBalancerRequested(t *testing.T) {
	lb := newLoadBalancer(nil)
	taken := netip.MustParseAddr("100.73.0.1")
	lb.services["other"] = &lbService{key: types.NamespacedName{Namespace: "b", Name: "victim"}, vip: taken}
	svc := func(uid types.UID, ip string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{UID: uid}, Spec: corev1.ServiceSpec{LoadBalancerIP: ip}}
	}
	for name, tc := range map[string]struct {
		svc     *corev1.Service
		want    string // the address given, "" for a dynamic one
		refusal string // a part of the refusal
	}{
		"none asked":        {svc("a", ""), "", ""},
		"usable":            {svc("a", lbUsable.String()), lbUsable.String(), ""},
		"outside the range": {svc("a", lbUnusable.String()), "", "not in the load balancer's range"},
		"the range's base":  {svc("a", "100.73.0.0"), "", "not in the load balancer's range"},
		"another Service's": {svc("a", taken.String()), "", "is Service b/victim's"},
		"its own":           {svc("other", taken.String()), taken.String(), ""},
		"not an IP":         {svc("a", "lb.example.org"), "", "is not an IP address"},
	} {
		t.Run(name, func(t *testing.T) {
			ip, refusal := lb.requested(tc.svc)
			if tc.refusal == "" && refusal != "" || !strings.Contains(refusal, tc.refusal) {
				t.Fatalf("refusal %q, want one with %q", refusal, tc.refusal)
			}
			got := ""
			if ip.IsValid() {
				got = ip.String()
			}
			if got != tc.want {
				t.Fatalf("address %q, want %q", got, tc.want)
			}
		})
	}
	lb.services["usable"] = &lbService{vip: netip.MustParseAddr("100.73.0.2")}
	vip, err := lb.allocate()
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddr("100.73.0.3"); vip != want {
		t.Fatalf("allocated %s, want %s (the first free one)", vip, want)
	}
	lb.next = lbUsable
	if vip, err := lb.allocate(); err != nil || vip == lbUsable {
		t.Fatalf("allocated %s (%v): the address the suite asks for is never dynamic", vip, err)
	}
}
