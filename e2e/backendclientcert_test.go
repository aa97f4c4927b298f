package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/pki"
)

// mtlsBackend is a TLS backend that requires a client certificate of a CA
// and records the subjects of those it was shown.
type mtlsBackend struct {
	port     int
	accepts  atomic.Int64
	mu       sync.Mutex
	subjects []string
}

func startMTLSBackend(t *testing.T, cert tls.Certificate, clientCA *pki.CA) *mtlsBackend {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &mtlsBackend{port: ln.Addr().(*net.TCPAddr).Port}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	serveTLS(t, &countingListener{Listener: ln, n: &b.accepts}, cfg, func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		for _, c := range r.TLS.PeerCertificates[:1] {
			b.subjects = append(b.subjects, c.Subject.CommonName)
		}
		b.mu.Unlock()
		fmt.Fprintln(w, "client certificate verified")
	})
	return b
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// clientCertPEM issues a client certificate of ca for cn, as PEM.
func clientCertPEM(t *testing.T, ca *pki.CA, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	p, err := ca.Issue(&x509.Certificate{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return p.CertPEM, p.KeyPEM
}

// TestGatewayBackendClientCertificate: a Gateway's Envoy presents the
// client certificate of spec.tls.backend.clientCertificateRef to a TLS
// backend that requires one (200, the backend saw it). When the reference
// names a Secret of another namespace that grants nothing (a hostile
// Gateway owner borrowing a tenant's identity), the route answers 500 and
// the backend gets no connection at all.
func TestGatewayBackendClientCertificate(t *testing.T) {
	serverCA := testenv.NewCA(t, "backend CA")
	clientCA := testenv.NewCA(t, "client CA")
	backend := startMTLSBackend(t, issueServerCert(t, serverCA, []string{"secure.backend.test"}), clientCA)
	certPEM, keyPEM := clientCertPEM(t, clientCA, "envoy of infra/gw")
	manifests := func(gwPort int, ref string) string {
		return testenv.GatewayClassManifest +
			testenv.Fixture(t, "backendclientcert.yaml", gwPort, ref, indentPEM(serverCA.CertPEM), indentPEM(certPEM), indentPEM(keyPEM)) +
			testenv.Backend("team", "secure", "https", 443, backend.port, "127.0.0.1")
	}
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("mtls.yaml", manifests(e.gwPort, "{name: envoy-client}"))
	})
	eventually(t, 15*time.Second, "the backend requiring a client certificate answers", func() string {
		if a := get(t, e.url+"/secure", "app.test"); a.code != 200 || !strings.Contains(a.body, "client certificate verified") {
			return a.String()
		}
		return ""
	})
	backend.mu.Lock()
	subjects := append([]string(nil), backend.subjects...)
	backend.mu.Unlock()
	if len(subjects) == 0 || subjects[0] != "envoy of infra/gw" {
		t.Errorf("the backend was shown client certificates %v, want the Gateway's (envoy of infra/gw)", subjects)
	}

	e.write("mtls.yaml", manifests(e.gwPort, "{name: envoy-client, namespace: mallory}"))
	eventually(t, 15*time.Second, "a Secret of another namespace without a ReferenceGrant makes the route answer 500", func() string {
		if a := get(t, e.url+"/secure", "app.test"); a.code != 500 || !strings.Contains(a.body, "client certificate this gateway presents") {
			return a.String()
		}
		return ""
	})
	before := backend.accepts.Load()
	for range 3 {
		if a := get(t, e.url+"/secure", "app.test"); a.code != 500 {
			t.Errorf("/secure with a refused client certificate reference: %s, want 500", a)
		}
	}
	if n := backend.accepts.Load() - before; n > 0 {
		t.Errorf("the backend got %d connections while the Gateway's client certificate reference was refused, want none", n)
	}
	t.Logf("client certificates the backend was shown: %v; connections while refused: %d", subjects, backend.accepts.Load()-before)
}
