package pki_test

import (
	"crypto/x509"
	"net/url"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/pkg/pki"
)

func TestParseGatewayID(t *testing.T) {
	for raw, want := range map[string]string{
		"spiffe://gatewarden/ns/team-a/gateway/gw":       "team-a/gw",
		"spiffe://other/ns/team-a/gateway/gw":            "",
		"spiffe://gatewarden/ns/team-a/gateway/gw/extra": "",
		"spiffe://gatewarden/ns//gateway/gw":             "",
		"spiffe://gatewarden/ns/team-a/sa/gw":            "",
		"https://gatewarden/ns/team-a/gateway/gw":        "",
		"spiffe://gatewarden/ns/team-a/gateway/gw?x=1":   "",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := pki.ParseGatewayID("gatewarden", u)
		if got != want || ok != (want != "") {
			t.Errorf("ParseGatewayID(%s) = %q, %v; want %q", raw, got, ok, want)
		}
	}
}

func TestIssuedCertificatesVerify(t *testing.T) {
	ca, err := pki.NewCA("test", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pki.LoadCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadCA(ca.CertPEM, other.KeyPEM); err == nil {
		t.Fatal("a CA certificate with another CA's key was loaded")
	}
	pair, err := again.IssueGateway("gatewarden", "team-a", "gw", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificate(pair.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	if cert.NotAfter.After(ca.Cert.NotAfter) {
		t.Fatal("a certificate outlives its CA")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client certificate does not verify as a client: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("a Gateway's client certificate verifies as a server certificate")
	}
	if len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://gatewarden/ns/team-a/gateway/gw" {
		t.Fatalf("URIs = %v", cert.URIs)
	}
	if ca.NeedsRenewal(pair.CertPEM, time.Now()) || !ca.NeedsRenewal(pair.CertPEM, time.Now().Add(20*time.Hour)) || !other.NeedsRenewal(pair.CertPEM, time.Now()) {
		t.Fatal("NeedsRenewal: want false when fresh, true two thirds in and for another CA")
	}
	if _, err := ca.IssueGateway("gatewarden", "a/b", "c", time.Hour); err == nil {
		t.Fatal("a namespace with '/' was accepted")
	}
}
