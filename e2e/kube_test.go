package e2e

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// kubeEnv is a real kube-apiserver and etcd (envtest) with the Gateway API
// and gatewarden CRDs, and a kubeconfig for kubectl and gatewarden.
type kubeEnv struct {
	t          *testing.T
	env        *envtest.Environment
	cfg        *rest.Config
	kubeconfig string
	kubectlBin string
}

func startKube(t *testing.T) *kubeEnv {
	t.Helper()
	return startKubeWith(t, testenv.KubeEnvironment(t))
}

// startKubeWith starts env and writes an admin kubeconfig for it.
func startKubeWith(t *testing.T, env *envtest.Environment) *kubeEnv {
	t.Helper()
	k := &kubeEnv{t: t, kubectlBin: testenv.Kubectl(t), env: env}
	cfg, err := k.env.Start()
	if err != nil {
		t.Fatalf("start the API server: %v", err)
	}
	t.Cleanup(func() {
		if err := k.env.Stop(); err != nil {
			t.Logf("stop the API server: %v", err)
		}
	})
	k.cfg = cfg
	user, err := k.env.ControlPlane.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	k.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(k.kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// kubectl runs kubectl with stdin and returns its output; it fails the test
// when kubectl fails.
func (k *kubeEnv) kubectl(stdin string, args ...string) string {
	k.t.Helper()
	out, err := k.tryKubectl(stdin, args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (k *kubeEnv) tryKubectl(stdin string, args ...string) (string, error) {
	cmd := exec.Command(k.kubectlBin, append([]string{"--kubeconfig", k.kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// applyFile is `kubectl apply -f-` with the content of a repository file,
// rewritten as exampleFile says.
func (k *kubeEnv) applyFile(path string, replace ...string) {
	k.t.Helper()
	k.kubectl(exampleFile(k.t, path, replace...), "apply", "-f-")
}

// condition reads the status of one condition with kubectl's jsonpath.
func (k *kubeEnv) condition(kind, namespace, name, path, typ string) string {
	k.t.Helper()
	args := []string{"get", kind, name, "-o", fmt.Sprintf(`jsonpath={%s.conditions[?(@.type=="%s")].status}`, path, typ)}
	if namespace != "" {
		args = append(args, "-n", namespace)
	}
	out, _ := k.tryKubectl("", args...)
	return strings.TrimSpace(out)
}

// waitCondition waits until a condition has the status wanted.
func (k *kubeEnv) waitCondition(kind, namespace, name, path, typ, want string) {
	k.t.Helper()
	eventually(k.t, 20*time.Second, fmt.Sprintf("%s %s/%s %s %s=%s", kind, namespace, name, path, typ, want), func() string {
		if got := k.condition(kind, namespace, name, path, typ); got != want {
			return fmt.Sprintf("got %q", got)
		}
		return ""
	})
}

// startGatewarden starts gatewarden in Kubernetes mode against kubeconfig.
func (k *kubeEnv) startGatewarden(kubeconfig string, extra ...string) *testenv.GatewardenProcess {
	k.t.Helper()
	return k.startGatewardenOn("", kubeconfig, extra...)
}

// startGatewardenOn is startGatewarden serving xDS on xdsAddr (a free
// loopback port when empty).
func (k *kubeEnv) startGatewardenOn(xdsAddr, kubeconfig string, extra ...string) *testenv.GatewardenProcess {
	k.t.Helper()
	return testenv.RunGatewarden(k.t, testenv.GatewardenOptions{XDSAddress: xdsAddr, Flags: append([]string{"--kubeconfig", kubeconfig,
		"--leader-election-namespace", "gatewarden-system", "--debounce", "50ms",
		// httpbin and Envoy run on this machine's loopback: no pod network.
		"--allow-loopback-backends"}, extra...)})
}

// startEnvoy starts Envoy with a bootstrap pointing at xdsAddr.
func startEnvoy(t *testing.T, gateway, xdsAddr string) *testenv.EnvoyProcess {
	t.Helper()
	return testenv.RunEnvoy(t, testenv.EnvoyOptions{Gateway: gateway, XDSAddress: xdsAddr})
}

// startGuideKube starts the API server with the guide's base objects
// (guideCluster) and returns it with the port of the guide's Gateway.
func startGuideKube(t *testing.T) (*kubeEnv, int) {
	t.Helper()
	k := startKube(t)
	return k, k.guideCluster()
}

// guideCluster starts httpbin and applies the guide's base objects:
// namespaces, GatewayClass, Gateway on a free port (returned), httpbin
// Service, EndpointSlice and HTTPRoute.
func (k *kubeEnv) guideCluster() (gwPort int) {
	k.t.Helper()
	gwPort, httpbinPort := freePort(k.t), startHTTPBin(k.t)
	k.kubectl("", "create", "namespace", "gloo-system")
	k.kubectl("", "create", "namespace", "httpbin")
	k.kubectl("", "create", "namespace", "gatewarden-system")
	k.applyFile("examples/gateway-jwt/gateway.yaml", "port: 8080", fmt.Sprintf("port: %d", gwPort))
	k.applyFile("examples/gateway-jwt/httpbin.yaml", "  port: 8000\n  protocol: TCP", fmt.Sprintf("  port: %d\n  protocol: TCP", httpbinPort))
	return gwPort
}

// TestGuideKubernetesMode follows the guide with kubectl against a real API
// server, gatewarden in Kubernetes mode, real Envoy and httpbin, and reads
// the statuses gatewarden writes back.
func TestGuideKubernetesMode(t *testing.T) {
	k, gwPort := startGuideKube(t)
	g := k.startGatewarden(k.kubeconfig)
	envoy := startEnvoy(t, "gloo-system/http", g.XDSAddress)
	envoyPID := envoy.Pid()
	url := fmt.Sprintf("http://127.0.0.1:%d/headers", gwPort)
	tokens := readEnv(t, filepath.Join(testenv.RepoRoot(), "examples/gateway-jwt/tokens.env"))
	alice := "Authorization: Bearer " + tokens["ALICE_TOKEN"]
	bob := "Authorization: Bearer " + tokens["BOB_TOKEN"]
	expect := func(step string, deadline time.Duration, checks ...check) {
		t.Helper()
		took := eventually(t, deadline, step, func() string {
			for _, c := range checks {
				a := get(t, url, guideHost, c.headers...)
				if a.code != c.code || !strings.Contains(a.body, c.body) {
					return fmt.Sprintf("%s: got %v, want %d %q", c.who, a, c.code, c.body)
				}
			}
			return ""
		})
		t.Logf("%-55s enforced after %v", step, took.Round(time.Millisecond))
		if !envoy.Running() || envoy.Pid() != envoyPID {
			t.Fatal("Envoy stopped")
		}
	}
	ok := `"Host": [`

	expect("1. Gateway and HTTPRoute", 20*time.Second, check{"no token", nil, 200, ok})
	k.waitCondition("gatewayclass", "", "gatewarden", ".status", "Accepted", "True")
	k.waitCondition("gateway", "gloo-system", "http", ".status", "Accepted", "True")
	k.waitCondition("gateway", "gloo-system", "http", ".status", "Programmed", "True")
	k.waitCondition("httproute", "httpbin", "httpbin", ".status.parents[0]", "Accepted", "True")
	k.waitCondition("httproute", "httpbin", "httpbin", ".status.parents[0]", "ResolvedRefs", "True")

	k.applyFile("examples/gateway-jwt/virtualhostoption.yaml")
	expect("2. kubectl apply VirtualHostOption", propagation,
		check{"no token", nil, 401, "Jwt is missing"}, check{"Alice", []string{alice}, 200, ok}, check{"Bob", []string{bob}, 200, ok})
	k.waitCondition("virtualhostoption", "gloo-system", "jwt", ".status.ancestors[0]", "Accepted", "True")

	k.applyFile("examples/gateway-jwt/routeoption.yaml")
	expect("3. kubectl apply RouteOption (REGEX_MATCH)", propagation,
		check{"Alice", []string{alice}, 200, ok}, check{"Bob", []string{bob}, 403, "RBAC: access denied"})
	k.waitCondition("routeoption", "httpbin", "jwt", ".status.ancestors[0]", "Accepted", "True")

	k.applyFile("examples/gateway-jwt-steps/routeoption-list-contains.yaml")
	expect("4. kubectl apply RouteOption (LIST_CONTAINS)", propagation,
		check{"Alice", []string{alice}, 403, "RBAC: access denied"}, check{"Bob", []string{bob}, 200, ok})

	// A bad option: not accepted, with a message naming the field, and the
	// route fails closed.
	k.kubectl(`apiVersion: gateway.solo.io/v1
kind: RouteOption
metadata: {name: jwt, namespace: httpbin}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: httpbin}]
  options:
    rbac: {policies: {viewer: {principals: [{jwtPrincipal: {claims: {team: "de(("}, matcher: REGEX_MATCH}}]}}}
`, "apply", "-f-")
	expect("bad RouteOption (invalid regex) fails closed", propagation,
		check{"Alice", []string{alice}, 500, "policy of this route is invalid"}, check{"Bob", []string{bob}, 500, ""})
	k.waitCondition("routeoption", "httpbin", "jwt", ".status.ancestors[0]", "Accepted", "False")
	msg := k.kubectl("", "get", "routeoption", "jwt", "-n", "httpbin", "-o", `jsonpath={.status.ancestors[0].conditions[?(@.type=="Accepted")].message}`)
	if !strings.Contains(msg, "spec.options.rbac.policies.viewer.principals[0].jwtPrincipal.claims.team") || !strings.Contains(msg, "de((") {
		t.Fatalf("the condition does not name the field and value: %q", msg)
	}
	t.Logf("bad RouteOption: Accepted=False: %s", msg)

	k.kubectl("", "delete", "routeoption", "jwt", "-n", "httpbin")
	expect("5a. kubectl delete routeoption jwt -n httpbin", propagation,
		check{"Bob", []string{bob}, 200, ok}, check{"no token", nil, 401, "Jwt is missing"})
	k.kubectl("", "delete", "virtualhostoption", "jwt", "-n", "gloo-system")
	expect("5b. kubectl delete virtualhostoption jwt -n gloo-system", propagation, check{"no token", nil, 200, ok})

	// A steady state makes no status writes: the objects' resourceVersions
	// stay the same.
	before := k.kubectl("", "get", "gateway,httproute,gatewayclass", "-A", "-o", "jsonpath={.items[*].metadata.resourceVersion}")
	time.Sleep(2 * time.Second)
	if after := k.kubectl("", "get", "gateway,httproute,gatewayclass", "-A", "-o", "jsonpath={.items[*].metadata.resourceVersion}"); after != before {
		t.Fatalf("status churn: resourceVersions %s -> %s in a steady state", before, after)
	}
	if strings.Contains(g.Output(), "level=ERROR") {
		t.Errorf("gatewarden logged errors:\n%s", testenv.Tail(g.Output(), 40))
	}
}

// tcpProxy forwards a loopback port to target; it can be cut (listener and
// every connection closed) and restored on the same port, which to a client
// is the API server going away and coming back.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	lis    net.Listener
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	p.up()
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) up() {
	lis, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.lis = lis
	p.mu.Unlock()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
}

func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lis != nil {
		p.lis.Close()
		p.lis = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// kubeconfigVia writes a kubeconfig like k's whose server is addr.
func (k *kubeEnv) kubeconfigVia(addr string) string {
	k.t.Helper()
	data, err := os.ReadFile(k.kubeconfig)
	if err != nil {
		k.t.Fatal(err)
	}
	u, err := url.Parse(k.cfg.Host)
	if err != nil {
		k.t.Fatal(err)
	}
	s := strings.ReplaceAll(string(data), u.Host, addr)
	if s == string(data) {
		k.t.Fatalf("the kubeconfig does not name %s", u.Host)
	}
	path := filepath.Join(k.t.TempDir(), "kubeconfig-proxy")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		k.t.Fatal(err)
	}
	return path
}

// TestKubernetesHAAndOutage runs two replicas: the leader writes status and,
// killed, hands the lease to the survivor, whose Envoy keeps serving and gets
// the next change. Then the API server becomes unreachable for 30 s: Envoy
// keeps enforcing the last configuration, and when the API server is back
// gatewarden resyncs and the change made meanwhile arrives.
func TestKubernetesHAAndOutage(t *testing.T) {
	k, gwPort := startGuideKube(t)
	k.applyFile("examples/gateway-jwt/virtualhostoption.yaml")
	guideURL := fmt.Sprintf("http://127.0.0.1:%d/headers", gwPort)
	tokens := readEnv(t, filepath.Join(testenv.RepoRoot(), "examples/gateway-jwt/tokens.env"))
	bob := "Authorization: Bearer " + tokens["BOB_TOKEN"]
	answer := func(headers ...string) answer { return get(t, guideURL, guideHost, headers...) }

	// Replica A starts first and is elected; B, through a proxy that can be
	// cut, follows. Envoy is served by B.
	a := k.startGatewarden(k.kubeconfig, "--lease-duration", "3s")
	eventually(t, 30*time.Second, "replica A elected", func() string {
		if !strings.Contains(a.Output(), "elected to write status") {
			return "not yet"
		}
		return ""
	})
	apiURL, err := url.Parse(k.cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, apiURL.Host)
	b := k.startGatewarden(k.kubeconfigVia(proxy.addr), "--lease-duration", "3s")
	envoy := startEnvoy(t, "gloo-system/http", b.XDSAddress)
	eventually(t, 20*time.Second, "Envoy served by B enforces JWT", func() string {
		if got := answer(); got.code != 401 {
			return got.String()
		}
		return ""
	})
	if strings.Contains(b.Output(), "elected to write status") {
		t.Fatal("replica B was elected while A holds the lease")
	}

	// Kill the leader: the lease moves to B, which now writes status.
	start := time.Now()
	a.Kill()
	eventually(t, 30*time.Second, "lease moved to B", func() string {
		if !strings.Contains(b.Output(), "elected to write status") {
			return "B not elected"
		}
		return ""
	})
	t.Logf("leader killed; B elected after %v", time.Since(start).Round(time.Millisecond))
	k.applyFile("examples/gateway-jwt/routeoption.yaml")
	took := eventually(t, propagation, "Envoy via B gets the next change", func() string {
		if got := answer(bob); got.code != 403 {
			return got.String()
		}
		return ""
	})
	t.Logf("change after failover enforced in %v", took.Round(time.Millisecond))
	k.waitCondition("routeoption", "httpbin", "jwt", ".status.ancestors[0]", "Accepted", "True")

	// The API server unreachable for 30 s.
	proxy.down()
	k.applyFile("examples/gateway-jwt-steps/routeoption-list-contains.yaml") // made while gatewarden cannot see it
	outage := time.Now()
	checks := 0
	for time.Since(outage) < 30*time.Second {
		if got := answer(bob); got.code != 403 {
			t.Fatalf("during the outage Envoy answered Bob %v, want the last configuration's 403", got)
		}
		if got := answer(); got.code != 401 {
			t.Fatalf("during the outage Envoy answered no token %v, want 401", got)
		}
		checks++
		time.Sleep(time.Second)
	}
	if !envoy.Running() || !b.Running() {
		t.Fatal("Envoy or gatewarden exited during the outage")
	}
	t.Logf("API server unreachable for 30s: %d checks, Envoy kept enforcing the last configuration", checks)
	proxy.up()
	took = eventually(t, 60*time.Second, "change made during the outage arrives after it", func() string {
		if got := answer(bob); got.code != 200 {
			return got.String()
		}
		return ""
	})
	t.Logf("API server back: resynced and enforced the change in %v", took.Round(time.Millisecond))
}
