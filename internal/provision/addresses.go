package provision

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/translator"
)

// A Gateway's requested address (GatewayStaticAddresses) reaches its load
// balancer through the Service's spec.loadBalancerIP, as Istio's and
// Contour's provisioners do. It is deprecated for implementation-specific
// annotations (which GatewayParameters' service.annotations can set), but it
// is the one field every load balancer implementation reads. Not
// spec.externalIPs (Envoy Gateway's choice): kube-proxy on every node
// captures the traffic of an external IP whatever the network says, so a
// Gateway could take any address from its holder (CVE-2020-8554).
//
// The Service asks for one address: the first IPAddress value of
// spec.addresses. The Gateway's status then names it only once the load
// balancer assigned it (translator/addresses.go); another requested address
// makes the Gateway Programmed=False, AddressNotUsable.

// loadBalancerIP is the address gw's Service asks its load balancer for, ""
// when gw requests none, or when another Service has it or asks for it: a
// Gateway's Service never asks for another's address, whatever the load
// balancer would do with the request.
func (p *Provisioner) loadBalancerIP(ctx context.Context, gw *gwv1.Gateway) (string, error) {
	ip := requestedIP(gw)
	if ip == "" {
		return "", nil
	}
	var l corev1.ServiceList
	if err := p.c.List(ctx, &l); err != nil {
		return "", fmt.Errorf("list Services: %w", err)
	}
	if who := takenBy(gw, ip, l.Items); who != "" {
		p.o.Log.Warn("Gateway requests an address another Service has: its Service does not ask for it", "gateway", gw.Namespace+"/"+gw.Name, "address", ip, "service", who)
		return "", nil
	}
	return ip, nil
}

// requestedIP is the first IPAddress value of gw's spec.addresses.
func requestedIP(gw *gwv1.Gateway) string {
	for _, a := range gw.Spec.Addresses {
		if (a.Type == nil || *a.Type == gwv1.IPAddressType) && a.Value != "" {
			return a.Value
		}
	}
	return ""
}

// takenBy names the Service other than gw's own that has or asks for ip,
// or is "".
func takenBy(gw *gwv1.Gateway, ip string, services []corev1.Service) string {
	for i := range services {
		s := &services[i]
		if s.Namespace == gw.Namespace && s.Labels[translator.GatewayServiceLabel] == gw.Name {
			continue
		}
		if slices.Contains(translator.ServiceAddresses(s), ip) {
			return client.ObjectKeyFromObject(s).String()
		}
	}
	return ""
}
