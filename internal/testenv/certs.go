package testenv

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/pkg/pki"
	"github.com/gatewarden/gatewarden/xds"
)

// Certs are the files of a test PKI: a CA, a server certificate for
// 127.0.0.1 and "gatewarden.test", and a client certificate of the
// Gateway gloo-system/http.
type Certs struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	// OtherCA signed nothing above: a client or server trusting it fails.
	OtherCA string
}

// NewCerts writes a fresh test PKI, issued with pkg/pki as gatewarden
// issues its own, into a temporary directory.
func NewCerts(t testing.TB) Certs {
	t.Helper()
	dir := t.TempDir()
	ca, other := NewCA(t, "gatewarden test CA"), NewCA(t, "another CA")
	server, err := ca.IssueServer([]string{"gatewarden.test", "127.0.0.1"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The client is the guide's Gateway's Envoy.
	client, err := ca.IssueGateway(pki.DefaultTrustDomain, "gloo-system", "http", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return Certs{
		CA:         writeFile(t, dir, "ca.crt", ca.CertPEM),
		OtherCA:    writeFile(t, dir, "other-ca.crt", other.CertPEM),
		ServerCert: writeFile(t, dir, "server.crt", server.CertPEM),
		ServerKey:  writeFile(t, dir, "server.key", server.KeyPEM),
		ClientCert: writeFile(t, dir, "client.crt", client.CertPEM),
		ClientKey:  writeFile(t, dir, "client.key", client.KeyPEM),
	}
}

// NewCA is a fresh CA named name, valid for a day.
func NewCA(t testing.TB, name string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(name, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// CredentialsDir writes the xDS credentials of Gateway namespace/name (a
// client certificate of a fresh CA, its key and the CA, as
// xds.CredentialFiles names them) into a temporary directory.
func CredentialsDir(t testing.TB, namespace, name string) string {
	t.Helper()
	ca := NewCA(t, "test CA")
	pair, err := ca.IssueGateway(pki.DefaultTrustDomain, namespace, name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	files, err := xds.CredentialFiles(pair.CertPEM, pair.KeyPEM, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range files {
		writeFile(t, dir, name, data)
	}
	return dir
}
