package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/pki"
)

// tlsProbe is a TLS backend that counts what reaches it: connections,
// connections whose first byte is not a TLS handshake record (plain text),
// and requests served after a completed handshake, with the SNI it was
// sent.
type tlsProbe struct {
	port                   int
	accepts, plain, served atomic.Int64
	mu                     sync.Mutex
	sni                    []string
}

func startTLSProbe(t *testing.T, cert tls.Certificate) *tlsProbe {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tlsProbe{port: ln.Addr().(*net.TCPAddr).Port}
	serveTLS(t, &probeListener{Listener: ln, p: p}, &tls.Config{Certificates: []tls.Certificate{cert}}, func(w http.ResponseWriter, r *http.Request) {
		p.served.Add(1)
		p.mu.Lock()
		p.sni = append(p.sni, r.TLS.ServerName)
		p.mu.Unlock()
		fmt.Fprintln(w, "served over TLS")
	})
	return p
}

func (p *tlsProbe) snis() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.sni...)
}

type probeListener struct {
	net.Listener
	p *tlsProbe
}

func (l *probeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.p.accepts.Add(1)
	return &probeConn{Conn: c, p: l.p}, nil
}

type probeConn struct {
	net.Conn
	p     *tlsProbe
	first sync.Once
}

// Read notes a connection whose first byte is not a TLS handshake record
// (0x16): a request in plain text.
func (c *probeConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.first.Do(func() {
			if b[0] != 0x16 {
				c.p.plain.Add(1)
			}
		})
	}
	return n, err
}

// issueServerCert issues a server certificate of ca with the given DNS and
// URI names.
func issueServerCert(t *testing.T, ca *pki.CA, dnsNames []string, uris ...string) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "backend"}, DNSNames: dnsNames,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	p, err := ca.Issue(tmpl, 24*time.Hour)
	return tlsCert(t, p, err)
}

// indentPEM is pem indented by four spaces, its trailing newline dropped:
// the lines of a YAML block scalar under a key at two spaces.
func indentPEM(pem []byte) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", "\n    ")
}

// serveTLS serves h over TLS (cfg) on ln until the test ends. The
// handshakes it refuses are not logged: the tests count them.
func serveTLS(t *testing.T, ln net.Listener, cfg *tls.Config, h http.HandlerFunc) {
	t.Helper()
	srv := &http.Server{Handler: h, TLSConfig: cfg, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ServeTLS(ln, "", "")
	}()
	t.Cleanup(func() { srv.Close(); <-done })
}

// TestBackendTLSPolicy reaches TLS backends through real Envoy as their
// BackendTLSPolicies say: the right CA and name answer 200 with the
// policy's SNI; a certificate of the wrong name or of another CA is refused
// (503) after the handshake, before any request; a policy whose CA does not
// resolve answers 500 and its backend gets no connection at all. No
// backend ever sees plain text, and a hostile tenant's policy naming
// another namespace's Service changes nothing.
func TestBackendTLSPolicy(t *testing.T) {
	ca := testenv.NewCA(t, "backend CA")
	other := testenv.NewCA(t, "another CA")
	mallory := testenv.NewCA(t, "mallory's CA")
	probes := map[string]*tlsProbe{
		"good":      startTLSProbe(t, issueServerCert(t, ca, []string{"good.backend.test"})),
		"wrong-san": startTLSProbe(t, issueServerCert(t, ca, []string{"other.backend.test"})),
		"other-ca":  startTLSProbe(t, issueServerCert(t, other, []string{"other-ca.backend.test"})),
		"uri-san":   startTLSProbe(t, issueServerCert(t, ca, []string{"elsewhere.backend.test"}, "spiffe://backend.test/ns/team/sa/uri-san")),
		"invalid":   startTLSProbe(t, issueServerCert(t, ca, []string{"invalid.backend.test"})),
	}
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		m := testenv.GatewayClassManifest + testenv.Fixture(t, "backendtls.yaml", e.gwPort, indentPEM(ca.CertPEM), indentPEM(mallory.CertPEM))
		for _, name := range []string{"good", "wrong-san", "other-ca", "uri-san", "invalid"} {
			m += testenv.Backend("team", name, "https", 443, probes[name].port, "127.0.0.1")
		}
		e.write("backendtls.yaml", m)
	})
	eventually(t, 15*time.Second, "the backend with the right CA and name answers", func() string {
		if a := get(t, e.url+"/good", "app.test"); a.code != 200 || !strings.Contains(a.body, "served over TLS") {
			return a.String()
		}
		return ""
	})
	if a := get(t, e.url+"/uri-san", "app.test"); a.code != 200 {
		t.Errorf("/uri-san (certificate carries the policy's URI): %s, want 200", a)
	}
	for path, want := range map[string]int{"/wrong-san": 503, "/other-ca": 503, "/invalid": 500} {
		for range 3 {
			if a := get(t, e.url+path, "app.test"); a.code != want {
				t.Errorf("%s: %s, want %d", path, a, want)
			}
		}
	}
	for name, p := range probes {
		if n := p.plain.Load(); n > 0 {
			t.Errorf("backend %s received %d connections in plain text", name, n)
		}
	}
	for _, name := range []string{"wrong-san", "other-ca", "invalid"} {
		if n := probes[name].served.Load(); n > 0 {
			t.Errorf("backend %s served %d requests, want none", name, n)
		}
	}
	for _, name := range []string{"wrong-san", "other-ca"} {
		if probes[name].accepts.Load() == 0 {
			t.Errorf("backend %s was never connected to: its 503 does not show a refused certificate", name)
		}
	}
	if n := probes["invalid"].accepts.Load(); n > 0 {
		t.Errorf("backend invalid (its policy's CA does not resolve) got %d connections, want none", n)
	}
	for _, sni := range probes["good"].snis() {
		if sni != "good.backend.test" {
			t.Errorf("backend good was sent SNI %q, want good.backend.test (the policy of its own namespace)", sni)
		}
	}
	if got := probes["uri-san"].snis(); len(got) == 0 || got[0] != "uri-san.backend.test" {
		t.Errorf("backend uri-san was sent SNI %v, want uri-san.backend.test", got)
	}
	t.Logf("requests served: good %d, uri-san %d; connections to the refused backends: wrong-san %d, other-ca %d, invalid %d; plain text: none",
		probes["good"].served.Load(), probes["uri-san"].served.Load(), probes["wrong-san"].accepts.Load(), probes["other-ca"].accepts.Load(), probes["invalid"].accepts.Load())
}
