package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/pki"
)

// TestTLSRouteTerminate connects through real Envoy to a TLS listener in
// mode Terminate sharing its port with a Passthrough listener: a client
// with the terminated name gets the listener's certificate and talks to a
// plain TCP backend, which sees the bytes decrypted; the passthrough name
// still reaches its TLS backend end to end. A name no route serves, a hello
// without SNI, and the names of Terminate listeners whose certificate is
// missing or not granted are closed (the tenant's route claiming them gets
// nothing), and the Gateway's status says why. Client certificate
// validation applies to a Terminate listener as to an HTTPS one. The
// manifests are testdata/tlsterminate.yaml.
func TestTLSRouteTerminate(t *testing.T) {
	ca, err := pki.NewCA("tls terminate test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	pair, err := ca.IssueServer([]string{"t.tls.test"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cpair, err := ca.IssueServer([]string{"c.tls.test"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clientCA, err := pki.NewCA("tls terminate client CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	good, forged := aliceCert(t, clientCA), aliceCert(t, ca)
	caPEM := strings.ReplaceAll(strings.TrimSpace(string(clientCA.CertPEM)), "\n", "\\n") + "\\n"
	plainPort, plainSeen := plainBackend(t, "plain")
	lootPort, lootSeen := plainBackend(t, "loot")
	securePort, secureCount := tlsBackend(t, ca, "p.tls.test")
	b64 := base64.StdEncoding.EncodeToString
	clientPort := freePort(t)
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("tls.yaml", testenv.GatewayClassManifest+testenv.Fixture(t, "tlsterminate.yaml", e.gwPort, b64(pair.CertPEM), b64(pair.KeyPEM),
			testenv.FQDNBackend("infra", "plain", "tcp", 3000, plainPort), testenv.FQDNBackend("infra", "secure", "tls", 443, securePort),
			testenv.FQDNBackend("tenant", "loot", "tcp", 3000, lootPort),
			b64(cpair.CertPEM), b64(cpair.KeyPEM), clientPort, caPEM))
	})
	gw := fmt.Sprintf("127.0.0.1:%d", e.gwPort)

	// talkTo sends one line over TLS with SNI sni, showing cert when not
	// nil, and returns the answer and the certificate the client was shown.
	talkTo := func(addr, sni string, cert *tls.Certificate, line string) (string, *x509.Certificate, error) {
		cfg := &tls.Config{RootCAs: roots, ServerName: sni}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return "", nil, err
		}
		defer c.Close()
		if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			return "", nil, err
		}
		if _, err := fmt.Fprintln(c, line); err != nil {
			return "", nil, err
		}
		answer, err := bufio.NewReader(c).ReadString('\n')
		return answer, c.ConnectionState().PeerCertificates[0], err
	}
	talk := func(sni, line string) (string, *x509.Certificate, error) { return talkTo(gw, sni, nil, line) }
	// plainReads talks line to sni and says how the answer is not the plain
	// backend's, having read it in clear ("" when it is).
	plainReads := func(sni, line string) string {
		answer, _, err := talk(sni, line)
		if err != nil {
			return err.Error()
		}
		if answer != fmt.Sprintf("plain got %q\n", line) {
			return fmt.Sprintf("answered %q", answer)
		}
		return ""
	}
	eventually(t, 15*time.Second, "t.tls.test served", func() string { return plainReads("t.tls.test", "ready?") })
	plainSeen.Store(0)

	// Terminated: the listener's certificate, and the backend reads the
	// line in clear.
	answer, leaf, err := talk("t.tls.test", "hello")
	t.Logf("SNI t.tls.test: %q, %v; certificate %v issued by %q", answer, err, dnsNames(leaf), issuer(leaf))
	if err != nil || answer != "plain got \"hello\"\n" {
		t.Errorf("SNI t.tls.test: %q, %v; want the plain backend to read \"hello\" in clear", answer, err)
	}
	if leaf == nil || !slices.Equal(leaf.DNSNames, []string{"t.tls.test"}) || leaf.Issuer.CommonName != "tls terminate test CA" {
		t.Errorf("SNI t.tls.test: certificate %v issued by %q, want the listener's (t.tls.test by the test CA)", dnsNames(leaf), issuer(leaf))
	}
	if n := plainSeen.Load(); n != 1 {
		t.Errorf("the plain backend saw %d connections, want 1", n)
	}

	// Passthrough on the same port: the backend's own session.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", gw, &tls.Config{RootCAs: roots, ServerName: "p.tls.test", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatalf("SNI p.tls.test: %v", err)
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: p.tls.test\r\nConnection: close\r\n\r\n")
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	status, _ := bufio.NewReader(c).ReadString('\n')
	pleaf := c.ConnectionState().PeerCertificates[0]
	c.Close()
	t.Logf("SNI p.tls.test: %q; certificate %v", status, pleaf.DNSNames)
	if !strings.HasPrefix(status, "HTTP/1.1 200") || !slices.Equal(pleaf.DNSNames, []string{"p.tls.test"}) || secureCount.Load() != 1 {
		t.Errorf("SNI p.tls.test: %q with certificate %v, backend count %d; want the TLS backend's own answer and certificate",
			status, pleaf.DNSNames, secureCount.Load())
	}

	// Closed before any handshake: the names of the listeners whose
	// certificate cannot be used (the tenant's route claims them), a name
	// outside every listener, no SNI.
	sni := func(name string) *tls.Config { return &tls.Config{RootCAs: roots, ServerName: name} }
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"m.tls.test (certificate Secret missing)", sni("m.tls.test")},
		{"g.tls.test (certificate Secret not granted)", sni("g.tls.test")},
		{"t.tls.test.evil (outside every listener)", sni("t.tls.test.evil")},
		{"no SNI", &tls.Config{InsecureSkipVerify: true}},
	} {
		expectHandshakeClosed(t, tc.name, gw, tc.cfg)
	}
	// The tenant's route serves only what no listener more specific than
	// the wildcard claims: not t.tls.test, which stays terminated.
	if msg := plainReads("t.tls.test", "again"); msg != "" {
		t.Errorf("SNI t.tls.test after the tenant's route: %s; want the plain backend", msg)
	}
	if n := lootSeen.Load(); n != 0 {
		t.Errorf("the tenant's backend saw %d connections, want 0", n)
	}
	if n := plainSeen.Load(); n != 2 {
		t.Errorf("the plain backend saw %d connections, want 2", n)
	}

	// The port whose clients must show a certificate: only a certificate
	// of the client CA gets through (with TLS 1.3 the refusal may come
	// after the client's side of the handshake, on the first read).
	plainSeen.Store(0)
	caddr := fmt.Sprintf("127.0.0.1:%d", clientPort)
	answer, _, err = talkTo(caddr, "c.tls.test", &good, "with a certificate")
	t.Logf("SNI c.tls.test with a client certificate of the CA: %q, %v", answer, err)
	if err != nil || answer != "plain got \"with a certificate\"\n" {
		t.Errorf("SNI c.tls.test with a client certificate of the CA: %q, %v; want the plain backend", answer, err)
	}
	for name, cert := range map[string]*tls.Certificate{"no client certificate": nil, "a client certificate of another CA": &forged} {
		answer, _, err := talkTo(caddr, "c.tls.test", cert, "let me in")
		t.Logf("SNI c.tls.test with %s: %q, %v", name, answer, err)
		if err == nil {
			t.Errorf("SNI c.tls.test with %s: %q, want the handshake refused", name, answer)
		}
	}
	if n := plainSeen.Load(); n != 1 {
		t.Errorf("the plain backend saw %d connections on the client certificate port, want 1", n)
	}

	// The status names the listener, the reference and the reason.
	want := map[string][2]string{
		"missing-cert": {string(gwv1.ListenerReasonInvalidCertificateRef), `listener "missing-cert": tls.certificateRefs[0]: Secret infra/nowhere not found`},
		"not-granted":  {string(gwv1.ListenerReasonRefNotPermitted), `listener "not-granted": tls.certificateRefs[0]: Secret tenant/t-cert is in another namespace and no ReferenceGrant allows it`},
		"terminate":    {string(gwv1.ListenerReasonResolvedRefs), "References are resolved"},
		"client-certs": {string(gwv1.ListenerReasonResolvedRefs), "References are resolved"},
	}
	for _, l := range gatewayListeners(t, e, "infra/gw") {
		w, ok := want[string(l.Name)]
		if !ok {
			continue
		}
		delete(want, string(l.Name))
		refs := meta.FindStatusCondition(l.Conditions, string(gwv1.ListenerConditionResolvedRefs))
		prog := meta.FindStatusCondition(l.Conditions, string(gwv1.ListenerConditionProgrammed))
		if refs == nil || prog == nil || refs.Reason != w[0] || refs.Message != w[1] {
			t.Errorf("listener %s: ResolvedRefs %+v, want reason %s and message %q", l.Name, refs, w[0], w[1])
			continue
		}
		if wantProg := w[0] == string(gwv1.ListenerReasonResolvedRefs); (prog.Status == "True") != wantProg {
			t.Errorf("listener %s: Programmed %s, want %t", l.Name, prog.Status, wantProg)
		}
		t.Logf("listener %s: ResolvedRefs %s %s: %s; Programmed %s", l.Name, refs.Status, refs.Reason, refs.Message, prog.Status)
	}
	if len(want) > 0 {
		t.Errorf("no status for listeners %v", want)
	}
}

// plainBackend serves plain TCP on a loopback port: to each connection it
// answers the first line it reads, quoted, after its name. It counts
// connections.
func plainBackend(t *testing.T, name string) (int, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	count := &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			count.Add(1)
			go func() {
				defer c.Close()
				if c.SetDeadline(time.Now().Add(10*time.Second)) != nil {
					return
				}
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				fmt.Fprintf(c, "%s got %q\n", name, strings.TrimSuffix(line, "\n"))
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, count
}

// gatewayListeners reads the listener statuses of the Gateway key
// ("namespace/name") from gatewarden's /debug/config.
func gatewayListeners(t *testing.T, e *dirEnv, key string) []gwv1.ListenerStatus {
	t.Helper()
	var d struct {
		Config struct {
			Status struct {
				Gateways []struct {
					Name   string             `json:"name"`
					Status gwv1.GatewayStatus `json:"status"`
				} `json:"gateways"`
			} `json:"status"`
		} `json:"config"`
	}
	if err := json.Unmarshal([]byte(httpGet(t, e.adminURL+"/debug/config")), &d); err != nil {
		t.Fatalf("/debug/config: %v", err)
	}
	for _, g := range d.Config.Status.Gateways {
		if g.Name == key {
			return g.Status.Listeners
		}
	}
	t.Fatalf("/debug/config has no status for Gateway %s", key)
	return nil
}

func dnsNames(c *x509.Certificate) []string {
	if c == nil {
		return nil
	}
	return c.DNSNames
}

func issuer(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	return c.Issuer.CommonName
}
