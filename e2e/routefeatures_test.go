package e2e

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// routeFeatureManifests is one JWT-protected listener with a rule that
// mirrors to "shadow" and sets a header for its one backend, and a rule
// that retries "flaky" on 503 up to 3 times.
const routeFeatureManifests = testenv.JWTGatewayManifest + `{{- range $i, $name := .Services }}
---
apiVersion: v1
kind: Service
metadata: {name: {{ $name }}, namespace: infra}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: {{ $name }}, namespace: infra, labels: {kubernetes.io/service-name: {{ $name }}}}
addressType: FQDN
ports: [{name: http, port: PORT-{{ $name }}}]
endpoints: [{addresses: [{{ $name }}.localhost]}]
{{- end }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /mirrored}}]
    filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: shadow, port: 80}}
    backendRefs:
    - name: app
      port: 80
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier: {set: [{name: x-for-app, value: "yes"}]}
  - matches: [{path: {type: PathPrefix, value: /flaky}}]
    retry: {codes: [503], attempts: 3, backoff: 10ms}
    backendRefs: [{name: flaky, port: 80}]
`

// TestMirrorRetryBackendHeaders shows mirroring, retries and a backendRef's
// header modifier against real Envoy, behind JWT: a request without a token
// is neither served, mirrored nor retried; with one, the shadow backend gets
// a copy, the app gets the header its backendRef sets, and a backend that
// fails twice with 503 is retried until it answers.
func TestMirrorRetryBackendHeaders(t *testing.T) {
	key, err := jwt.GenerateRSA("k1")
	if err != nil {
		t.Fatal(err)
	}
	var appSaw atomic.Value // the x-for-app header of the last request
	appSaw.Store("")
	appCount := &atomic.Int64{}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appCount.Add(1)
		appSaw.Store(r.Header.Get("x-for-app"))
		w.Header().Set("x-backend", "app")
	}))
	t.Cleanup(app.Close)
	shadowPort, shadowCount := countingBackend(t, "shadow")
	var mu sync.Mutex
	failNext := 0
	flakyCount := &atomic.Int64{}
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flakyCount.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if failNext > 0 {
			failNext--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("x-backend", "flaky")
	}))
	t.Cleanup(flaky.Close)
	port := func(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }

	e := startDirEnv(t, false, func(e *dirEnv) {
		m := fmt.Sprintf(routeFeatureManifests, e.gwPort, key.JWKS())
		m = expandServices(t, m, map[string]int{"app": port(app), "shadow": shadowPort, "flaky": port(flaky)})
		e.gateway = "infra/gw"
		e.write("features.yaml", m)
	})
	tok, err := jwt.Mint(key, jwt.Claims{"sub": "alice"}, jwt.MintOptions{Issuer: "iss-1", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	auth := "Authorization: Bearer " + tok

	eventually(t, 15*time.Second, "the routes served", func() string {
		if a := get(t, e.url+"/mirrored", "api.test", auth); a.code != 200 || a.header.Get("x-backend") != "app" {
			return a.String()
		}
		if a := get(t, e.url+"/flaky", "api.test", auth); a.code != 200 {
			return "flaky: " + a.String()
		}
		return ""
	})
	// The mirror's copy is sent alongside: let the last ones land.
	time.Sleep(200 * time.Millisecond)
	appCount.Store(0)
	shadowCount.Store(0)
	flakyCount.Store(0)

	// Without a token: refused before the router, so nothing is mirrored
	// and nothing retried.
	for _, path := range []string{"/mirrored", "/flaky"} {
		if a := get(t, e.url+path, "api.test"); a.code != 401 {
			t.Errorf("%s without a token: %s, want 401", path, a)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if a, s, f := appCount.Load(), shadowCount.Load(), flakyCount.Load(); a+s+f != 0 {
		t.Fatalf("without a token the backends saw app %d, shadow %d, flaky %d requests, want none", a, s, f)
	}

	// Mirroring and the backendRef's header.
	if a := get(t, e.url+"/mirrored", "api.test", auth); a.code != 200 {
		t.Errorf("/mirrored: %s", a)
	}
	eventually(t, 5*time.Second, "the shadow backend gets the copy", func() string {
		if n := shadowCount.Load(); n != 1 {
			return fmt.Sprintf("shadow saw %d requests", n)
		}
		return ""
	})
	if got := appSaw.Load().(string); got != "yes" || appCount.Load() != 1 {
		t.Errorf("app saw %d requests, x-for-app %q; want 1 with \"yes\"", appCount.Load(), got)
	}

	// Retries: two 503s, then an answer, within 3 attempts.
	mu.Lock()
	failNext = 2
	mu.Unlock()
	if a := get(t, e.url+"/flaky", "api.test", auth); a.code != 200 || a.header.Get("x-backend") != "flaky" {
		t.Errorf("/flaky failing twice: %s, want 200 after retries", a)
	}
	if n := flakyCount.Load(); n != 3 {
		t.Errorf("flaky saw %d requests, want 3 (one try, two retries)", n)
	}
	// More failures than attempts: the client gets the backend's 503.
	flakyCount.Store(0)
	mu.Lock()
	failNext = 10
	mu.Unlock()
	if a := get(t, e.url+"/flaky", "api.test", auth); a.code != 503 {
		t.Errorf("/flaky failing 10 times: %s, want 503", a)
	}
	if n := flakyCount.Load(); n != 4 {
		t.Errorf("flaky saw %d requests, want 4 (one try, three retries)", n)
	}
	t.Logf("mirror: shadow saw 1 copy; retries: 3 and 4 tries; backendRef header on the app: %q", appSaw.Load())
}

// expandServices writes a Service and EndpointSlice per name into the
// manifests' {{ range .Services }} block, with the name's port.
func expandServices(t *testing.T, m string, ports map[string]int) string {
	t.Helper()
	const open, end = "{{- range $i, $name := .Services }}", "{{- end }}"
	i, j := strings.Index(m, open), strings.Index(m, end)
	if i < 0 || j < i {
		t.Fatal("manifests without a Services block")
	}
	block := m[i+len(open) : j]
	var out string
	for _, name := range slices.Sorted(maps.Keys(ports)) {
		b := strings.ReplaceAll(block, "{{ $name }}", name)
		out += strings.ReplaceAll(b, "PORT-"+name, fmt.Sprint(ports[name]))
	}
	return m[:i] + out + m[j+len(end):]
}
