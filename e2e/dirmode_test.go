package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// guideHost is the Host header of every request of the guide.
const guideHost = "www.example.com:8080"

// propagation is how soon a change to the watched directory must be enforced.
const propagation = 2 * time.Second

// dirEnv is gatewarden in directory mode with one Envoy and httpbin.
type dirEnv struct {
	t           *testing.T
	dir         string
	gwPort      int
	httpbinPort int
	gateway     string // namespace/name the Envoy serves
	xdsAddr     string
	envoyAdmin  string
	url         string
	adminURL    string
	gatewarden  *testenv.GatewardenProcess
	envoy       *testenv.EnvoyProcess
	envoyPID    int
}

// copyExample copies an example file into the watched directory, rewritten
// as exampleFile says.
func (e *dirEnv) copyExample(src, dst string, replace ...string) {
	e.t.Helper()
	e.write(dst, exampleFile(e.t, src, replace...))
}

// exampleFile is the content of a repository file (an example), each
// `from` of the pairs replace rewritten to its `to` (ports of the test);
// each must occur exactly once.
func exampleFile(t *testing.T, path string, replace ...string) string {
	t.Helper()
	s := readFile(t, filepath.Join(testenv.RepoRoot(), path))
	for i := 0; i+1 < len(replace); i += 2 {
		if n := strings.Count(s, replace[i]); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once", path, replace[i], n)
		}
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	return s
}

// write replaces a file of the watched directory atomically, as kubectl or
// an editor saving through a temporary file would.
func (e *dirEnv) write(name, content string) {
	e.t.Helper()
	tmp := filepath.Join(e.dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.dir, name)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *dirEnv) remove(name string) {
	e.t.Helper()
	if err := os.Remove(filepath.Join(e.dir, name)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *dirEnv) get(headers ...string) answer {
	return get(e.t, e.url+"/headers", guideHost, headers...)
}

// versions is the configuration version gatewarden serves, per Gateway.
func (e *dirEnv) versions() map[string]string {
	e.t.Helper()
	resp, err := http.Get(e.adminURL + "/debug/config")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Versions map[string]string `json:"versions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		e.t.Fatal(err)
	}
	return doc.Versions
}

// checkEnvoy asserts the same Envoy process is still serving.
func (e *dirEnv) checkEnvoy() {
	e.t.Helper()
	if !e.envoy.Running() || e.envoy.Pid() != e.envoyPID {
		e.t.Fatalf("Envoy (pid %d) is no longer running", e.envoyPID)
	}
}

// guideFiles writes the guide's Gateway and httpbin into the directory.
func guideFiles(e *dirEnv) {
	e.copyExample("examples/gateway-jwt/gateway.yaml", "gateway.yaml", "port: 8080", fmt.Sprintf("port: %d", e.gwPort))
	e.copyExample("examples/gateway-jwt/httpbin.yaml", "httpbin.yaml", "  port: 8000\n  protocol: TCP", fmt.Sprintf("  port: %d\n  protocol: TCP", e.httpbinPort))
}

// startDirEnv starts httpbin, lets setup write the first manifests (it
// knows the ports), then starts gatewarden on the directory and one Envoy.
func startDirEnv(t *testing.T, sotw bool, setup func(*dirEnv)) *dirEnv {
	return startDirEnvWith(t, sotw, setup, nil, nil)
}

// startDirEnvWith also passes extra flags to `gatewarden serve` and to
// `gatewarden bootstrap`.
func startDirEnvWith(t *testing.T, sotw bool, setup func(*dirEnv), serveFlags, bootstrapFlags []string) *dirEnv {
	t.Helper()
	e := &dirEnv{t: t, dir: t.TempDir(), gwPort: freePort(t), httpbinPort: startHTTPBin(t)}
	e.url = fmt.Sprintf("http://127.0.0.1:%d", e.gwPort)
	e.gateway = "gloo-system/http"
	setup(e)

	e.gatewarden = testenv.RunGatewarden(t, testenv.GatewardenOptions{
		Flags:       append([]string{"--resources", e.dir, "--debounce", "50ms"}, serveFlags...),
		ReadyWithin: 10 * time.Second,
	})
	e.xdsAddr, e.adminURL = e.gatewarden.XDSAddress, e.gatewarden.AdminURL()
	if sotw {
		bootstrapFlags = append([]string{"--sotw"}, bootstrapFlags...)
	}
	e.envoy = testenv.RunEnvoy(t, testenv.EnvoyOptions{Gateway: e.gateway, XDSAddress: e.xdsAddr, BootstrapFlags: bootstrapFlags})
	e.envoyAdmin = e.envoy.AdminAddress
	e.envoyPID = e.envoy.Pid()
	return e
}

// TestGuideDirectoryMode follows the guide step by step with gatewarden in
// directory mode: the files of examples/gateway-jwt are added to, changed in
// and removed from the watched directory while one Envoy keeps running. It
// runs with delta ADS (the default) and with state of the world, each with
// the port's routes in one route configuration and split per hostname
// (scoped RDS, which gatewarden uses from --scoped-routes-min-hosts exact
// hostnames on a port: forced here with the guide's one).
func TestGuideDirectoryMode(t *testing.T) {
	for _, mode := range []string{"delta", "sotw", "delta-scoped", "sotw-scoped"} {
		t.Run(mode, func(t *testing.T) {
			var flags []string
			if strings.HasSuffix(mode, "-scoped") {
				flags = []string{"--scoped-routes-min-hosts", "1"}
			}
			testGuideDirectoryMode(t, strings.HasPrefix(mode, "sotw"), flags)
		})
	}
}

func testGuideDirectoryMode(t *testing.T, sotw bool, serveFlags []string) {
	e := startDirEnvWith(t, sotw, guideFiles, serveFlags, nil)
	tokens := readEnv(t, filepath.Join(testenv.RepoRoot(), "examples/gateway-jwt/tokens.env"))
	alice := "Authorization: Bearer " + tokens["ALICE_TOKEN"]
	bob := "Authorization: Bearer " + tokens["BOB_TOKEN"]

	// The configuration served is the one asked for: scoped RDS or not.
	served := httpGet(t, e.adminURL+"/debug/xds")
	if scoped := len(serveFlags) > 0; strings.Contains(served, `"scopedRoutes"`) != scoped {
		t.Fatalf("scoped RDS wanted: %v; the served configuration has scopes: %v", scoped, !scoped)
	}

	type step struct {
		name   string
		change func()
		checks []check
	}
	steps := []step{
		{"1. Gateway and HTTPRoute only", func() {}, []check{
			{"no token", nil, 200, `"Host": [`},
		}},
		{"2. add the VirtualHostOption (JWT)", func() {
			e.copyExample("examples/gateway-jwt/virtualhostoption.yaml", "virtualhostoption.yaml")
		}, []check{
			{"no token", nil, 401, "Jwt is missing"},
			{"Alice", []string{alice}, 200, `"Host": [`},
			{"Bob", []string{bob}, 200, `"Host": [`},
		}},
		{"3. add the RouteOption (team: de. REGEX_MATCH)", func() {
			e.copyExample("examples/gateway-jwt/routeoption.yaml", "routeoption.yaml")
		}, []check{
			{"Alice", []string{alice}, 200, `"Host": [`},
			{"Bob", []string{bob}, 403, "RBAC: access denied"},
		}},
		{"4. change it to llms.mistralai LIST_CONTAINS", func() {
			e.copyExample("examples/gateway-jwt-steps/routeoption-list-contains.yaml", "routeoption.yaml")
		}, []check{
			{"Alice", []string{alice}, 403, "RBAC: access denied"},
			{"Bob", []string{bob}, 200, `"Host": [`},
		}},
		{"5a. delete the RouteOption", func() { e.remove("routeoption.yaml") }, []check{
			{"Alice", []string{alice}, 200, `"Host": [`},
			{"Bob", []string{bob}, 200, `"Host": [`},
			{"no token", nil, 401, "Jwt is missing"},
		}},
		{"5b. delete the VirtualHostOption", func() { e.remove("virtualhostoption.yaml") }, []check{
			{"no token", nil, 200, `"Host": [`},
		}},
	}
	for _, s := range steps {
		s.change()
		deadline := propagation
		if strings.HasPrefix(s.name, "1.") {
			deadline = 15 * time.Second // Envoy's first connection and start-up
		}
		took := eventually(t, deadline, s.name, func() string { return e.all(s.checks) })
		t.Logf("%-50s enforced after %v", s.name, took.Round(time.Millisecond))
		e.checkEnvoy()

		switch {
		case strings.HasPrefix(s.name, "2."):
			// The exact answers of the guide, and the token not forwarded.
			a := e.get()
			if got, want := a.header.Get("www-authenticate"), `Bearer realm="http://www.example.com:8080/headers"`; got != want {
				t.Errorf("www-authenticate = %q, want %q", got, want)
			}
			if a.body != "Jwt is missing" {
				t.Errorf("body = %q, want %q", a.body, "Jwt is missing")
			}
			a = e.get(alice)
			if strings.Contains(a.body, "Authorization") || strings.Contains(a.body, tokens["ALICE_TOKEN"]) {
				t.Errorf("httpbin saw the token; it must be removed before the upstream:\n%s", a.body)
			}
			if !strings.Contains(a.body, `"www.example.com:8080"`) {
				t.Errorf("httpbin did not echo the Host header:\n%s", a.body)
			}
		case strings.HasPrefix(s.name, "3."):
			e.malformedFilesChangeNothing(s.checks)
		}
	}
}

type check struct {
	who     string
	headers []string
	code    int
	body    string
}

// all runs the checks and describes the first that fails, or returns "".
func (e *dirEnv) all(checks []check) string {
	for _, c := range checks {
		a := e.get(c.headers...)
		if a.code != c.code || !strings.Contains(a.body, c.body) {
			return fmt.Sprintf("%s: got %v, want %d with %q", c.who, a, c.code, c.body)
		}
	}
	return ""
}

// malformedFilesChangeNothing drops a file that does not parse into the
// directory and truncates a policy file: the served configuration stays as it
// was, the answers stay the same, and gatewarden reports both files.
func (e *dirEnv) malformedFilesChangeNothing(checks []check) {
	t := e.t
	before := e.versions()
	e.write("broken.yaml", "apiVersion: gateway.solo.io/v1\nkind: RouteOption\nmetadata:\n  name: broken\n  namespace: httpbin\nspec:\n  options: [this is: not valid\n")
	e.write("routeoption.yaml", "apiVersion: gateway.solo.io/v1\nkind: RouteOption\nmetadata:\n  name: jwt\n  namespace: httpbin\nspec:\n  targetRefs:\n  - group: gateway.networking.k8s.io\n    kind: HTTPRoute\n    name: httpbin\n  options:\n    rbac:\n      policies:\n        viewer:\n          principals:\n          - jwtPrincipal:\n              claims:\n                team: \"de")
	eventually(t, propagation, "problems reported", func() string {
		out := e.gatewarden.Output()
		for _, want := range []string{"broken.yaml:6: invalid YAML", "routeoption.yaml", "keeping the last good version"} {
			if !strings.Contains(out, want) {
				return "gatewarden's log does not mention " + want
			}
		}
		return ""
	})
	time.Sleep(200 * time.Millisecond) // well past the debounce
	if msg := e.all(checks); msg != "" {
		t.Fatalf("after malformed files: %s", msg)
	}
	if after := e.versions(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("served versions changed after malformed files: %v -> %v", before, after)
	}
	t.Logf("malformed files: reported, served version unchanged (%v)", before)
	e.remove("broken.yaml")
	e.copyExample("examples/gateway-jwt/routeoption.yaml", "routeoption.yaml")
}
