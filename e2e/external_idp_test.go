package e2e

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/jwt"
	"github.com/gatewarden/gatewarden/pkg/pki"
)

// idpHost is the identity provider's name: Envoy resolves *.localhost to the
// loopback, where the test serves it, so no outside network is needed.
const idpHost = "idp.localhost"

// idpManifests are the manifests of testdata/external_idp.yaml: the
// identity provider at idpHost on port, reached through an ExternalName
// Service and a BackendTLSPolicy with the CA caPEM, its keys cached by Envoy
// for cacheDuration.
func idpManifests(t *testing.T, port int, caPEM []byte, cacheDuration time.Duration) string {
	t.Helper()
	ind := "    " + strings.ReplaceAll(strings.TrimSpace(string(caPEM)), "\n", "\n    ")
	return testenv.Fixture(t, "external_idp.yaml", idpHost, ind, port, cacheDuration)
}

// startJWKSServer serves keys as the identity provider at idpHost, with a
// certificate of ca, until the test ends.
func startJWKSServer(t *testing.T, ca *pki.CA, keys ...*jwt.Key) *jwksServer {
	t.Helper()
	idp := &jwksServer{t: t, cert: serverCert(t, ca, idpHost)}
	idp.setKeys(keys...)
	idp.start()
	t.Cleanup(func() { idp.srv.Close() })
	return idp
}

// serverCert issues a server certificate of ca for host.
func serverCert(t *testing.T, ca *pki.CA, host string) tls.Certificate {
	t.Helper()
	p, err := ca.IssueServer([]string{host}, 24*time.Hour)
	return tlsCert(t, p, err)
}

// aliceCert issues a client certificate of ca for "alice" (the identity of
// a Gateway clients/alice, which the tests' listeners do not care about).
func aliceCert(t *testing.T, ca *pki.CA) tls.Certificate {
	t.Helper()
	p, err := ca.IssueGateway(pki.DefaultTrustDomain, "clients", "alice", time.Hour)
	return tlsCert(t, p, err)
}

// tlsCert is the issued certificate p for a TLS config; err is what
// issuing it returned.
func tlsCert(t *testing.T, p *pki.Pair, err error) tls.Certificate {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// jwksServer is the identity provider's JWKS endpoint over HTTPS, on a fixed
// port so that it can be stopped and started again.
type jwksServer struct {
	t       *testing.T
	port    int
	cert    tls.Certificate
	mu      sync.Mutex
	keys    []*jwt.Key
	srv     *http.Server
	fetches atomic.Int64
}

func (s *jwksServer) setKeys(keys ...*jwt.Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) start() {
	s.t.Helper()
	var ln net.Listener
	var err error
	// The port may linger for a moment after a stop.
	for i := 0; i < 50; i++ {
		ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s.port))
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	s.srv = &http.Server{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{s.cert}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/.well-known/jwks.json" {
				http.NotFound(w, r)
				return
			}
			s.fetches.Add(1)
			s.mu.Lock()
			var set jose.JSONWebKeySet
			for _, k := range s.keys {
				set.Keys = append(set.Keys, k.PublicJWK())
			}
			s.mu.Unlock()
			w.Header().Set("content-type", "application/json")
			if err := json.NewEncoder(w).Encode(set); err != nil {
				s.t.Errorf("write JWKS: %v", err)
			}
		}),
	}
	srv := s.srv
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && err != http.ErrServerClosed {
			s.t.Errorf("JWKS server: %v", err)
		}
	}()
}

func (s *jwksServer) stop() {
	s.t.Helper()
	if err := s.srv.Close(); err != nil {
		s.t.Fatal(err)
	}
}

// envoyStats reads counters of the Envoy admin whose names contain filter.
func envoyStats(t *testing.T, admin, filter string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, line := range strings.Split(httpGet(t, "http://"+admin+"/stats?filter="+filter), "\n") {
		name, val, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(val, 10, 64); err == nil {
			out[name] = n
		}
	}
	return out
}

// sumStats adds the counters whose names end with suffix.
func sumStats(stats map[string]int64, suffix string) int64 {
	var n int64
	for k, v := range stats {
		if strings.HasSuffix(k, suffix) {
			n += v
		}
	}
	return n
}

// TestExternalIdentityProvider runs Envoy against an identity provider
// outside the cluster: an HTTPS JWKS server with a CA of its own, reached
// through an ExternalName Service and checked with a BackendTLSPolicy. The
// CA first given is the wrong one (tokens refused, the TLS failure counted),
// then the right one; the provider rotates its keys, goes down and comes
// back, while one Envoy keeps running.
func TestExternalIdentityProvider(t *testing.T) {
	const cacheDuration = 3 * time.Second
	ca, wrongCA := testenv.NewCA(t, "identity provider CA"), testenv.NewCA(t, "another CA")
	k1, k2, k3 := newKey(t, jwt.GenerateRSA, "key-1"), newKey(t, jwt.GenerateEC, "key-2"), newKey(t, jwt.GenerateRSA, "key-3")
	idp := startJWKSServer(t, ca, k1)
	manifests := func(caPEM []byte) string { return idpManifests(t, idp.port, caPEM, cacheDuration) }
	e := startDirEnv(t, false, func(e *dirEnv) {
		guideFiles(e)
		e.write("idp.yaml", manifests(wrongCA.CertPEM))
	})
	mint := func(k *jwt.Key) string {
		tok, err := jwt.Mint(k, nil, jwt.MintOptions{Issuer: "https://" + idpHost + "/", Subject: "alice", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return "Authorization: Bearer " + tok
	}
	want := func(what string, deadline time.Duration, header string, code int) time.Duration {
		t.Helper()
		return eventually(t, deadline, what, func() string {
			a := e.get(header)
			if a.code != code {
				return fmt.Sprintf("got %s, want %d", a, code)
			}
			return ""
		})
	}
	jwtStats := func() map[string]int64 { return envoyStats(t, e.envoyAdmin, "jwt_authn|ssl.fail|ssl.handshake") }

	// 1. The wrong CA: the server's certificate is refused, no key is
	// loaded and every token fails; the stats say why.
	want("refused with the wrong CA", 10*time.Second, mint(k1), 401)
	eventually(t, 10*time.Second, "the failed verification counted", func() string {
		s := jwtStats()
		if sumStats(s, "ssl.fail_verify_error") == 0 || sumStats(s, "jwks_fetch_failed") == 0 {
			return fmt.Sprintf("stats: %v", s)
		}
		return ""
	})
	t.Logf("wrong CA: %v", jwtStats())
	if a := e.get(mint(k1)); a.code != 401 || !strings.Contains(a.body, "Jwks remote fetch is failed") {
		t.Errorf("wrong CA: %s, want 401 Jwks remote fetch is failed", a)
	}

	explainKeys := func(tok string) string {
		t.Helper()
		out, err := exec.Command(testenv.GatewardenBinary(t), "explain", "--server", strings.TrimPrefix(e.adminURL, "http://"),
			"--envoy-admin", e.envoyAdmin, "--url", fmt.Sprintf("http://www.example.com:%d/headers", e.gwPort), "--token", strings.TrimPrefix(tok, "Authorization: Bearer ")).CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("explain: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := explainKeys(mint(k1)); !strings.Contains(out, "keys NOT loaded") || !strings.Contains(out, "ssl.fail_verify_error") {
		t.Errorf("explain --envoy-admin with the wrong CA does not say the keys are not loaded and why:\n%s", out)
	} else {
		t.Logf("explain with the wrong CA:\n%s", out)
	}

	// 2. The right CA: keys load without restarting Envoy.
	e.write("idp.yaml", manifests(ca.CertPEM))
	took := want("accepted with the right CA", 20*time.Second, mint(k1), 200)
	t.Logf("right CA: tokens accepted after %s", took.Round(10*time.Millisecond))
	want("a token of an unknown key refused", time.Second, mint(k2), 401)
	if out := explainKeys(mint(k1)); !strings.Contains(out, "keys loaded") {
		t.Errorf("explain --envoy-admin with the right CA does not say the keys are loaded:\n%s", out)
	}

	// 3. Rotation: the provider publishes key-2 next to key-1, then removes
	// key-1. Each change is enforced within cacheDuration (and a fetch).
	tok1 := mint(k1)
	if a := e.get(tok1); a.code != 200 {
		t.Fatalf("key-1 before rotation: %s", a)
	}
	idp.setKeys(k1, k2)
	took = want("key-2 accepted after it is published", 2*cacheDuration+2*time.Second, mint(k2), 200)
	t.Logf("rotation: key-2 accepted %s after it was published (cacheDuration %s)", took.Round(10*time.Millisecond), cacheDuration)
	idp.setKeys(k2)
	took = want("key-1 refused after it is removed", 2*cacheDuration+2*time.Second, mint(k1), 401)
	t.Logf("rotation: key-1 refused %s after it was removed", took.Round(10*time.Millisecond))
	if a := e.get(tok1); a.code != 401 {
		t.Errorf("a key-1 token accepted before the rotation, sent again: %s, want 401", a)
	}

	// 4. Outage: the provider stops. Its last keys keep verifying tokens,
	// well past cacheDuration, and the failed fetches are counted.
	before := sumStats(jwtStats(), "jwks_fetch_failed")
	idp.stop()
	tok2 := mint(k2)
	deadline := time.Now().Add(4 * cacheDuration)
	for time.Now().Before(deadline) {
		if a := e.get(tok2); a.code != 200 {
			t.Fatalf("during the outage, a key-2 token: %s, want 200 (cached keys)", a)
		}
		if a := e.get(mint(k2)); a.code != 200 {
			t.Fatalf("during the outage, a fresh key-2 token: %s, want 200 (cached keys)", a)
		}
		time.Sleep(250 * time.Millisecond)
	}
	failed := sumStats(jwtStats(), "jwks_fetch_failed") - before
	if failed == 0 {
		t.Errorf("no failed fetch counted during the outage: %v", jwtStats())
	}
	t.Logf("outage of %s: tokens kept verifying, %d failed fetches counted", 4*cacheDuration, failed)
	if a := e.get(mint(k3)); a.code != 401 {
		t.Errorf("during the outage, a token of a key never published: %s, want 401", a)
	}

	// 5. Recovery: the provider comes back with a new key; no restart.
	idp.setKeys(k2, k3)
	idp.start()
	took = want("key-3 accepted once the provider is back", 4*cacheDuration, mint(k3), 200)
	t.Logf("recovery: key-3 accepted %s after the provider came back", took.Round(10*time.Millisecond))
	e.checkEnvoy()
	t.Logf("stats at the end: %v; JWKS fetches served: %d", jwtStats(), idp.fetches.Load())
}

// TestExternalIdPExample serves examples/external-idp as its README says:
// its identity provider (jwks/keys.jwks over HTTPS with tls/idp.crt, on a
// port of the test instead of 8443) reached through the example's
// ExternalName Service and BackendTLSPolicy, and checks the answers the
// README shows.
func TestExternalIdPExample(t *testing.T) {
	root := testenv.RepoRoot()
	cert, err := tls.LoadX509KeyPair(filepath.Join(root, "examples/external-idp/tls/idp.crt"), filepath.Join(root, "examples/external-idp/tls/idp.key"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.FileServer(http.Dir(filepath.Join(root, "examples/external-idp/jwks"))))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.copyExample("examples/external-idp/gateway.yaml", "gateway.yaml", "port: 8080", fmt.Sprintf("port: %d", e.gwPort))
		e.copyExample("examples/external-idp/httpbin.yaml", "httpbin.yaml", "  port: 8000\n  protocol: TCP", fmt.Sprintf("  port: %d\n  protocol: TCP", e.httpbinPort))
		e.copyExample("examples/external-idp/idp.yaml", "idp.yaml")
		e.copyExample("examples/external-idp/virtualhostoption.yaml", "virtualhostoption.yaml", "idp.localhost:8443", fmt.Sprintf("idp.localhost:%d", port))
	})
	tokens := readEnv(t, filepath.Join(root, "examples/gateway-jwt/tokens.env"))
	for k, v := range readEnv(t, filepath.Join(root, "examples/keys/tokens.env")) {
		tokens[k] = v
	}
	for _, c := range []struct {
		token string
		code  int
		body  string
	}{
		{"", 401, "Jwt is missing"},
		{"ALICE_TOKEN", 200, ""},
		{"CAROL_TOKEN", 401, "Jwt issuer is not configured"},
	} {
		var headers []string
		if c.token != "" {
			headers = append(headers, "Authorization: Bearer "+tokens[c.token])
		}
		eventually(t, 10*time.Second, fmt.Sprintf("%q: %d", c.token, c.code), func() string {
			if a := e.get(headers...); a.code != c.code || !strings.Contains(a.body, c.body) {
				return fmt.Sprintf("got %s, want %d %q", a, c.code, c.body)
			}
			return ""
		})
	}
}
