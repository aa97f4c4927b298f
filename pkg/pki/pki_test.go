package pki_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
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
	verifiesAsClientOnly(t, cert, ca)
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

// TestIssueKeepsTemplateNames: Issue keeps the template's subject and
// extended key usage, sets its own serial and key usage, and never issues
// beyond the CA's lifetime.
func TestIssueKeepsTemplateNames(t *testing.T) {
	ca, err := pki.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Issue(&x509.Certificate{Subject: pkix.Name{CommonName: "kubelet-client", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.ParseCertificate(p.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "kubelet-client" || len(c.Subject.Organization) != 1 || c.Subject.Organization[0] != "system:masters" {
		t.Errorf("subject = %v, want the template's", c.Subject)
	}
	if !c.NotAfter.Equal(ca.Cert.NotAfter) || !p.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter = %v (pair %v), want the CA's %v", c.NotAfter, p.NotAfter, ca.Cert.NotAfter)
	}
	if c.SerialNumber == nil || c.SerialNumber.Sign() <= 0 || c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("serial %v, key usage %v: want a positive random serial and digital signature alone", c.SerialNumber, c.KeyUsage)
	}
	verifiesAsClientOnly(t, c, ca)
}

// verifiesAsClientOnly fails t unless cert, issued by ca, verifies against
// it for client authentication and not for server authentication.
func verifiesAsClientOnly(t *testing.T, cert *x509.Certificate, ca *pki.CA) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify against its CA as a client: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("a client certificate verifies as a server certificate")
	}
}
