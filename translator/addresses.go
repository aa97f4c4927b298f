package translator

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// GatewayServiceLabel marks the Service that exposes a Gateway's Envoys (the
// Gateway API's infrastructure label); its load balancer addresses are the
// Gateway's.
const GatewayServiceLabel = "gateway.networking.k8s.io/gateway-name"

// supportedAddressTypes are the spec.addresses types gatewarden can check
// against what a Gateway really has; any other makes the Gateway
// Accepted=False, UnsupportedAddress.
var supportedAddressTypes = []gwv1.AddressType{gwv1.IPAddressType, gwv1.HostnameAddressType}

// gatewayAddrs is what gatewarden knows of one Gateway's addresses.
type gatewayAddrs struct {
	// published go to status.addresses: only addresses the Gateway really
	// has, never one it merely asks for.
	published []gwv1.GatewayStatusAddress
	// unsupported says why the Gateway is not accepted (a spec.addresses
	// type gatewarden does not support).
	unsupported string
	// notUsable says which requested addresses the Gateway cannot have
	// (Programmed=False, AddressNotUsable).
	notUsable string
	// pending says which load balancer has not assigned an address yet
	// (Programmed=False, AddressNotAssigned).
	pending string
}

// gatewayAddresses decides g's status.addresses. What g has:
//   - with a Service labelled with g's name in g's namespace (the one
//     provisioning makes, or one made by hand): its load balancer's
//     addresses for a LoadBalancer Service, its cluster IPs otherwise;
//   - else the addresses gatewarden was started with (--gateway-address)
//     and, with BindGatewayAddress, the IP addresses g requests (its
//     Envoys bind them: Envoy refuses an address the host does not have).
//
// g's spec.addresses are requests: each is published only when g has it,
// and no other Service has it and no older Gateway of gatewarden's asks for
// it (what a tenant asks for is never enough to make an address its own).
// A request that cannot be met is said in notUsable; without requests, what
// g has is published.
func (t *translation) gatewayAddresses(g *gwv1.Gateway) gatewayAddrs {
	var out gatewayAddrs
	where := fmt.Sprintf("Gateway %s/%s", g.Namespace, g.Name)
	var requested []string
	for i, a := range g.Spec.Addresses {
		typ := ptrOr(a.Type, gwv1.IPAddressType)
		if !slices.Contains(supportedAddressTypes, typ) {
			out.unsupported = fmt.Sprintf("%s spec.addresses[%d]: type %q (value %q) is not supported; supported: IPAddress, Hostname", where, i, typ, a.Value)
			return out
		}
		if a.Value == "" {
			continue // any address will do (GatewayAddressEmpty)
		}
		if typ == gwv1.IPAddressType && net.ParseIP(a.Value) == nil {
			out.notUsable = fmt.Sprintf("%s spec.addresses[%d]: %q is not an IP address", where, i, a.Value)
			return out
		}
		requested = append(requested, a.Value)
	}
	svc := t.gatewayService(g)
	var held []string
	switch {
	case svc == nil:
		held = t.opts.GatewayAddresses
	case svc.Spec.Type == corev1.ServiceTypeLoadBalancer:
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if v := cmp.Or(in.IP, in.Hostname); v != "" {
				held = append(held, v)
			}
		}
	default:
		for _, ip := range svc.Spec.ClusterIPs {
			if ip != "" && ip != corev1.ClusterIPNone {
				held = append(held, ip)
			}
		}
	}
	lbPending := svc != nil && svc.Spec.Type == corev1.ServiceTypeLoadBalancer && len(held) == 0
	if len(requested) == 0 {
		if lbPending {
			out.pending = fmt.Sprintf("Service %s/%s has no load balancer address yet", svc.Namespace, svc.Name)
		}
		out.published = statusAddresses(held)
		return out
	}
	var refused, waiting, usable []string
	for _, v := range requested {
		if why := t.addressTaken(g, v, slices.Contains(held, v)); why != "" {
			refused = append(refused, fmt.Sprintf("%s %s", v, why))
			continue
		}
		switch {
		case slices.Contains(held, v):
			usable = append(usable, v)
		case svc == nil && t.opts.BindGatewayAddress && net.ParseIP(v) != nil:
			usable = append(usable, v) // its Envoys bind it
		case svc == nil:
			refused = append(refused, fmt.Sprintf("%s is not among gatewarden's --gateway-address values %v", v, held))
		case svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerIP != "" && svc.Spec.LoadBalancerIP != v:
			refused = append(refused, fmt.Sprintf("%s cannot be assigned: Service %s/%s asks its load balancer for spec.loadBalancerIP %s only (request one IP address)", v, svc.Namespace, svc.Name, svc.Spec.LoadBalancerIP))
		case lbPending:
			waiting = append(waiting, v)
		case svc.Spec.Type == corev1.ServiceTypeLoadBalancer:
			refused = append(refused, fmt.Sprintf("%s was not assigned by the load balancer of Service %s/%s (its addresses: %s)", v, svc.Namespace, svc.Name, strings.Join(held, ", ")))
		default:
			refused = append(refused, fmt.Sprintf("%s is not an address of Service %s/%s (type %s, addresses %s)", v, svc.Namespace, svc.Name, svc.Spec.Type, strings.Join(held, ", ")))
		}
	}
	if len(refused) > 0 {
		out.notUsable = fmt.Sprintf("%s spec.addresses: %s", where, strings.Join(refused, "; "))
	}
	if len(waiting) > 0 {
		out.pending = fmt.Sprintf("Service %s/%s has no load balancer address yet (requested: %s)", svc.Namespace, svc.Name, strings.Join(waiting, ", "))
	}
	out.published = statusAddresses(usable)
	return out
}

// gatewayService is the Service labelled with g's name in g's namespace
// (the first in input order when there are several), or nil.
func (t *translation) gatewayService(g *gwv1.Gateway) *corev1.Service {
	return t.addressIndex().gatewayService[nn(g.Namespace, g.Name)]
}

// addressTaken says why g may not have address v ("" when it may): another
// Service has it (its load balancer's, cluster or external IPs), or, when
// g does not hold it already, another Service asks for it
// (spec.loadBalancerIP) or an older Gateway of gatewarden's does. Services
// labelled for g are g's own. Asking for an address g holds takes nothing
// from g: anyone may write a spec.loadBalancerIP. The first such Service
// in input order is named, else the first such Gateway.
func (t *translation) addressTaken(g *gwv1.Gateway, v string, holds bool) string {
	ai := t.requests()
	first := -1 // position in t.in.Services of the first Service that takes v
	consider := func(positions []int) {
		for _, i := range positions {
			if first >= 0 && i >= first {
				return // positions are increasing
			}
			s := t.in.Services[i]
			if s.Namespace == g.Namespace && s.Labels[GatewayServiceLabel] == g.Name {
				continue
			}
			first = i
			return
		}
	}
	consider(ai.assigned[v])
	if !holds {
		consider(ai.asked[v])
	}
	if first >= 0 {
		s := t.in.Services[first]
		if slices.Contains(assignedAddresses(s), v) {
			return fmt.Sprintf("is an address of Service %s/%s", s.Namespace, s.Name)
		}
		return fmt.Sprintf("is asked for by Service %s/%s (spec.loadBalancerIP)", s.Namespace, s.Name)
	}
	if holds {
		return ""
	}
	for _, o := range ai.requested[v] {
		if o != g && OlderGateway(o, g) < 0 {
			return fmt.Sprintf("is requested by Gateway %s/%s, which is older", o.Namespace, o.Name)
		}
	}
	return ""
}

// addressIndex holds, for the Gateways' addresses, what would otherwise be
// found by scanning every Service for every Gateway: built on first use,
// once per translation (the addresses only when a Gateway requests one).
type addressIndex struct {
	// gatewayService is each Gateway's labelled Service, the first in
	// input order.
	gatewayService map[types.NamespacedName]*corev1.Service
	// assigned and asked are, for each address, the positions in
	// in.Services (increasing) of the Services that have it and of those
	// that ask for it by spec.loadBalancerIP.
	assigned, asked map[string][]int
	// requested are, for each address, the Gateways of gatewarden's
	// classes that ask for it, in input order.
	requested map[string][]*gwv1.Gateway
}

func (t *translation) addressIndex() *addressIndex {
	if t.addrs == nil {
		ai := &addressIndex{gatewayService: map[types.NamespacedName]*corev1.Service{}}
		for _, s := range t.in.Services {
			if name, ok := s.Labels[GatewayServiceLabel]; ok {
				k := nn(s.Namespace, name)
				if _, dup := ai.gatewayService[k]; !dup {
					ai.gatewayService[k] = s
				}
			}
		}
		t.addrs = ai
	}
	return t.addrs
}

// requests is addressIndex with its addresses, indexed on first use: only
// Gateways that request addresses need them.
func (t *translation) requests() *addressIndex {
	ai := t.addressIndex()
	if ai.assigned != nil {
		return ai
	}
	ai.assigned, ai.asked, ai.requested = map[string][]int{}, map[string][]int{}, map[string][]*gwv1.Gateway{}
	for i, s := range t.in.Services {
		for _, v := range assignedAddresses(s) {
			if p := ai.assigned[v]; len(p) == 0 || p[len(p)-1] != i {
				ai.assigned[v] = append(p, i)
			}
		}
		if v := s.Spec.LoadBalancerIP; v != "" {
			ai.asked[v] = append(ai.asked[v], i)
		}
	}
	for _, o := range t.in.Gateways {
		if !t.ownsClass(o.Spec.GatewayClassName) {
			continue
		}
		for _, a := range o.Spec.Addresses {
			if p := ai.requested[a.Value]; len(p) == 0 || p[len(p)-1] != o {
				ai.requested[a.Value] = append(p, o)
			}
		}
	}
	return ai
}

// OlderGateway orders Gateways the way an address two of them ask for is
// settled: the older first, then by namespace and name.
func OlderGateway(a, b *gwv1.Gateway) int {
	if ta, tb := a.CreationTimestamp, b.CreationTimestamp; !ta.Equal(&tb) {
		if ta.Before(&tb) {
			return -1
		}
		return 1
	}
	return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
}

// ServiceAddresses are every address Service s has or asks for: its load
// balancer's, its cluster and external IPs and its spec.loadBalancerIP.
func ServiceAddresses(s *corev1.Service) []string {
	out := assignedAddresses(s)
	if s.Spec.LoadBalancerIP != "" {
		out = append(out, s.Spec.LoadBalancerIP)
	}
	return out
}

// assignedAddresses are the addresses traffic for Service s goes to: its
// load balancer's, its cluster IPs and its external IPs (which kube-proxy
// captures on every node).
func assignedAddresses(s *corev1.Service) []string {
	var out []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		out = append(out, in.IP, in.Hostname)
	}
	out = append(out, s.Spec.ClusterIPs...)
	out = append(out, s.Spec.ClusterIP)
	out = append(out, s.Spec.ExternalIPs...)
	return slices.DeleteFunc(out, func(v string) bool { return v == "" || v == corev1.ClusterIPNone })
}

// statusAddresses types each value: IPAddress when it parses as one,
// Hostname otherwise.
func statusAddresses(values []string) []gwv1.GatewayStatusAddress {
	var out []gwv1.GatewayStatusAddress
	for _, a := range values {
		if a == "" {
			continue
		}
		typ := gwv1.HostnameAddressType
		if net.ParseIP(a) != nil {
			typ = gwv1.IPAddressType
		}
		out = append(out, gwv1.GatewayStatusAddress{Type: ptr(typ), Value: a})
	}
	return out
}
