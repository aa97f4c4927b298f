package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// gatewayWithPorts is a Gateway "gloo-system/http" with one HTTP listener
// per port, named p<port>.
func gatewayWithPorts(ports ...int) string {
	var b strings.Builder
	b.WriteString(testenv.GatewayClassManifest + `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: http
  namespace: gloo-system
spec:
  gatewayClassName: gatewarden
  listeners:
`)
	for _, p := range ports {
		fmt.Fprintf(&b, "  - {name: p%d, protocol: HTTP, port: %d, allowedRoutes: {namespaces: {from: All}}}\n", p, p)
	}
	return b.String()
}

// loopbackService is a Service of namespace "apps" whose one endpoint is
// 127.0.0.1:port (an IPv4 EndpointSlice: an EDS cluster); appProtocol may
// be "".
func loopbackService(name string, port int, appProtocol string) string {
	ap := ""
	if appProtocol != "" {
		ap = ", appProtocol: " + appProtocol
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: apps}
spec:
  ports: [{name: http, port: 80, targetPort: %[2]d%[3]s}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[1]s, namespace: apps, labels: {kubernetes.io/service-name: %[1]s}}
addressType: IPv4
ports: [{name: http, port: %[2]d, protocol: TCP}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
`, name, port, ap)
}

// httpRoute routes hostnames on the listener of port (and path prefix
// path) to Service svc.
func httpRoute(name string, port int, path, svc string, hostnames ...string) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: %s, namespace: apps}
spec:
  parentRefs: [{name: http, namespace: gloo-system, sectionName: p%d}]
  hostnames: ["%s"]
  rules:
  - matches: [{path: {type: PathPrefix, value: %s}}]
    backendRefs: [{name: %s, port: 80}]
`, name, port, strings.Join(hostnames, `", "`), path, svc)
}

// TestScopedRoutesStayOnTheirPort serves two HTTP ports of one Gateway with
// scoped RDS (forced from 2 hostnames), one hostname on both: each
// hostname answers on its own port and only there, and the shared one with
// its own port's routes, with delta and state-of-the-world ADS.
func TestScopedRoutesStayOnTheirPort(t *testing.T) {
	for _, mode := range []string{"delta", "sotw"} {
		t.Run(mode, func(t *testing.T) {
			var portB int
			e := startDirEnvWith(t, mode == "sotw", func(e *dirEnv) {
				portB = freePort(t)
				e.write("gateway.yaml", gatewayWithPorts(e.gwPort, portB))
				e.write("svc.yaml", loopbackService("httpbin", e.httpbinPort, ""))
				e.write("route-a.yaml", httpRoute("a", e.gwPort, "/anything/a", "httpbin", "a1.example.com", "a2.example.com", "shared.example.com"))
				e.write("route-b.yaml", "---\n"+httpRoute("b", portB, "/anything/b", "httpbin", "b1.example.com", "b2.example.com", "shared.example.com"))
			}, []string{"--scoped-routes-min-hosts", "2"}, nil)
			urlA, urlB := e.url, fmt.Sprintf("http://127.0.0.1:%d", portB)
			type probe struct {
				url, path, host string
				want            int
			}
			var probes []probe
			for _, h := range []string{"a1.example.com", "a2.example.com", "shared.example.com"} {
				probes = append(probes, probe{urlA, "/anything/a", h, 200}, probe{urlB, "/anything/a", h, 404})
			}
			for _, h := range []string{"b1.example.com", "b2.example.com", "shared.example.com"} {
				probes = append(probes, probe{urlB, "/anything/b", h, 200}, probe{urlA, "/anything/b", h, 404})
			}
			check := func() string {
				var bad []string
				for _, p := range probes {
					if a := get(t, p.url+p.path, p.host); a.code != p.want {
						bad = append(bad, fmt.Sprintf("%s on port %s%s: %d, want %d", p.host, p.url[strings.LastIndex(p.url, ":")+1:], p.path, a.code, p.want))
					}
				}
				return strings.Join(bad, "; ")
			}
			took := eventually(t, 15*time.Second, "every hostname on its own port only", check)
			// Stable, not a moment of it.
			time.Sleep(500 * time.Millisecond)
			if bad := check(); bad != "" {
				t.Fatal(bad)
			}
			// The port in a scope key comes from the listener: a client
			// naming another port in the header still gets its own port's
			// scopes, and the header does not reach the backend.
			forged := fmt.Sprintf("x-gatewarden-scope-port: %d", portB)
			if a := get(t, urlA+"/anything/b", "b1.example.com", forged); a.code != 404 {
				t.Fatalf("b1.example.com on port A with the scope header forged to port B: %s, want 404", a)
			}
			a := get(t, urlA+"/anything/a", "a1.example.com", forged)
			if a.code != 200 || strings.Contains(strings.ToLower(a.body), "x-gatewarden-scope-port") {
				t.Fatalf("a1.example.com with the scope header forged: %d, the backend saw the header: %v", a.code, strings.Contains(strings.ToLower(a.body), "x-gatewarden-scope-port"))
			}
			if n := e.envoyStat("listener_manager.lds.update_rejected"); n != 0 {
				t.Fatalf("Envoy rejected %d listener updates", n)
			}
			t.Logf("%d probes as expected after %v", len(probes), took.Round(time.Millisecond))
		})
	}
}

// flow sends requests to url with Host host from two goroutines until
// stop is called, which returns how many were sent and the failures.
func flow(url, host string) (stop func() (int, []string)) {
	var sent atomic.Int64
	var mu sync.Mutex
	var failures []string
	done := make(chan struct{})
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 5 * time.Second}
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				req, err := http.NewRequest(http.MethodGet, url, nil)
				if err != nil {
					panic(err)
				}
				req.Host = host
				resp, err := c.Do(req)
				sent.Add(1)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d %s %v", resp.StatusCode, firstLine(string(body)), err))
					mu.Unlock()
				}
			}
		}()
	}
	return func() (int, []string) {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return int(sent.Load()), failures
	}
}

// clusterSuccesses reads, from Envoy's /clusters, the successful requests
// of each cluster of namespace "apps".
func (e *dirEnv) clusterSuccesses() map[string]int {
	e.t.Helper()
	resp, err := http.Get("http://" + e.envoyAdmin + "/clusters")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, l := range strings.Split(string(body), "\n") {
		f := strings.Split(l, "::")
		if len(f) < 2 || !strings.HasPrefix(f[0], "apps/") {
			continue
		}
		if _, ok := out[f[0]]; !ok {
			out[f[0]] = 0
		}
		if len(f) == 4 && f[2] == "rq_success" {
			var n int
			if _, err := fmt.Sscanf(f[3], "%d", &n); err != nil {
				e.t.Fatalf("/clusters: rq_success %q: %v", f[3], err)
			}
			out[f[0]] += n
		}
	}
	return out
}

// TestMakeBeforeBreak moves a route to a new Service five times, removing
// the old Service in the same change, while requests flow: none fails.
func TestMakeBeforeBreak(t *testing.T) {
	for _, mode := range []string{"delta", "sotw"} {
		t.Run(mode, func(t *testing.T) {
			e := startDirEnvWith(t, mode == "sotw", func(e *dirEnv) {
				e.write("gateway.yaml", gatewayWithPorts(e.gwPort))
				e.write("app.yaml", loopbackService("app0", e.httpbinPort, "")+"---\n"+httpRoute("app", e.gwPort, "/", "app0", "app.example.com"))
			}, nil, nil)
			eventually(t, 15*time.Second, "the route served", func() string {
				if a := get(t, e.url+"/status/200", "app.example.com"); a.code != 200 {
					return a.String()
				}
				return ""
			})
			stop := flow(e.url+"/status/200", "app.example.com")
			var took []time.Duration
			for i := 1; i <= 5; i++ {
				svc := fmt.Sprintf("app%d", i)
				start := time.Now()
				e.write("app.yaml", loopbackService(svc, e.httpbinPort, "")+"---\n"+httpRoute("app", e.gwPort, "/", svc, "app.example.com"))
				old := fmt.Sprintf("apps/app%d/80", i-1)
				cur := fmt.Sprintf("apps/%s/80", svc)
				took = append(took, eventually(t, 15*time.Second, "the route moved to "+svc, func() string {
					s := e.clusterSuccesses()
					if _, ok := s[old]; ok || s[cur] == 0 {
						return fmt.Sprintf("clusters and their successes: %v", s)
					}
					return ""
				}))
				t.Logf("moved to %s in %v", svc, time.Since(start).Round(time.Millisecond))
				time.Sleep(200 * time.Millisecond)
			}
			sent, failures := stop()
			if len(failures) > 0 {
				t.Fatalf("%d of %d requests failed during 5 moves; first: %v", len(failures), sent, failures[:min(5, len(failures))])
			}
			t.Logf("%d requests during 5 moves, 0 failed; moves took %v", sent, took)
		})
	}
}

// TestClusterChangeActiveQuickly changes a cluster (its Service port's
// appProtocol becomes kubernetes.io/h2c) and not its endpoints: Envoy
// warms the new cluster until it receives their assignment again, so it
// must be sent at once; the change is active within 1 s, and no request
// fails.
func TestClusterChangeActiveQuickly(t *testing.T) {
	for _, mode := range []string{"delta", "sotw"} {
		t.Run(mode, func(t *testing.T) {
			// A backend that speaks HTTP/1.1 and HTTP/2 without TLS and says
			// which one a request came with.
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, r.Proto)
			}))
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetHTTP1(true)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
			srv.Start()
			t.Cleanup(srv.Close)
			port := srv.Listener.Addr().(*net.TCPAddr).Port
			e := startDirEnvWith(t, mode == "sotw", func(e *dirEnv) {
				e.write("gateway.yaml", gatewayWithPorts(e.gwPort))
				e.write("route.yaml", httpRoute("app", e.gwPort, "/", "app", "app.example.com"))
				e.write("svc.yaml", loopbackService("app", port, ""))
			}, nil, nil)
			proto := func() string { return get(t, e.url+"/", "app.example.com").body }
			eventually(t, 15*time.Second, "served over HTTP/1.1", func() string {
				if p := proto(); p != "HTTP/1.1" {
					return p
				}
				return ""
			})
			stop := flow(e.url+"/", "app.example.com")
			start := time.Now()
			e.write("svc.yaml", loopbackService("app", port, "kubernetes.io/h2c"))
			took := eventually(t, 15*time.Second, "served over HTTP/2", func() string {
				if p := proto(); p != "HTTP/2.0" {
					return p
				}
				return ""
			})
			sent, failures := stop()
			if len(failures) > 0 {
				t.Fatalf("%d of %d requests failed; first: %v", len(failures), sent, failures[:min(5, len(failures))])
			}
			if took > time.Second {
				t.Fatalf("the changed cluster took %v to be active, want within 1 s", took)
			}
			t.Logf("cluster change active after %v (the file written %v ago); %d requests, 0 failed", took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), sent)
		})
	}
}
