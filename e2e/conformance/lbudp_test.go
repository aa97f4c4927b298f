package conformance

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// udpIdle is how long a UDP session of the load balancer lives without a
// datagram either way, as conntrack forgets an idle UDP flow.
const udpIdle = 30 * time.Second

// udpProxy is the load balancer on one UDP port of a Service. UDP has no
// connections: each client (source address and port) gets a session of its
// own, a socket connected to one ready Pod (round robin, as a new flow gets
// a new endpoint from kube-proxy), through which its datagrams go and the
// Pod's answers come back to it, from the Service's address and port.
type udpProxy struct {
	lb   *loadBalancer
	s    *lbService
	l    *lbListener
	conn *net.UDPConn

	mu       sync.Mutex
	closed   bool
	sessions map[netip.AddrPort]*net.UDPConn // by client
}

func newUDPProxy(lb *loadBalancer, s *lbService, l *lbListener, conn *net.UDPConn) *udpProxy {
	return &udpProxy{lb: lb, s: s, l: l, conn: conn, sessions: map[netip.AddrPort]*net.UDPConn{}}
}

// serve forwards the clients' datagrams until the port is closed. A
// datagram no Pod can take is dropped, as kube-proxy drops the datagrams of
// a Service without endpoints.
func (u *udpProxy) serve() {
	buf := make([]byte, 64<<10)
	for {
		n, client, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		up := u.session(client)
		if up == nil {
			continue
		}
		if err := up.SetReadDeadline(time.Now().Add(udpIdle)); err != nil {
			continue
		}
		_, _ = up.Write(buf[:n]) // lost, as a datagram may be, when the Pod is gone
	}
}

// session returns the client's session, opening one to the next ready Pod.
func (u *udpProxy) session(client netip.AddrPort) *net.UDPConn {
	u.mu.Lock()
	up := u.sessions[client]
	u.mu.Unlock()
	if up != nil {
		return up
	}
	u.lb.mu.Lock()
	sel, start := u.s.selector, u.l.rr
	u.l.rr++
	u.lb.mu.Unlock()
	targets := u.lb.endpoints(u.s.key.Namespace, sel, u.l.target)
	if len(targets) == 0 {
		return nil
	}
	up, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(targets[start%len(targets)]))
	if err != nil {
		return nil
	}
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		up.Close()
		return nil
	}
	u.sessions[client] = up
	u.mu.Unlock()
	go u.answer(client, up)
	return up
}

// answer sends the Pod's datagrams back to the client until the session
// has been idle for udpIdle or the port is closed.
func (u *udpProxy) answer(client netip.AddrPort, up *net.UDPConn) {
	defer func() {
		u.mu.Lock()
		if u.sessions[client] == up {
			delete(u.sessions, client)
		}
		u.mu.Unlock()
		up.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if err != nil {
			return
		}
		if _, err := u.conn.WriteToUDPAddrPort(buf[:n], client); err != nil {
			return
		}
		if err := up.SetReadDeadline(time.Now().Add(udpIdle)); err != nil {
			return
		}
	}
}

// close stops the port and every session.
func (u *udpProxy) close() error {
	u.mu.Lock()
	u.closed = true
	errs := []error{u.conn.Close()}
	for c, up := range u.sessions {
		errs = append(errs, up.Close())
		delete(u.sessions, c)
	}
	u.mu.Unlock()
	return errors.Join(errs...)
}

// udpBound reports whether a UDP socket of the network namespace of the
// process pid is bound to port: the readiness of a container that serves
// UDP alone, which nothing can connect to.
func udpBound(pid int, port int32) bool {
	for _, f := range []string{"udp", "udp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			// "sl local_address rem_address st ...", local_address
			// "0100007F:1F90" (address:port in hex).
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if n, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int32(n) == port {
				return true
			}
		}
	}
	return false
}
