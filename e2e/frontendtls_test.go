package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// TestFrontendClientCertificates puts client certificate validation in
// front of JWT on an HTTPS listener and connects through real Envoy: a
// client certificate of the configured CA and a token reach the backend; the
// certificate without a token gets 401 (the TLS check does not replace the
// JWT one); no certificate, or one of another CA, fails the TLS handshake
// and no request is ever made.
func TestFrontendClientCertificates(t *testing.T) {
	serverCA := testenv.NewCA(t, "server CA")
	clientCA := testenv.NewCA(t, "client CA")
	otherCA := testenv.NewCA(t, "another CA")
	server, err := serverCA.IssueServer([]string{"mtls.test"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	good, forged := aliceCert(t, clientCA), aliceCert(t, otherCA)
	key := newKey(t, jwt.GenerateRSA, "k1")
	token := iss1Token(t, key, jwt.Claims{"sub": "alice"})
	apiPort, apiCount := countingBackend(t, "api")
	b64 := base64.StdEncoding.EncodeToString
	// The CA bundle for a YAML double-quoted string: newlines escaped.
	caPEM := strings.ReplaceAll(strings.TrimSpace(string(clientCA.CertPEM)), "\n", "\\n")
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("mtls.yaml", testenv.GatewayClassManifest+testenv.Fixture(t, "frontendtls.yaml", e.gwPort, b64(server.CertPEM), b64(server.KeyPEM), caPEM)+
			testenv.JWTOption(key.JWKS())+testenv.FQDNBackend("infra", "api", "http", 80, apiPort))
	})
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Cert)
	get := func(cert *tls.Certificate, withToken bool) (int, error) {
		cfg := &tls.Config{RootCAs: roots, ServerName: "mtls.test"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/x", e.gwPort), nil)
		if err != nil {
			return 0, err
		}
		req.Host = "mtls.test"
		if withToken {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	}
	eventually(t, 15*time.Second, "the HTTPS listener served", func() string {
		code, err := get(&good, true)
		if err != nil {
			return err.Error()
		}
		if code != 200 {
			return fmt.Sprint(code)
		}
		return ""
	})
	apiCount.Store(0)

	code, err := get(&good, true)
	t.Logf("client certificate of the CA, with a token: %d %v", code, err)
	if err != nil || code != 200 {
		t.Errorf("client certificate of the CA, with a token: %d %v, want 200", code, err)
	}
	code, err = get(&good, false)
	t.Logf("client certificate of the CA, no token: %d %v", code, err)
	if err != nil || code != 401 {
		t.Errorf("client certificate of the CA, no token: %d %v, want 401", code, err)
	}
	for name, cert := range map[string]*tls.Certificate{"no client certificate": nil, "a client certificate of another CA": &forged} {
		code, err := get(cert, true)
		t.Logf("%s, with a token: %d %v", name, code, err)
		if err == nil {
			t.Errorf("%s: answered %d, want the TLS handshake refused", name, code)
		}
	}
	if n := apiCount.Load(); n != 1 {
		t.Errorf("the backend saw %d requests, want 1", n)
	}
}
