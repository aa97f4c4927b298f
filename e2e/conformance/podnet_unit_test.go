package conformance

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// podNetHelperEnv makes the test binary a tiny server (or client) run in a
// Pod's namespace by TestPodNetwork: "listen" answers the address it was
// reached at on port 3000, "dial ADDR" prints what ADDR answered.
const podNetHelperEnv = "GATEWARDEN_PODNET_HELPER"

func init() {
	switch mode := os.Getenv(podNetHelperEnv); {
	case mode == "listen":
		l, err := net.Listen("tcp", ":3000")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(2)
			}
			fmt.Fprintf(c, "%s\n", c.LocalAddr())
			c.Close()
		}
	case strings.HasPrefix(mode, "dial "):
		got, err := dialRead(strings.TrimPrefix(mode, "dial "))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Print(got)
		os.Exit(0)
	}
}

func dialRead(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return line, nil
}

// TestPodNetwork: each Pod has its own address, on which the host and the
// other Pods reach it and nothing else of the host listens; a run that died
// leaves namespaces, links and processes that the next run's sweep removes;
// after close nothing named gwcf* is left. Needs root (run it under the
// heavy-test lock, as TestConformance).
func TestPodNetwork(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	n := startPodNetwork(t)
	a, err := n.add()
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.add()
	if err != nil {
		t.Fatal(err)
	}
	if a.ip == b.ip || !podCIDR.Contains(a.ip) || !podCIDR.Contains(b.ip) || a.ip == n.gateway {
		t.Fatalf("pod addresses %s and %s (gateway %s): want two distinct addresses of %s", a.ip, b.ip, n.gateway, podCIDR)
	}

	srv := a.command(self)
	srv.Env = append(os.Environ(), podNetHelperEnv+"=listen")
	done, err := startProc(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(srv, done) })
	addrA := fmt.Sprintf("%s:3000", a.ip)
	want := addrA + "\n"
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := dialRead(addrA)
		if err == nil {
			if got != want {
				t.Fatalf("the host reached %s and read %q, want %q", addrA, got, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host cannot reach pod A at %s: %v", addrA, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// From pod B, over the bridge.
	cli := b.command(self)
	cli.Env = append(os.Environ(), podNetHelperEnv+"=dial "+addrA)
	out, err := cli.CombinedOutput()
	if err != nil || string(out) != want {
		t.Fatalf("pod B dialling %s: %v, read %q, want %q", addrA, err, out, want)
	}
	// Pod A's port is its own: the host's loopback and pod B's do not have it.
	if got, err := dialRead("127.0.0.1:3000"); err == nil && got == want {
		t.Errorf("127.0.0.1:3000 on the host answered as pod A: the pod's listener is not in its own namespace")
	}
	cli = b.command(self)
	cli.Env = append(os.Environ(), podNetHelperEnv+"=dial 127.0.0.1:3000")
	if out, err := cli.CombinedOutput(); err == nil {
		t.Errorf("pod B reached 127.0.0.1:3000 (%q): its loopback is not its own", out)
	}

	// A run that died: its namespaces, links and the process in pod A are
	// still there; the next run's newPodNetwork removes them all.
	left, err := leftoverNetwork()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) < 5 { // 2 netns, 2 veths, the bridge
		t.Fatalf("before the sweep: %q, want 2 namespaces, 2 veths and the bridge", left)
	}
	n2, err := newPodNetwork()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the process in pod A's namespace still runs after the sweep")
	}
	left, err = leftoverNetwork()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(left, ",") != "link "+bridgeName {
		t.Fatalf("after the sweep and a new start: %q, want only the new bridge", left)
	}
	if err := n2.close(); err != nil {
		t.Fatal(err)
	}
	if left, err := leftoverNetwork(); err != nil || len(left) > 0 {
		t.Fatalf("after close: %q (%v), want nothing", left, err)
	}
}
