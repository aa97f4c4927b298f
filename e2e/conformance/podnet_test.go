package conformance

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The pod network stands in for a CNI plugin: a Linux bridge whose host side
// holds the first address of podCIDR, and for each Pod a network namespace
// joined to the bridge by a veth pair, with an address of its own from
// podCIDR and a default route through the bridge. Pods reach each other and
// the host over the bridge, and the test (on the host) reaches every Pod at
// its IP, as nodes reach Pods in a cluster. No forwarding, NAT or firewall
// rule is needed: every address is on the bridge's link.
//
// Every name it creates starts with netPrefix, so that a run whose test
// binary was killed before its cleanups leaves nothing the next run's sweep
// does not find.
const (
	netPrefix  = "gwcf"
	bridgeName = netPrefix + "0"
)

// podCIDR is the Pod address range: from the shared address space of RFC
// 6598, away from the 10.x ranges clusters, container runtimes and CNI
// plugins (10.244/16, 10.88/16) take by default, and from this host's
// routes (checked by newPodNetwork).
var podCIDR = netip.MustParsePrefix("100.72.0.0/16")

// podNetwork hands out Pod network namespaces.
type podNetwork struct {
	gateway netip.Addr // the bridge's address: the Pods' default route

	mu   sync.Mutex
	next netip.Addr
	n    int
	pods map[string]*podNetns // by netns name
}

// podNetns is one Pod's network namespace.
type podNetns struct {
	name string // of the netns, under /run/netns
	veth string // host side of the pair, on the bridge
	ip   netip.Addr
}

// ipCmd runs ip(8) and says which command failed and what it printed.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newPodNetwork removes whatever an earlier run left (sweepPodNetwork), then
// creates the bridge with the first address of podCIDR.
func newPodNetwork() (*podNetwork, error) {
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("the pod network needs ip(8) from iproute2 (apt-get install iproute2): %w", err)
	}
	if err := sweepPodNetwork(); err != nil {
		return nil, fmt.Errorf("remove the pod network of an earlier run: %w", err)
	}
	if err := checkNoRouteOverlap(); err != nil {
		return nil, err
	}
	gw := podCIDR.Addr().Next()
	for _, args := range [][]string{
		{"link", "add", bridgeName, "type", "bridge"},
		{"addr", "add", netip.PrefixFrom(gw, podCIDR.Bits()).String(), "dev", bridgeName},
		{"link", "set", bridgeName, "up"},
	} {
		if err := ipCmd(args...); err != nil {
			return nil, errors.Join(fmt.Errorf("create the pod network bridge (needs root or CAP_NET_ADMIN): %w", err), sweepPodNetwork())
		}
	}
	return &podNetwork{gateway: gw, next: gw.Next(), pods: map[string]*podNetns{}}, nil
}

// startPodNetwork is newPodNetwork for a test, which fails if the network
// cannot be made. When the test's cleanups reach it, the network is removed
// and whatever is left of it (nothing, after a clean run) fails the test.
func startPodNetwork(t *testing.T) *podNetwork {
	t.Helper()
	n, err := newPodNetwork()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.close(); err != nil {
			t.Errorf("remove the pod network: %v", err)
		}
		left, err := leftoverNetwork()
		switch {
		case err != nil:
			t.Errorf("list what is left of the pod network: %v", err)
		case len(left) > 0:
			t.Errorf("left of the pod network after its removal: %s", strings.Join(left, ", "))
		default:
			t.Logf("pod network %s removed: no network namespace or link named %s* left", podCIDR, netPrefix)
		}
	})
	return n
}

// checkNoRouteOverlap refuses a podCIDR that this host already routes
// somewhere: taking it would cut the host off from that network.
func checkNoRouteOverlap() error {
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return fmt.Errorf("ip -4 route show table all: %w", err)
	}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if slices.Contains([]string{"local", "broadcast", "unicast", "multicast"}, dst) && len(f) > 1 {
			dst = f[1]
		}
		if dst == "default" {
			continue
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		p, err := netip.ParsePrefix(dst)
		if err != nil {
			continue
		}
		if p.Overlaps(podCIDR) {
			return fmt.Errorf("the pod network %s overlaps a route of this host: %s", podCIDR, strings.TrimSpace(line))
		}
	}
	return nil
}

// add creates a Pod's network namespace: the veth pair (eth0 inside), its
// address and routes.
func (n *podNetwork) add() (*podNetns, error) {
	n.mu.Lock()
	ip := n.next
	n.next = ip.Next()
	n.n++
	idx := n.n
	n.mu.Unlock()
	if !podCIDR.Contains(ip) || ip == lastAddr(podCIDR) {
		return nil, fmt.Errorf("the pod network %s has no address left", podCIDR)
	}
	p := &podNetns{name: fmt.Sprintf("%s-pod%d", netPrefix, idx), veth: fmt.Sprintf("%sv%d", netPrefix, idx), ip: ip}
	steps := [][]string{
		{"netns", "add", p.name},
		{"link", "add", p.veth, "type", "veth", "peer", "name", "eth0", "netns", p.name},
		{"link", "set", p.veth, "master", bridgeName, "up"},
		{"-n", p.name, "addr", "add", netip.PrefixFrom(ip, podCIDR.Bits()).String(), "dev", "eth0"},
		{"-n", p.name, "link", "set", "eth0", "up"},
		{"-n", p.name, "link", "set", "lo", "up"},
		{"-n", p.name, "route", "add", "default", "via", n.gateway.String()},
	}
	for _, args := range steps {
		if err := ipCmd(args...); err != nil {
			return nil, errors.Join(fmt.Errorf("pod network namespace %s: %w", p.name, err), removeNetns(p.name), removeLink(p.veth))
		}
	}
	n.mu.Lock()
	n.pods[p.name] = p
	n.mu.Unlock()
	return p, nil
}

// command runs name in the Pod's network namespace: ip netns exec enters it
// and execs name, so the process keeps its pid and process group.
func (p *podNetns) command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", p.name, name}, args...)...)
}

// remove deletes a Pod's namespace once its processes are gone; the veth
// pair goes with it.
func (n *podNetwork) remove(p *podNetns) error {
	n.mu.Lock()
	delete(n.pods, p.name)
	n.mu.Unlock()
	return errors.Join(killNetnsPids(p.name), removeLink(p.veth), removeNetns(p.name))
}

// close removes every namespace and the bridge.
func (n *podNetwork) close() error {
	n.mu.Lock()
	n.pods = map[string]*podNetns{}
	n.mu.Unlock()
	return sweepPodNetwork()
}

// sweepPodNetwork removes every network namespace and link whose name
// starts with netPrefix, killing the processes still in those namespaces
// first (a namespace lives on as long as a process is in it).
func sweepPodNetwork() error {
	var errs []error
	names, err := netnsNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		errs = append(errs, killNetnsPids(name), removeNetns(name))
	}
	links, err := linkNames()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, l := range links {
		errs = append(errs, removeLink(l))
	}
	return errors.Join(errs...)
}

// leftoverNetwork lists what the sweep would remove: empty after a clean
// run.
func leftoverNetwork() ([]string, error) {
	var out []string
	for _, kind := range []struct {
		name string
		list func() ([]string, error)
	}{{"netns", netnsNames}, {"link", linkNames}} {
		names, err := kind.list()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			out = append(out, kind.name+" "+n)
		}
	}
	return out, nil
}

func netnsNames() ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var names []string
	for line := range strings.Lines(string(out)) {
		// "NAME" or "NAME (id: N)"
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], netPrefix+"-") {
			names = append(names, f[0])
		}
	}
	return names, nil
}

func linkNames() ([]string, error) {
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("ip -o link show: %w", err)
	}
	var names []string
	for line := range strings.Lines(string(out)) {
		// "7: gwcf0: <...> ..." or "8: gwcfv1@if2: <...> ..."
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(name, netPrefix) {
			names = append(names, name)
		}
	}
	return names, nil
}

// killNetnsPids kills the processes in a namespace: a Pod's processes are
// stopped before (stop), these are those of a run that died.
func killNetnsPids(name string) error {
	out, err := exec.Command("ip", "netns", "pids", name).Output()
	if err != nil {
		if ok, lerr := netnsExists(name); lerr == nil && !ok {
			return nil
		}
		return fmt.Errorf("ip netns pids %s: %w", name, err)
	}
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("kill pid %d in netns %s: %w", pid, name, err)
		}
	}
	return nil
}

func netnsExists(name string) (bool, error) {
	names, err := netnsNames()
	if err != nil {
		return false, err
	}
	return slices.Contains(names, name), nil
}

func removeNetns(name string) error {
	ok, err := netnsExists(name)
	if err != nil || !ok {
		return err
	}
	return ipCmd("netns", "del", name)
}

func removeLink(name string) error {
	links, err := linkNames()
	if err != nil || !slices.Contains(links, name) {
		return err // or gone: a veth pair goes with its namespace
	}
	out, err := exec.Command("ip", "link", "del", name).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Cannot find device") {
		// (The kernel removes a veth whose namespace it is freeing at its
		// own pace: gone meanwhile is gone.)
		return fmt.Errorf("ip link del %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := 32 - p.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= 1<<host - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
