package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// TestMirrorRetryBackendHeaders shows mirroring, retries and a backendRef's
// header modifier against real Envoy, behind JWT: a request without a token
// is neither served, mirrored nor retried; with one, the shadow backend gets
// a copy, the app gets the header its backendRef sets, and a backend that
// fails twice with 503 is retried until it answers.
func TestMirrorRetryBackendHeaders(t *testing.T) {
	key := newKey(t, jwt.GenerateRSA, "k1")
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
		e.gateway = "infra/gw"
		e.write("features.yaml", fmt.Sprintf(testenv.JWTGatewayManifest, e.gwPort, key.JWKS())+testenv.Fixture(t, "routefeatures.yaml")+
			testenv.FQDNBackend("infra", "app", "http", 80, port(app))+
			testenv.FQDNBackend("infra", "flaky", "http", 80, port(flaky))+
			testenv.FQDNBackend("infra", "shadow", "http", 80, shadowPort))
	})
	auth := "Authorization: Bearer " + iss1Token(t, key, jwt.Claims{"sub": "alice"})

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
