package provision

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
// when gw requests none, or when another Service has it or asks for it, or
// an older Gateway of gatewarden's requests it: a Gateway's Service never
// asks for another's address, whatever the load balancer would do with the
// request.
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
	var gl gwv1.GatewayList
	if err := p.c.List(ctx, &gl); err != nil {
		return "", fmt.Errorf("list Gateways: %w", err)
	}
	// Which classes are gatewarden's, read before deciding: a class that
	// cannot be read fails the reconcile (it is retried) rather than be
	// taken for another controller's, which would let gw ask.
	owned := map[gwv1.ObjectName]bool{}
	for i := range gl.Items {
		name := gl.Items[i].Spec.GatewayClassName
		if _, done := owned[name]; done {
			continue
		}
		gc := &gwv1.GatewayClass{}
		switch err := p.c.Get(ctx, client.ObjectKey{Name: string(name)}, gc); {
		case err == nil:
			owned[name] = string(gc.Spec.ControllerName) == p.o.ControllerName
		case apierrors.IsNotFound(err):
			owned[name] = false
		default:
			return "", fmt.Errorf("read GatewayClass %s: %w", name, err)
		}
	}
	owns := func(o *gwv1.Gateway) bool { return owned[o.Spec.GatewayClassName] }
	if who := requestedByOlder(gw, ip, gl.Items, owns); who != "" {
		p.o.Log.Warn("Gateway requests an address an older Gateway requests: its Service does not ask for it", "gateway", gw.Namespace+"/"+gw.Name, "address", ip, "older", who)
		return "", nil
	}
	return ip, nil
}

// requestedByOlder names a Gateway of gatewarden's (owns) older than gw
// that requests ip too, or is "": the older keeps an address two Gateways
// ask for (translator.OlderGateway), so the younger's Service does not ask
// its load balancer for it, even when the older's Service has not asked yet.
func requestedByOlder(gw *gwv1.Gateway, ip string, gateways []gwv1.Gateway, owns func(*gwv1.Gateway) bool) string {
	for i := range gateways {
		o := &gateways[i]
		if o.Namespace == gw.Namespace && o.Name == gw.Name || translator.OlderGateway(o, gw) >= 0 {
			continue
		}
		if slices.ContainsFunc(o.Spec.Addresses, func(a gwv1.GatewaySpecAddress) bool { return a.Value == ip }) && owns(o) {
			return client.ObjectKeyFromObject(o).String()
		}
	}
	return ""
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
