package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/pkg/source/kube"
)

// TestKubernetesProvisionedAddresses applies, to a real API server with
// gatewarden --provision, the Gateway a hostile tenant would write to take
// another Gateway's address, and checks that its Service never asks the
// load balancer for it, that its status never names it (even once a
// careless load balancer assigned it) and that it says AddressNotUsable;
// that an honest request becomes the Service's spec.loadBalancerIP and is
// published once assigned; that a Gateway asking for an address by a load
// balancer's annotation is refused (InvalidParameters) and gets no Service;
// and that an unsupported address type refuses the Gateway
// (UnsupportedAddress).
func TestKubernetesProvisionedAddresses(t *testing.T) {
	k := startKube(t)
	c, err := crclient.New(k.cfg, crclient.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"gatewarden-system", "team-a", "team-b"} {
		k.kubectl("", "create", "namespace", ns)
	}
	k.startGatewarden(k.kubeconfig, "--provision")
	ctx := context.Background()
	k.kubectl(provisionClass, "apply", "-f-")
	k.waitCondition("gatewayclass", "", "gatewarden", ".status", "Accepted", "True")

	gateway := func(ns, name, addresses string) string {
		return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: %s, namespace: %s}
spec:
  gatewayClassName: gatewarden
  addresses: %s
  listeners:
  - {name: http, protocol: HTTP, port: 8080}
`, name, ns, addresses)
	}
	service := func(ns, gw string) *corev1.Service {
		t.Helper()
		svc := &corev1.Service{}
		eventually(t, 10*time.Second, "the Service of Gateway "+ns+"/"+gw, func() string {
			if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: gw + "-gatewarden"}, svc); err != nil {
				return err.Error()
			}
			return ""
		})
		return svc
	}
	assign := func(svc *corev1.Service, ip string) {
		t.Helper()
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
		if err := c.Status().Update(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	status := func(ns, name, want string) {
		t.Helper()
		eventually(t, 10*time.Second, fmt.Sprintf("Gateway %s/%s: %s", ns, name, want), func() string {
			got := k.kubectl("", "get", "gateway", name, "-n", ns, "-o",
				`jsonpath={.status.conditions[?(@.type=="Accepted")].reason} {.status.conditions[?(@.type=="Programmed")].reason} [{.status.addresses[*].value}]`)
			if got != want {
				return fmt.Sprintf("got %q", got)
			}
			return ""
		})
	}

	// The victim's address, as a cloud's controller writes it.
	k.kubectl(gateway("team-a", "victim", "[]"), "apply", "-f-")
	assign(service("team-a", "victim"), "203.0.113.10")
	status("team-a", "victim", "Accepted Pending [203.0.113.10]")

	// The thief asks for it: its Service does not ask the load balancer.
	k.kubectl(gateway("team-b", "thief", "[{type: IPAddress, value: 203.0.113.10}]"), "apply", "-f-")
	thief := service("team-b", "thief")
	status("team-b", "thief", "Accepted AddressNotUsable []")
	if err := c.Get(ctx, crclient.ObjectKeyFromObject(thief), thief); err != nil {
		t.Fatal(err)
	}
	if thief.Spec.LoadBalancerIP != "" || len(thief.Spec.ExternalIPs) > 0 {
		t.Fatalf("thief's Service asks for loadBalancerIP %q, externalIPs %v: want none", thief.Spec.LoadBalancerIP, thief.Spec.ExternalIPs)
	}
	// A careless load balancer gives it anyway: still not the thief's.
	assign(thief, "203.0.113.10")
	time.Sleep(time.Second) // a translation with the assigned address
	status("team-b", "thief", "Accepted AddressNotUsable []")
	status("team-a", "victim", "Accepted Pending [203.0.113.10]")

	// An honest request: asked of the load balancer, published once given.
	k.kubectl(gateway("team-b", "honest", "[{type: IPAddress, value: 203.0.113.77}]"), "apply", "-f-")
	honest := service("team-b", "honest")
	eventually(t, 10*time.Second, "honest's Service asks for 203.0.113.77", func() string {
		if err := c.Get(ctx, crclient.ObjectKeyFromObject(honest), honest); err != nil {
			return err.Error()
		}
		if honest.Spec.LoadBalancerIP != "203.0.113.77" {
			return fmt.Sprintf("spec.loadBalancerIP %q", honest.Spec.LoadBalancerIP)
		}
		return ""
	})
	status("team-b", "honest", "Accepted AddressNotAssigned []")
	assign(honest, "203.0.113.77")
	status("team-b", "honest", "Accepted Pending [203.0.113.77]")

	// The victim's address asked of the load balancer by annotation, past
	// the check of spec.addresses: refused, and no Service is made that
	// would carry it.
	k.kubectl(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: annotated, namespace: team-b}
spec:
  gatewayClassName: gatewarden
  infrastructure: {annotations: {metallb.io/loadBalancerIPs: 203.0.113.10}}
  listeners:
  - {name: http, protocol: HTTP, port: 8080}
`, "apply", "-f-")
	eventually(t, 10*time.Second, "Gateway team-b/annotated: InvalidParameters naming the annotation", func() string {
		got := k.kubectl("", "get", "gateway", "annotated", "-n", "team-b", "-o",
			`jsonpath={.status.conditions[?(@.type=="Accepted")].reason}: {.status.conditions[?(@.type=="Accepted")].message}`)
		if !strings.HasPrefix(got, "InvalidParameters: ") || !strings.Contains(got, `"metallb.io/loadBalancerIPs" asks a load balancer for an address`) {
			return fmt.Sprintf("got %q", got)
		}
		return ""
	})
	if err := c.Get(ctx, types.NamespacedName{Namespace: "team-b", Name: "annotated-gatewarden"}, &corev1.Service{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the annotated Gateway's Service: %v, want not found", err)
	}

	// A type gatewarden does not support refuses the Gateway.
	k.kubectl(gateway("team-b", "odd", `[{type: example.com/custom, value: "anything"}]`), "apply", "-f-")
	status("team-b", "odd", "UnsupportedAddress Invalid []")
}
