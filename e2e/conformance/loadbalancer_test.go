package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The load balancer stands in for a cloud's: each Service of type
// LoadBalancer with a selector gets an address of its own from lbCIDR (on
// the pod network's bridge), written to its status.loadBalancer.ingress,
// and a proxy on each of its ports there that forwards every TCP connection
// (or, on a UDP port, every client's datagrams: lbudp_test.go) to a ready
// Pod the Service selects, at the port's target port, as a load balancer in
// front of kube-proxy would. The address stays while the
// Service does, whatever its Pods do (a rollout gives them new IPs), so
// that the Gateway's address does not change under the suite's feet.
//
// A Service that asks for an address (spec.loadBalancerIP, what gatewarden
// sets from a Gateway's spec.addresses) gets it when it is in lbCIDR and no
// other Service has it; otherwise it gets none and stays pending, as a
// cloud's load balancer refuses an address that is not the project's.
// Dynamic addresses count up from the start of lbCIDR; lbUsable, at its
// end, is the address the suite's GatewayStaticAddresses asks for, and
// lbUnusable (TEST-NET-1, outside lbCIDR) the one it must be refused.
var (
	lbCIDR     = netip.MustParsePrefix("100.73.0.0/16")
	lbUsable   = netip.MustParseAddr("100.73.255.250")
	lbUnusable = netip.MustParseAddr("192.0.2.1")
)

type loadBalancer struct {
	r *runner

	mu       sync.Mutex
	next     netip.Addr
	services map[types.UID]*lbService
	// refusals are the last reason each Service got no address, logged once.
	refusals map[types.UID]string
}

type lbService struct {
	key       types.NamespacedName
	vip       netip.Addr
	selector  labels.Selector
	listeners map[lbPort]*lbListener // by Service port
}

// lbPort is a Service port: a TCP and a UDP port may share a number.
type lbPort struct {
	port     int32
	protocol corev1.Protocol
}

type lbListener struct {
	target corev1.ServicePort
	l      net.Listener // a TCP port's
	udp    *udpProxy    // a UDP port's
	rr     int
}

func (l *lbListener) close() error {
	if l.udp != nil {
		return l.udp.close()
	}
	return l.l.Close()
}

func newLoadBalancer(r *runner) *loadBalancer {
	return &loadBalancer{r: r, next: lbCIDR.Addr().Next(), services: map[types.UID]*lbService{}}
}

// sync gives every LoadBalancer Service with a selector its address and
// proxies, and removes those of the Services gone.
func (lb *loadBalancer) sync(ctx context.Context) error {
	var svcs corev1.ServiceList
	if err := lb.r.c.List(ctx, &svcs); err != nil {
		return err
	}
	seen := map[types.UID]bool{}
	var errs []error
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Spec.Selector) == 0 || svc.DeletionTimestamp != nil {
			continue
		}
		seen[svc.UID] = true
		if err := lb.syncService(ctx, svc); err != nil {
			errs = append(errs, fmt.Errorf("load balancer for service %s/%s: %w", svc.Namespace, svc.Name, err))
		}
	}
	lb.mu.Lock()
	for uid, s := range lb.services {
		if !seen[uid] {
			errs = append(errs, s.close())
			delete(lb.services, uid)
		}
	}
	lb.mu.Unlock()
	return errors.Join(errs...)
}

func (lb *loadBalancer) syncService(ctx context.Context, svc *corev1.Service) error {
	lb.mu.Lock()
	s := lb.services[svc.UID]
	requested, refusal := lb.requested(svc)
	if s != nil && (refusal != "" || requested.IsValid() && s.vip != requested) {
		// The Service now asks for another address: the one it had goes.
		err := s.close()
		delete(lb.services, svc.UID)
		s = nil
		if err != nil {
			lb.mu.Unlock()
			return err
		}
	}
	if refusal != "" {
		lb.mu.Unlock()
		lb.refused(svc, refusal)
		if len(svc.Status.LoadBalancer.Ingress) > 0 {
			svc.Status.LoadBalancer.Ingress = nil
			return lb.r.c.Status().Update(ctx, svc)
		}
		return nil
	}
	if s == nil {
		vip := requested
		if !vip.IsValid() {
			var err error
			if vip, err = lb.allocate(); err != nil {
				lb.mu.Unlock()
				return err
			}
		}
		if err := ipCmd("addr", "add", netip.PrefixFrom(vip, 32).String(), "dev", bridgeName); err != nil {
			lb.mu.Unlock()
			return err
		}
		s = &lbService{key: client.ObjectKeyFromObject(svc), vip: vip, listeners: map[lbPort]*lbListener{}}
		lb.services[svc.UID] = s
	}
	s.selector = labels.SelectorFromSet(svc.Spec.Selector)
	lb.mu.Unlock()

	want := map[lbPort]corev1.ServicePort{}
	for _, sp := range svc.Spec.Ports {
		switch sp.Protocol {
		case "", corev1.ProtocolTCP:
			want[lbPort{sp.Port, corev1.ProtocolTCP}] = sp
		case corev1.ProtocolUDP:
			want[lbPort{sp.Port, corev1.ProtocolUDP}] = sp
		}
	}
	var errs []error
	lb.mu.Lock()
	for port, l := range s.listeners {
		if w, ok := want[port]; !ok || w.TargetPort != l.target.TargetPort || w.Name != l.target.Name {
			errs = append(errs, l.close())
			delete(s.listeners, port)
		}
	}
	for port, sp := range want {
		if s.listeners[port] != nil {
			continue
		}
		addr := netip.AddrPortFrom(s.vip, uint16(port.port))
		l := &lbListener{target: sp}
		if port.protocol == corev1.ProtocolUDP {
			conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			l.udp = newUDPProxy(lb, s, l, conn)
			s.listeners[port] = l
			go l.udp.serve()
			continue
		}
		ln, err := net.Listen("tcp", addr.String())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l.l = ln
		s.listeners[port] = l
		go lb.serve(s, l)
	}
	lb.mu.Unlock()

	ing := []corev1.LoadBalancerIngress{{IP: s.vip.String(), IPMode: new(corev1.LoadBalancerIPModeVIP)}}
	if cur := svc.Status.LoadBalancer.Ingress; len(cur) != 1 || cur[0].IP != ing[0].IP {
		svc.Status.LoadBalancer.Ingress = ing
		errs = append(errs, lb.r.c.Status().Update(ctx, svc))
	}
	return errors.Join(errs...)
}

// requested is the address svc asks for (spec.loadBalancerIP; invalid
// when it asks for none), or why it cannot have it. lb.mu is held.
func (lb *loadBalancer) requested(svc *corev1.Service) (netip.Addr, string) {
	if svc.Spec.LoadBalancerIP == "" {
		return netip.Addr{}, ""
	}
	ip, err := netip.ParseAddr(svc.Spec.LoadBalancerIP)
	switch {
	case err != nil:
		return netip.Addr{}, fmt.Sprintf("spec.loadBalancerIP %q is not an IP address", svc.Spec.LoadBalancerIP)
	case !lbCIDR.Contains(ip) || ip == lbCIDR.Addr():
		return netip.Addr{}, fmt.Sprintf("spec.loadBalancerIP %s is not in the load balancer's range %s", ip, lbCIDR)
	}
	for uid, o := range lb.services {
		if uid != svc.UID && o.vip == ip {
			return netip.Addr{}, fmt.Sprintf("spec.loadBalancerIP %s is Service %s's", ip, o.key)
		}
	}
	return ip, ""
}

// allocate takes the next free address of lbCIDR. lb.mu is held.
func (lb *loadBalancer) allocate() (netip.Addr, error) {
	for vip := lb.next; lbCIDR.Contains(vip); vip = vip.Next() {
		if vip == lbUsable || slices.ContainsFunc(slices.Collect(maps.Values(lb.services)), func(o *lbService) bool { return o.vip == vip }) {
			continue
		}
		lb.next = vip.Next()
		return vip, nil
	}
	return netip.Addr{}, fmt.Errorf("no address left in %s", lbCIDR)
}

// refused logs, once per Service and reason, why the load balancer gives
// a Service no address (a cloud's would say it in an Event).
func (lb *loadBalancer) refused(svc *corev1.Service, why string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.refusals == nil {
		lb.refusals = map[types.UID]string{}
	}
	if lb.refusals[svc.UID] != why {
		lb.refusals[svc.UID] = why
		lb.r.t.Logf("load balancer: Service %s/%s gets no address: %s", svc.Namespace, svc.Name, why)
	}
}

func (s *lbService) close() error {
	var errs []error
	for _, l := range s.listeners {
		errs = append(errs, l.close())
	}
	errs = append(errs, ipCmd("addr", "del", netip.PrefixFrom(s.vip, 32).String(), "dev", bridgeName))
	return errors.Join(errs...)
}

// close stops every proxy; the addresses go with the bridge.
func (lb *loadBalancer) close() error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	var errs []error
	for _, s := range lb.services {
		for _, l := range s.listeners {
			errs = append(errs, l.close())
		}
	}
	lb.services = map[types.UID]*lbService{}
	return errors.Join(errs...)
}

func (lb *loadBalancer) serve(s *lbService, l *lbListener) {
	for {
		c, err := l.l.Accept()
		if err != nil {
			return // closed
		}
		go lb.forward(s, l, c)
	}
}

// forward connects c to a ready Pod of the Service, trying the next on a
// refused connection; without one it closes c, as kube-proxy rejects
// connections to a Service without endpoints.
func (lb *loadBalancer) forward(s *lbService, l *lbListener, c net.Conn) {
	defer c.Close()
	lb.mu.Lock()
	sel, start := s.selector, l.rr
	l.rr++
	lb.mu.Unlock()
	targets := lb.endpoints(s.key.Namespace, sel, l.target)
	if len(targets) == 0 {
		return
	}
	var up net.Conn
	for i := range targets {
		var err error
		up, err = net.DialTimeout("tcp", targets[(start+i)%len(targets)].String(), time.Second)
		if err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

// endpoints are the ready Pods' addresses for the listener's target port.
func (lb *loadBalancer) endpoints(ns string, sel labels.Selector, sp corev1.ServicePort) []netip.AddrPort {
	lb.r.mu.Lock()
	defer lb.r.mu.Unlock()
	var out []netip.AddrPort
	for _, p := range lb.r.pods {
		if !p.ready || p.namespace != ns || !sel.Matches(labels.Set(p.labels)) {
			continue
		}
		port := sp.TargetPort.IntVal
		if name := sp.TargetPort.StrVal; name != "" {
			port = p.named[name]
		} else if port == 0 {
			port = sp.Port
		}
		if port != 0 {
			out = append(out, netip.AddrPortFrom(p.netns.ip, uint16(port)))
		}
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return strings.Compare(a.String(), b.String()) })
	return out
}
