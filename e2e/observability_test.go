package e2e

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/dashboard"
	"github.com/gatewarden/gatewarden/internal/testenv"
)

var updateMetricNames = flag.Bool("update-metric-names", false, "rewrite deploy/grafana/testdata/metric-names.txt from the scrape of TestObservability")

// TestObservability makes the four decisions of the guide against the real
// Envoy (401 without a token, 401 with a bad signature, 403 by RBAC, 200)
// and reads each one's access log line, scrapes the metrics port while the
// per-policy counters move, checks that the metrics port serves nothing of
// the admin interface but the stats, and turns the guide's RouteOption into
// a dry run that would deny Bob: Bob passes, the log names the option, the
// shadow counter is 1.
func TestObservability(t *testing.T) {
	metricsPort := freePort(t)
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d", metricsPort)
	e := startDirEnvWith(t, false, func(e *dirEnv) {
		guideFiles(e)
		e.copyExample("examples/gateway-jwt/virtualhostoption.yaml", "vho.yaml",
			"issuer: solo.io", "issuer: solo.io\n          attachFailedStatusToMetadata: jwt_failure")
		e.copyExample("examples/gateway-jwt/routeoption.yaml", "rto.yaml")
	}, nil, []string{"--envoy-metrics-address", fmt.Sprintf("127.0.0.1:%d", metricsPort)})
	tokens := readEnv(t, filepath.Join(testenv.RepoRoot(), "examples/gateway-jwt/tokens.env"))
	alice, bob := tokens["ALICE_TOKEN"], tokens["BOB_TOKEN"]
	// A bad signature: Alice's token with its signature's first byte changed.
	dot := strings.LastIndex(alice, ".")
	sig := []byte(alice[dot+1:])
	sig[0] ^= 1
	forged := alice[:dot+1] + string(sig)
	secrets := []string{alice, bob, forged, alice[dot+1:], bob[strings.LastIndex(bob, ".")+1:], "s3cr3t-query"}

	eventually(t, 15*time.Second, "guide policy served", func() string {
		if a := e.get("Authorization: Bearer " + alice); a.code != 200 {
			return "Alice: " + a.String()
		}
		return ""
	})
	prefix := fmt.Sprintf("gloo-system_http_http-%d", e.gwPort)
	policyAllowed := fmt.Sprintf(`envoy_http_rbac_policy_allowed{envoy_rbac_policy_name="viewer",envoy_http_conn_manager_prefix=%q}`, prefix)
	rbacDenied := fmt.Sprintf(`envoy_http_rbac_denied{envoy_http_conn_manager_prefix=%q}`, prefix)
	jwtDenied := fmt.Sprintf(`envoy_http_jwt_authn_denied{envoy_http_conn_manager_prefix=%q}`, prefix)
	before := scrape(t, metricsURL+"/stats/prometheus")

	type decision struct {
		name, path, token string
		code              int
		details           string
	}
	decisions := []decision{
		{"missing token", "/anything/missing", "", 401, "jwt_authn_access_denied{Jwt_is_missing}"},
		{"bad signature", "/anything/forged", forged, 401, "jwt_authn_access_denied{Jwt_verification_fails}"},
		{"RBAC", "/anything/bob", bob, 403, "rbac_access_denied_matched_policy[none]"},
		{"allowed", "/anything/alice", alice, 200, "via_upstream"},
	}
	for _, d := range decisions {
		var h []string
		if d.token != "" {
			h = append(h, "Authorization: Bearer "+d.token)
		}
		if a := get(t, e.url+d.path+"?signature=s3cr3t-query", guideHost, h...); a.code != d.code {
			t.Fatalf("%s: %s, want %d", d.name, a, d.code)
		}
	}
	lines := waitLogLines(t, e, "/anything/alice")
	for _, d := range decisions {
		l := lines[d.path]
		if l == nil {
			t.Fatalf("%s: no access log line for %s", d.name, d.path)
		}
		want := map[string]any{
			"method": "GET", "path": d.path, "authority": guideHost, "response_code": float64(d.code),
			"response_code_details": d.details, "gateway": "gloo-system/http", "listener": fmt.Sprintf("http-%d", e.gwPort),
			"route_name": "httpbin/httpbin/rule/0/match/0",
		}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("%s: %s = %v, want %v (line %v)", d.name, k, l[k], v, l)
			}
		}
		for _, k := range []string{"start_time", "duration_ms", "response_flags", "request_id"} {
			if _, ok := l[k]; !ok {
				t.Errorf("%s: no %s in %v", d.name, k, l)
			}
		}
	}
	for _, d := range decisions {
		js, err := json.Marshal(lines[d.path])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", d.name, js)
	}
	claims := func(path string) map[string]any {
		jwt, _ := lines[path]["jwt"].(map[string]any)
		sm, _ := jwt["selfminted"].(map[string]any)
		return sm
	}
	if c := claims("/anything/alice"); c["sub"] != "alice" || c["iss"] != "solo.io" {
		t.Errorf("Alice's line: jwt.selfminted = %v, want sub alice, iss solo.io", c)
	}
	if c := claims("/anything/bob"); c["sub"] != "bob" {
		t.Errorf("Bob's line: jwt.selfminted = %v, want sub bob", c)
	}
	if c := claims("/anything/missing"); c != nil {
		t.Errorf("the line without a token names claims: %v", c)
	}
	if f, _ := lines["/anything/forged"]["jwt_failure"].(map[string]any); f == nil || !strings.Contains(fmt.Sprint(f["jwt_failure"]), "erification") {
		t.Errorf("bad signature: jwt_failure = %v, want the failed status Envoy attaches (attachFailedStatusToMetadata)", lines["/anything/forged"]["jwt_failure"])
	}
	rbacOf := func(path string) map[string]any { r, _ := lines[path]["rbac"].(map[string]any); return r }
	if r := rbacOf("/anything/alice"); r["enforced_engine_result"] != "allowed" || r["enforced_effective_policy_id"] != "viewer" {
		t.Errorf("Alice's line: rbac = %v, want allowed by policy viewer", r)
	}
	if r := rbacOf("/anything/bob"); r["enforced_engine_result"] != "denied" {
		t.Errorf("Bob's line: rbac = %v, want denied", r)
	}
	checkNoSecrets(t, e.envoy.Output(), secrets)

	// The counters of the metrics port moved with the requests: one JWT
	// denial more per 401, one RBAC denial (Bob), policy viewer allowed
	// Alice once.
	after := scrape(t, metricsURL+"/stats/prometheus")
	for name, delta := range map[string]float64{policyAllowed: 1, rbacDenied: 1, jwtDenied: 2} {
		if got := after[name] - before[name]; got != delta {
			t.Errorf("%s moved by %v, want %v (before %v, after %v)", name, got, delta, before[name], after[name])
		}
	}

	// The metrics port is not the admin interface: every other path, and
	// the tricks to reach one, get 404 or 400 and Envoy keeps running.
	for _, req := range []struct{ method, path string }{
		{"GET", "/config_dump"}, {"GET", "/stats"}, {"POST", "/quitquitquit"}, {"POST", "/logging?level=trace"},
		{"POST", "/stats/prometheus"}, {"GET", "/stats/prometheus/../../config_dump"}, {"GET", "/stats/prometheus/%2E%2E/%2E%2E/config_dump"},
		{"GET", "/stats/prometheus%2F..%2F..%2Fconfig_dump"}, {"GET", "//config_dump"}, {"GET", "/STATS/PROMETHEUS"}, {"POST", "/drain_listeners"},
	} {
		a := rawRequest(t, metricsPort, req.method, req.path)
		if a.code != 404 && a.code != 400 {
			t.Errorf("%s %s on the metrics port: %d %q, want 404 or 400", req.method, req.path, a.code, truncate(a.body, 80))
		}
		if strings.Contains(a.body, "configs") || strings.Contains(a.body, "envoy_") {
			t.Errorf("%s %s on the metrics port leaked admin output: %q", req.method, req.path, truncate(a.body, 80))
		}
	}
	time.Sleep(200 * time.Millisecond)
	e.checkEnvoy()
	if a := get(t, e.url+"/headers", guideHost, "Authorization: Bearer "+alice); a.code != 200 {
		t.Fatalf("Alice after the attacks on the metrics port: %s", a)
	}

	// The scrape has every metric the dashboard queries.
	names := metricNames(after)
	for n := range metricNames(scrape(t, e.adminURL+"/metrics")) {
		names[n] = true
	}
	checkDashboard(t, names)
	if *updateMetricNames {
		writeMetricNames(t, names)
	}

	// Dry run: the guide's RouteOption, which denies Bob, annotated
	// gatewarden.io/dry-run. Whether it is served is read from Envoy's
	// configuration, not by sending Bob, so that Bob's request is the only
	// one the shadow rules see.
	shadowDenied := fmt.Sprintf(`envoy_http_rbac_shadow_denied{envoy_http_conn_manager_prefix=%q}`, prefix)
	e.copyExample("examples/gateway-jwt/routeoption.yaml", "rto.yaml", "  namespace: httpbin\n", "  namespace: httpbin\n  annotations: {gatewarden.io/dry-run: \"true\"}\n")
	eventually(t, 10*time.Second, "dry-run RouteOption served", func() string {
		resp, err := http.Get("http://" + e.envoyAdmin + "/config_dump?resource=dynamic_route_configs")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err.Error()
		}
		if !strings.Contains(string(body), "dry_run:RouteOption/httpbin/jwt:") {
			return "no shadow rules of RouteOption httpbin/jwt yet"
		}
		return ""
	})
	if n := scrape(t, metricsURL+"/stats/prometheus")[shadowDenied]; n != 0 {
		t.Fatalf("%s = %v before Bob's request, want 0", shadowDenied, n)
	}
	if a := get(t, e.url+"/anything/bob-dry-run?signature=s3cr3t-query", guideHost, "Authorization: Bearer "+bob); a.code != 200 {
		t.Fatalf("Bob under the dry-run RouteOption: %s, want 200", a)
	}
	l := waitLogLines(t, e, "/anything/bob-dry-run")["/anything/bob-dry-run"]
	r, _ := l["rbac"].(map[string]any)
	if r["dry_run:RouteOption/httpbin/jwt:shadow_engine_result"] != "denied" || l["response_code"] != float64(200) {
		t.Errorf("Bob's dry-run line: response_code %v, rbac %v; want 200 and dry_run:RouteOption/httpbin/jwt:shadow_engine_result denied", l["response_code"], r)
	}
	if js, err := json.Marshal(l); err == nil {
		t.Logf("dry run: %s", js)
	}
	if n := scrape(t, metricsURL+"/stats/prometheus")[shadowDenied]; n != 1 {
		t.Errorf("%s = %v after Bob's request, want 1", shadowDenied, n)
	}
	checkNoSecrets(t, e.envoy.Output(), secrets)
}

// waitLogLines waits for the access log line of path and returns every
// access log line Envoy printed so far, by path. Envoy writes its access
// logs out every --file-flush-interval-msec (10s by default).
func waitLogLines(t *testing.T, e *dirEnv, path string) map[string]map[string]any {
	t.Helper()
	var out map[string]map[string]any
	eventually(t, 15*time.Second, "access log line of "+path, func() string {
		out = map[string]map[string]any{}
		sc := bufio.NewScanner(strings.NewReader(e.envoy.Output()))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("access log line is not JSON: %v: %s", err, line)
			}
			if p, ok := m["path"].(string); ok {
				out[p] = m
			}
		}
		if out[path] == nil {
			return "not yet"
		}
		return ""
	})
	return out
}

func checkNoSecrets(t *testing.T, output string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(output, s) {
			t.Errorf("Envoy's output holds a secret (%s...)", s[:8])
		}
	}
}

// rawRequest sends method and path as written (no cleaning by net/http).
func rawRequest(t *testing.T, port int, method, path string) answer {
	t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path
	if p, q, ok := strings.Cut(path, "?"); ok {
		req.URL.Opaque, req.URL.RawQuery = p, q
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{body: err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{code: resp.StatusCode, body: string(body)}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// scrape reads a Prometheus text page: value by series ("name{labels}").
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%s: bad sample %q: %v", url, line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// metricNames are the metric names of a scrape's series.
func metricNames(series map[string]float64) map[string]bool {
	out := map[string]bool{}
	for s := range series {
		name, _, _ := strings.Cut(s, "{")
		out[name] = true
	}
	return out
}

const metricNamesFile = "deploy/grafana/testdata/metric-names.txt"

func writeMetricNames(t *testing.T, names map[string]bool) {
	t.Helper()
	var list []string
	for n := range names {
		list = append(list, n)
	}
	slices.Sort(list)
	path := filepath.Join(testenv.RepoRoot(), metricNamesFile)
	if err := os.WriteFile(path, []byte(strings.Join(list, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkDashboard fails for each metric a query of the committed dashboard
// reads that the scrape did not return.
func checkDashboard(t *testing.T, scraped map[string]bool) {
	t.Helper()
	queries, err := dashboard.Queries(filepath.Join(testenv.RepoRoot(), dashboard.Path))
	if err != nil {
		t.Fatal(err)
	}
	for title, exprs := range queries {
		for _, e := range exprs {
			for _, n := range dashboard.MetricNames(e) {
				if !scraped[n] {
					t.Errorf("dashboard panel %q reads %s, which the scrape did not return", title, n)
				}
			}
		}
	}
}
