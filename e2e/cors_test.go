package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// TestCORSPreflightBeforeJWT shows the CORS filter ahead of jwt_authn and
// rbac: a browser's preflight to a JWT-protected route is answered without
// a token, while the actual request without a token gets 401, with a token
// of a user the RBAC policy refuses 403, and with alice's token 200. No
// preflight, allowed or not, reaches the backend, and an OPTIONS request
// dressed up as a preflight never gets past JWT on a route without CORS.
func TestCORSPreflightBeforeJWT(t *testing.T) {
	key := newKey(t, jwt.GenerateRSA, "k1")
	apiPort, apiCount := countingBackend(t, "api")
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("cors.yaml", fmt.Sprintf(testenv.JWTGatewayManifest, e.gwPort, key.JWKS())+testenv.Fixture(t, "cors.yaml")+
			testenv.FQDNBackend("infra", "api", "http", 80, apiPort))
	})
	mint := func(sub string) string { return "Authorization: Bearer " + iss1Token(t, key, jwt.Claims{"sub": sub}) }
	alice, bob := mint("alice"), mint("bob")
	const origin = "Origin: https://app.example"
	preflight := func(path string, headers ...string) answer {
		return do(t, http.MethodOptions, e.url+path, "api.test", headers...)
	}

	eventually(t, 15*time.Second, "the route served", func() string {
		if a := get(t, e.url+"/api/x", "api.test", alice); a.code != 200 || a.header.Get("x-backend") != "api" {
			return a.String()
		}
		return ""
	})
	apiCount.Store(0)

	// The preflight: no token, answered by Envoy with the route's policy.
	a := preflight("/api/items", origin, "Access-Control-Request-Method: PUT", "Access-Control-Request-Headers: authorization, content-type")
	t.Logf("preflight without a token: %d, Access-Control-Allow-Origin=%q Allow-Methods=%q Allow-Headers=%q Allow-Credentials=%q Max-Age=%q",
		a.code, a.header.Get("Access-Control-Allow-Origin"), a.header.Get("Access-Control-Allow-Methods"),
		a.header.Get("Access-Control-Allow-Headers"), a.header.Get("Access-Control-Allow-Credentials"), a.header.Get("Access-Control-Max-Age"))
	if a.code != 200 {
		t.Errorf("preflight without a token: %s, want 200", a)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":      "https://app.example",
		"Access-Control-Allow-Methods":     "GET, PUT",
		"Access-Control-Allow-Headers":     "authorization, content-type",
		"Access-Control-Allow-Credentials": "true",
		"Access-Control-Max-Age":           "600",
	} {
		if got := a.header.Get(k); got != want {
			t.Errorf("preflight: %s = %q, want %q", k, got, want)
		}
	}
	if a := preflight("/api/items", "Origin: https://eu.partner.example", "Access-Control-Request-Method: GET"); a.code != 200 || a.header.Get("Access-Control-Allow-Origin") != "https://eu.partner.example" {
		t.Errorf("preflight from a wildcard origin: %s, Allow-Origin %q", a, a.header.Get("Access-Control-Allow-Origin"))
	}

	// The actual requests are still authenticated and authorized.
	a = get(t, e.url+"/api/items", "api.test", origin)
	t.Logf("actual request without a token: %d %q, Access-Control-Allow-Origin=%q", a.code, strings.TrimSpace(a.body), a.header.Get("Access-Control-Allow-Origin"))
	if a.code != 401 {
		t.Errorf("actual request without a token: %s, want 401", a)
	}
	if got := a.header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		// Without it a browser could not read the 401 and tell the user.
		t.Errorf("the 401 carries Access-Control-Allow-Origin %q, want https://app.example", got)
	}
	if a := do(t, http.MethodPut, e.url+"/api/items", "api.test", origin, bob); a.code != 403 || a.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("actual request with bob's token: %s, Access-Control-Allow-Origin %q; want 403 with https://app.example", a, a.header.Get("Access-Control-Allow-Origin"))
	}
	if n := apiCount.Load(); n != 0 {
		t.Fatalf("the backend saw %d requests before any was allowed", n)
	}
	a = do(t, http.MethodPut, e.url+"/api/items", "api.test", origin, alice)
	if a.code != 200 || a.header.Get("Access-Control-Allow-Origin") != "https://app.example" || a.header.Get("Access-Control-Expose-Headers") != "x-request-id" {
		t.Errorf("actual request with alice's token: %s, Allow-Origin %q, Expose-Headers %q", a, a.header.Get("Access-Control-Allow-Origin"), a.header.Get("Access-Control-Expose-Headers"))
	}
	if n := apiCount.Load(); n != 1 {
		t.Fatalf("the backend saw %d requests, want 1 (alice's)", n)
	}
	apiCount.Store(0)

	// What an attacker may try: an origin the route does not allow, an
	// OPTIONS request that is not a preflight, a preflight to a route
	// without CORS. None is answered with CORS headers, none reaches the
	// backend without a token.
	hostile := []struct {
		name string
		send func() answer
		want int
	}{
		{"preflight from an origin not allowed", func() answer {
			return preflight("/api/items", "Origin: https://evil.example", "Access-Control-Request-Method: PUT")
		}, 200},
		{"preflight from a look-alike origin", func() answer {
			return preflight("/api/items", "Origin: https://app.example.evil.example", "Access-Control-Request-Method: GET")
		}, 200},
		{"preflight from the partner suffix without a dot", func() answer {
			return preflight("/api/items", "Origin: https://evilpartner.example", "Access-Control-Request-Method: GET")
		}, 200},
		{"OPTIONS with an allowed origin but no Access-Control-Request-Method", func() answer {
			return preflight("/api/items", origin)
		}, 401},
		{"preflight to a route without CORS", func() answer {
			return preflight("/plain", origin, "Access-Control-Request-Method: GET")
		}, 401},
		{"GET from an origin not allowed", func() answer {
			return get(t, e.url+"/api/items", "api.test", "Origin: https://evil.example")
		}, 401},
	}
	for _, h := range hostile {
		a := h.send()
		t.Logf("%s: %d, Access-Control-Allow-Origin=%q", h.name, a.code, a.header.Get("Access-Control-Allow-Origin"))
		if a.code != h.want {
			t.Errorf("%s: %s, want %d", h.name, a, h.want)
		}
		if got := a.header.Get("Access-Control-Allow-Origin"); got != "" && h.name != "OPTIONS with an allowed origin but no Access-Control-Request-Method" {
			t.Errorf("%s: Access-Control-Allow-Origin %q, want none", h.name, got)
		}
	}
	if n := apiCount.Load(); n != 0 {
		t.Errorf("the backend saw %d of the hostile requests, want 0", n)
	}
}
