package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// TestAttacksAreDenied sends tokens crafted to slip past the policy: each
// must be answered by Envoy with 401 or 403 (431 for an oversized header),
// and none may reach httpbin, which counts what it receives.
func TestAttacksAreDenied(t *testing.T) {
	k1 := newKey(t, jwt.GenerateRSA, "k1")
	var reached atomic.Int64
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		httpbin.New().ServeHTTP(w, r)
	}))
	defer counting.Close()
	backendPort := counting.Listener.Addr().(*net.TCPAddr).Port
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("attack.yaml", testenv.GatewayClassManifest+testenv.Fixture(t, "attacks.yaml", e.gwPort, k1.JWKS())+testenv.Backend("apps", "httpbin", "http", 8000, backendPort, "127.0.0.1"))
	})
	mint := func(claims jwt.Claims, o jwt.MintOptions) string {
		if o.Issuer == "" {
			o.Issuer = "iss-1"
		}
		if o.Audience == nil {
			o.Audience = []string{"api"}
		}
		if o.TTL == 0 {
			o.TTL = time.Hour
		}
		tok, err := jwt.Mint(k1, claims, o)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	dev := mint(jwt.Claims{"team": "dev"}, jwt.MintOptions{})
	// Wait until the policy is served: a good token passes, then reset the count.
	eventually(t, 15*time.Second, "policy served", func() string {
		if a := do(t, "GET", e.url+"/headers", "attack.test", "Authorization: Bearer "+dev); a.code != 200 {
			return a.String()
		}
		return ""
	})
	reached.Store(0)

	now := time.Now().Unix()
	devClaims := map[string]any{"iss": "iss-1", "aud": "api", "team": "dev", "exp": now + 3600}
	parts := strings.Split(dev, ".")
	other, unknownKid := newKey(t, jwt.GenerateRSA, "k1"), newKey(t, jwt.GenerateRSA, "k9")
	// HS256 "signed" with the RSA public key, the classic key confusion.
	hsHeader := map[string]any{"alg": "HS256", "typ": "JWT", "kid": "k1"}
	unsigned := jwt.Forge(hsHeader, devClaims, nil)
	unsigned = unsigned[:strings.LastIndex(unsigned, ".")]
	mac := hmac.New(sha256.New, []byte(k1.PublicPEM()))
	mac.Write([]byte(unsigned))
	keyConfusion := jwt.Forge(hsHeader, devClaims, mac.Sum(nil))
	tampered := parts[0] + "." + strings.Split(mint(jwt.Claims{"team": "devops"}, jwt.MintOptions{}), ".")[1] + "." + parts[2]
	big := mint(jwt.Claims{"team": "dev", "pad": strings.Repeat("x", 40<<10)}, jwt.MintOptions{})
	huge := mint(jwt.Claims{"team": "dev", "pad": strings.Repeat("x", 80<<10)}, jwt.MintOptions{})

	bearer := func(tok string) []string { return []string{"Authorization: Bearer " + tok} }
	attacks := []struct {
		name, host, path string
		headers          []string
	}{
		{"alg none", "attack.test", "/headers", bearer(jwt.Forge(map[string]any{"alg": "none", "typ": "JWT", "kid": "k1"}, devClaims, nil))},
		{"alg none, no signature part", "attack.test", "/headers", bearer(strings.TrimSuffix(jwt.Forge(map[string]any{"alg": "none"}, devClaims, nil), "."))},
		{"HS256 signed with the RSA public key", "attack.test", "/headers", bearer(keyConfusion)},
		{"another key with the same kid", "attack.test", "/headers", bearer(mustMint(t, other, devClaims))},
		{"unknown kid", "attack.test", "/headers", bearer(mustMint(t, unknownKid, devClaims))},
		{"tampered payload, old signature", "attack.test", "/headers", bearer(tampered)},
		{"expired", "attack.test", "/headers", bearer(mint(jwt.Claims{"team": "dev"}, jwt.MintOptions{Now: time.Now().Add(-2 * time.Hour), TTL: time.Hour}))},
		{"nbf in the future", "attack.test", "/headers", bearer(mint(jwt.Claims{"team": "dev", "nbf": now + 3600}, jwt.MintOptions{}))},
		{"wrong issuer", "attack.test", "/headers", bearer(mint(jwt.Claims{"team": "dev"}, jwt.MintOptions{Issuer: "evil"}))},
		{"wrong audience", "attack.test", "/headers", bearer(mint(jwt.Claims{"team": "dev"}, jwt.MintOptions{Audience: []string{"other"}}))},
		{"token of 40 KiB, bad signature", "attack.test", "/headers", bearer(big[:len(big)-10] + "AAAAAAAAAA")},
		{"token over the header size limit", "attack.test", "/headers", bearer(huge)},
		{"query parameter when only headers are configured", "headers-only.test", "/headers?access_token=" + dev, nil},
		{"lower-case bearer", "attack.test", "/headers", []string{"Authorization: bearer " + dev}},
		{"Basic scheme", "attack.test", "/headers", []string{"Authorization: Basic " + dev}},
		{"no prefix", "attack.test", "/headers", []string{"Authorization: " + dev}},
		{"Bearer with nothing", "attack.test", "/headers", []string{"Authorization: Bearer "}},
		{"Bearer and junk after the token", "attack.test", "/headers", []string{"Authorization: Bearer " + dev + "junk"}},
		{"two tokens, one bad", "attack.test", "/headers", []string{"Authorization: Bearer " + dev, "Authorization: Bearer " + tampered}},
		{`BOOLEAN: the string "true"`, "attack.test", "/anything/bool", bearer(mint(jwt.Claims{"team": "dev", "admin": "true"}, jwt.MintOptions{}))},
		{"LIST_CONTAINS: a string, not a list", "attack.test", "/anything/list", bearer(mint(jwt.Claims{"team": "dev", "roles": "admin"}, jwt.MintOptions{}))},
		{"REGEX_MATCH: a list, not a string", "attack.test", "/headers", bearer(mint(jwt.Claims{"team": []string{"dev"}}, jwt.MintOptions{}))},
		{"REGEX_MATCH anchored at the end: devops", "attack.test", "/headers", bearer(mint(jwt.Claims{"team": "devops"}, jwt.MintOptions{}))},
		{"REGEX_MATCH anchored at the start: ode", "attack.test", "/headers", bearer(mint(jwt.Claims{"team": "ode"}, jwt.MintOptions{}))},
		{"no token", "attack.test", "/headers", nil},
	}
	for _, a := range attacks {
		got := do(t, "GET", e.url+a.path, a.host, a.headers...)
		allowed := map[int]bool{401: true, 403: true}
		if strings.Contains(a.name, "header size") {
			allowed[431] = true
		}
		if !allowed[got.code] {
			t.Errorf("%s: Envoy answered %v, want 401 or 403", a.name, got)
		} else {
			t.Logf("%-50s %v", a.name, got)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d attack request(s) reached httpbin", n)
	}
	// The counter works: a good token does reach httpbin.
	if a := do(t, "GET", e.url+"/anything/bool", "attack.test", bearer(mint(jwt.Claims{"team": "dev", "admin": true}, jwt.MintOptions{}))...); a.code != 200 || reached.Load() != 1 {
		t.Fatalf("a good token: %v, httpbin saw %d requests", a, reached.Load())
	}
	t.Logf("%d attacks denied by Envoy; none reached httpbin", len(attacks))
}

func mustMint(t *testing.T, k *jwt.Key, claims map[string]any) string {
	t.Helper()
	tok, err := jwt.Mint(k, jwt.Claims(claims), jwt.MintOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
