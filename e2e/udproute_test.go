package e2e

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// TestUDPRoute sends datagrams through real Envoy to a UDP echo server: on
// the listener whose route is its own, each datagram comes back echoed; on
// the listener a hostile tenant's UDPRoute claims from a namespace the
// listener does not allow, Envoy drops every datagram, the echo server sees
// none, and the route's status says why.
func TestUDPRoute(t *testing.T) {
	backendPort, seen := udpEchoServer(t)
	openPort, guardedPort := freeUDPPort(t), freeUDPPort(t)
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("udp.yaml", testenv.GatewayClassManifest+testenv.Fixture(t, "udproute.yaml", openPort, guardedPort)+
			testenv.UDPBackend("infra", "echo", 8080, backendPort, "127.0.0.1")+testenv.UDPBackend("evil", "mine", 8080, backendPort, "127.0.0.1"))
	})
	open := fmt.Sprintf("127.0.0.1:%d", openPort)
	guarded := fmt.Sprintf("127.0.0.1:%d", guardedPort)
	eventuallyAnswers(t, "a datagram to the open listener comes back", "echo: ping", func() (string, error) {
		return udpExchange(open, "ping", time.Second)
	})

	// Each client (a socket of its own) is a session of its own.
	seen.Store(0)
	for i := range 5 {
		msg := fmt.Sprintf("datagram %d", i)
		got, err := udpExchange(open, msg, 2*time.Second)
		if err != nil || got != "echo: "+msg {
			t.Errorf("%q to the open listener: answer %q, %v; want %q", msg, got, err, "echo: "+msg)
		}
	}
	if n := seen.Load(); n != 5 {
		t.Errorf("the echo server saw %d datagrams through the open listener, want 5", n)
	}

	// The hostile route is not attached: nothing gets through the
	// guarded listener, which Envoy does serve (it counts what it drops).
	seen.Store(0)
	for i := range 5 {
		got, err := udpExchange(guarded, fmt.Sprintf("hijack %d", i), time.Second)
		if err == nil {
			t.Errorf("datagram %d to the guarded listener: answered %q, want nothing back", i, got)
		}
	}
	if n := seen.Load(); n != 0 {
		t.Errorf("the echo server saw %d datagrams through the guarded listener, want 0", n)
	}
	stat := fmt.Sprintf("udp.infra_gw_udp-%d.downstream_sess_no_route", guardedPort)
	if n := e.envoyStat(stat); n < 5 {
		t.Errorf("Envoy %s = %d, want the 5 datagrams it dropped", stat, n)
	} else {
		t.Logf("Envoy %s = %d: the guarded listener received the datagrams and routed none", stat, n)
	}

	body := httpGet(t, e.adminURL+"/debug/config")
	const why = `listener \"guarded\" does not allow routes from namespace \"evil\"`
	if !strings.Contains(body, why) {
		t.Errorf("the status of evil/hijack does not say %s:\n%s", why, testenv.Tail(body, 40))
	}
}

// udpEchoServer answers every datagram on a loopback port with "echo: "
// and the datagram, and counts them.
func udpEchoServer(t *testing.T) (int, *atomic.Int64) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	seen := &atomic.Int64{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed
			}
			seen.Add(1)
			if _, err := conn.WriteToUDPAddrPort(append([]byte("echo: "), buf[:n]...), from); err != nil {
				return // closed
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return conn.LocalAddr().(*net.UDPAddr).Port, seen
}

// udpExchange sends msg from a socket of its own and returns the first
// datagram that comes back within timeout.
func udpExchange(addr, msg string, timeout time.Duration) (string, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := conn.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if err != nil {
		return "", err
	}
	if n == 0 {
		return "", errors.New("an empty datagram")
	}
	return string(buf[:n]), nil
}

// freeUDPPort is a loopback UDP port free when asked.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).Port
}
