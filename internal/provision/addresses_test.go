package provision

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	gwdv1a1 "github.com/gatewarden/gatewarden/pkg/apis/gatewarden/v1alpha1"
)

// TestRequestedIP: the Service asks for the first IPAddress value of the
// Gateway's spec.addresses (the default type is IPAddress); host names and
// empty values are not requested.
func TestRequestedIP(t *testing.T) {
	host, ip := gwv1.HostnameAddressType, gwv1.IPAddressType
	for name, tc := range map[string]struct {
		addrs []gwv1.GatewaySpecAddress
		want  string
	}{
		"none":             {nil, ""},
		"empty value":      {[]gwv1.GatewaySpecAddress{{Type: &ip}}, ""},
		"host name first":  {[]gwv1.GatewaySpecAddress{{Type: &host, Value: "gw.example.org"}, {Value: "100.73.9.9"}}, "100.73.9.9"},
		"first of two IPs": {[]gwv1.GatewaySpecAddress{{Type: &ip, Value: "192.0.2.1"}, {Type: &ip, Value: "100.73.9.9"}}, "192.0.2.1"},
	} {
		t.Run(name, func(t *testing.T) {
			gw := testGateway()
			gw.Spec.Addresses = tc.addrs
			if got := requestedIP(gw); got != tc.want {
				t.Fatalf("requestedIP = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestTakenBy: a Gateway's Service never asks for an address another
// Service has (its load balancer's, cluster or external IPs) or asks for;
// the Gateway's own Service's addresses are its own.
func TestTakenBy(t *testing.T) {
	gw := testGateway() // team-a/web
	svc := func(ns, name, gateway string, mutate func(*corev1.Service)) corev1.Service {
		s := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if gateway != "" {
			s.Labels = map[string]string{LabelGatewayName: gateway}
		}
		mutate(&s)
		return s
	}
	lb := func(ip string) func(*corev1.Service) {
		return func(s *corev1.Service) { s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}} }
	}
	for name, tc := range map[string]struct {
		svcs []corev1.Service
		want string
	}{
		"free":                         {[]corev1.Service{svc("team-b", "other", "", lb("100.73.0.2"))}, ""},
		"own service's":                {[]corev1.Service{svc("team-a", "web-gatewarden", "web", lb("100.73.0.9"))}, ""},
		"another Gateway's":            {[]corev1.Service{svc("team-b", "victim-gatewarden", "victim", lb("100.73.0.9"))}, "team-b/victim-gatewarden"},
		"same name, another namespace": {[]corev1.Service{svc("team-b", "web-gatewarden", "web", lb("100.73.0.9"))}, "team-b/web-gatewarden"},
		"asked for":                    {[]corev1.Service{svc("team-b", "x", "", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "100.73.0.9" })}, "team-b/x"},
		"external IP":                  {[]corev1.Service{svc("team-b", "x", "", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"100.73.0.9"} })}, "team-b/x"},
		"cluster IP":                   {[]corev1.Service{svc("team-b", "x", "", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"100.73.0.9"} })}, "team-b/x"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := takenBy(gw, "100.73.0.9", tc.svcs); got != tc.want {
				t.Fatalf("takenBy = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBuildLoadBalancerIP: the requested address goes to a LoadBalancer
// Service's spec.loadBalancerIP (never to spec.externalIPs); a Service of
// another type asks for none.
func TestBuildLoadBalancerIP(t *testing.T) {
	for name, tc := range map[string]struct {
		typ  *corev1.ServiceType
		want string
	}{
		"load balancer": {nil, "100.73.9.9"},
		"cluster IP":    {ptr.To(corev1.ServiceTypeClusterIP), ""},
	} {
		t.Run(name, func(t *testing.T) {
			res := resolved{provision: true, loadBalancerIP: "100.73.9.9"}
			res.spec.Service = &gwdv1a1.ServiceParameters{Type: tc.typ}
			d, err := build(testGateway(), res, testConfig)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.service.Spec.LoadBalancerIP; got != tc.want {
				t.Fatalf("spec.loadBalancerIP = %q, want %q", got, tc.want)
			}
			if len(d.service.Spec.ExternalIPs) > 0 {
				t.Fatalf("spec.externalIPs = %v, want none", d.service.Spec.ExternalIPs)
			}
		})
	}
}

// TestRequestedByOlder: of two Gateways of gatewarden's that request one
// address, the younger's Service does not ask for it (the older keeps it,
// as the translator decides); Gateways of other controllers, younger ones
// and gw itself do not count.
func TestRequestedByOlder(t *testing.T) {
	gw := testGateway() // team-a/web
	gw.CreationTimestamp = metav1.NewTime(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	other := func(ns, name, class string, created time.Time, addrs ...string) gwv1.Gateway {
		o := gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(created)},
			Spec: gwv1.GatewaySpec{GatewayClassName: gwv1.ObjectName(class)}}
		for _, a := range addrs {
			o.Spec.Addresses = append(o.Spec.Addresses, gwv1.GatewaySpecAddress{Value: a})
		}
		return o
	}
	before, after := gw.CreationTimestamp.Add(-time.Hour), gw.CreationTimestamp.Add(time.Hour)
	owns := func(o *gwv1.Gateway) bool { return o.Spec.GatewayClassName == "gatewarden" }
	for name, tc := range map[string]struct {
		gateways []gwv1.Gateway
		want     string
	}{
		"none":                    {nil, ""},
		"itself":                  {[]gwv1.Gateway{*gw}, ""},
		"older, same address":     {[]gwv1.Gateway{other("team-b", "first", "gatewarden", before, "192.0.2.1", "100.73.0.9")}, "team-b/first"},
		"older, another address":  {[]gwv1.Gateway{other("team-b", "first", "gatewarden", before, "100.73.0.8")}, ""},
		"younger, same address":   {[]gwv1.Gateway{other("team-b", "second", "gatewarden", after, "100.73.0.9")}, ""},
		"older, another class":    {[]gwv1.Gateway{other("team-b", "first", "istio", before, "100.73.0.9")}, ""},
		"as old, earlier by name": {[]gwv1.Gateway{other("team-0", "web", "gatewarden", gw.CreationTimestamp.Time, "100.73.0.9")}, "team-0/web"},
		"as old, later by name":   {[]gwv1.Gateway{other("team-b", "web", "gatewarden", gw.CreationTimestamp.Time, "100.73.0.9")}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			if got := requestedByOlder(gw, "100.73.0.9", tc.gateways, owns); got != tc.want {
				t.Fatalf("requestedByOlder = %q, want %q", got, tc.want)
			}
		})
	}
}
