package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/pki"
)

// TestTLSRoutePassthrough connects through real Envoy to real TLS backends
// by SNI: the client's TLS session ends at the backend (the certificate it
// checks is the backend's, which Envoy does not have), each server name
// reaches its own backend, and a name no route serves, a route whose
// backend does not exist and a hello without SNI are closed without
// reaching any backend.
func TestTLSRoutePassthrough(t *testing.T) {
	ca := testenv.NewCA(t, "tlsroute test CA")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	portA, countA := tlsBackend(t, ca, "a.tls.test")
	portB, countB := tlsBackend(t, ca, "b.tls.test")
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("tls.yaml", testenv.GatewayClassManifest+testenv.Fixture(t, "tlsroute.yaml", e.gwPort)+testenv.FQDNBackend("infra", "a", "tls", 443, portA)+testenv.FQDNBackend("infra", "b", "tls", 443, portB))
	})
	gw := fmt.Sprintf("127.0.0.1:%d", e.gwPort)
	get := func(sni string) (string, error) {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: sni},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", gw)
			},
		}}
		resp, err := c.Get("https://" + sni + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	eventuallyAnswers(t, "a.tls.test served", "a.tls.test\n", func() (string, error) { return get("a.tls.test") })
	countA.Store(0)

	for _, sni := range []string{"a.tls.test", "b.tls.test"} {
		body, err := get(sni)
		t.Logf("SNI %s: %q, %v", sni, body, err)
		if err != nil || body != sni+"\n" {
			t.Errorf("SNI %s: %q, %v; want the answer of its own backend", sni, body, err)
		}
	}
	if a, b := countA.Load(), countB.Load(); a != 1 || b != 1 {
		t.Fatalf("backends saw a=%d b=%d requests, want 1 each", a, b)
	}

	// The session is the backend's: its certificate, end to end.
	conn, err := tls.Dial("tcp", gw, &tls.Config{RootCAs: roots, ServerName: "b.tls.test"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	t.Logf("certificate seen for SNI b.tls.test: %v issued by %q", leaf.DNSNames, leaf.Issuer.CommonName)
	if !slices.Equal(leaf.DNSNames, []string{"b.tls.test"}) {
		t.Errorf("certificate for SNI b.tls.test names %v, want b's own", leaf.DNSNames)
	}

	// Closed: no route for the name, a route that cannot be served, no SNI.
	for _, tc := range []struct{ name, sni string }{
		{"a name no route serves (d.tls.test)", "d.tls.test"},
		{"a route whose backend does not exist (c.tls.test)", "c.tls.test"},
		{"a name outside the listener's (a.tls.test.evil)", "a.tls.test.evil"},
		{"no SNI", ""},
	} {
		expectSNIClosed(t, tc.name, gw, roots, tc.sni)
	}
	if a, b := countA.Load(), countB.Load(); a != 1 || b != 1 {
		t.Errorf("backends saw a=%d b=%d requests after the refused connections, want 1 each", a, b)
	}
}

// eventuallyAnswers waits up to 15 s for ask to answer want without error.
func eventuallyAnswers(t *testing.T, what, want string, ask func() (string, error)) {
	t.Helper()
	eventually(t, 15*time.Second, what, func() string {
		got, err := ask()
		if err != nil {
			return err.Error()
		}
		if got != want {
			return fmt.Sprintf("answer %q", got)
		}
		return ""
	})
}

// tlsBackend serves HTTPS on a loopback port with a certificate for host
// issued by ca; it answers its host name and counts requests.
func tlsBackend(t *testing.T, ca *pki.CA, host string) (int, *atomic.Int64) {
	t.Helper()
	cert := serverCert(t, ca, host)
	count := &atomic.Int64{}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		count.Add(1)
		fmt.Fprintln(w, host)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.Listener.Addr().(*net.TCPAddr).Port, count
}

// expectSNIClosed is expectHandshakeClosed for a hello with the server name
// sni, the certificate verified against roots, or (sni "") one without SNI.
func expectSNIClosed(t *testing.T, name, addr string, roots *x509.CertPool, sni string) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, ServerName: sni}
	if sni == "" {
		cfg = &tls.Config{InsecureSkipVerify: true}
	}
	expectHandshakeClosed(t, name, addr, cfg)
}

// expectHandshakeClosed checks that Envoy at addr closes a TLS connection
// made with cfg (attempt name) before the handshake completes.
func expectHandshakeClosed(t *testing.T, name, addr string, cfg *tls.Config) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err == nil {
		c.Close()
		t.Errorf("%s: the TLS handshake succeeded, want the connection closed", name)
		return
	}
	t.Logf("%s: %v", name, firstLine(err.Error()))
	if !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Errorf("%s: %v, want the connection closed by Envoy", name, err)
	}
}
