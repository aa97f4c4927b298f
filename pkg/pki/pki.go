// Package pki issues the certificates that authenticate Envoys to
// gatewarden's xDS server: a CA, a server certificate, and one client
// certificate per Gateway whose URI SAN
// spiffe://<trust-domain>/ns/<namespace>/gateway/<name> is the identity the
// server binds a stream to. It uses the standard library alone, so that
// the same code serves `gatewarden certs` and the CA gatewarden runs
// itself in Kubernetes mode.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"
)

// DefaultTrustDomain is the SPIFFE trust domain of gatewarden's identities.
const DefaultTrustDomain = "gatewarden"

// clockSkew back-dates certificates so that a host whose clock is a little
// behind accepts them at once.
const clockSkew = 5 * time.Minute

// CA is a certificate authority: its certificate and its key.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// Pair is an issued certificate and its key, PEM-encoded.
type Pair struct {
	CertPEM, KeyPEM []byte
	NotAfter        time.Time
}

// NewCA creates a self-signed CA valid for validity.
func NewCA(commonName string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: commonName},
		NotBefore: now.Add(-clockSkew), NotAfter: now.Add(validity),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	return LoadCA(pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER))
}

// LoadCA reads a CA from its PEM certificate and key.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertificate(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, errors.New("CA certificate: not a CA (basicConstraints CA:FALSE)")
	}
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, errors.New("CA key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		if k, err = x509.ParseECPrivateKey(b.Bytes); err != nil {
			return nil, fmt.Errorf("CA key: %w", err)
		}
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("CA key: not a signing key")
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if certPub, err := x509.MarshalPKIXPublicKey(cert.PublicKey); err != nil || string(certPub) != string(pub) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	return &CA{Cert: cert, Key: signer, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// ParseCertificate parses the first PEM certificate of b.
func ParseCertificate(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// GatewayID is the SPIFFE ID of a Gateway's proxies.
func GatewayID(trustDomain, namespace, name string) string {
	return (&url.URL{Scheme: "spiffe", Host: trustDomain, Path: "/ns/" + namespace + "/gateway/" + name}).String()
}

// ParseGatewayID returns the Gateway "namespace/name" a SPIFFE ID of
// trustDomain names; ok is false for any other URI.
func ParseGatewayID(trustDomain string, u *url.URL) (gateway string, ok bool) {
	if u == nil || u.Scheme != "spiffe" || u.Host != trustDomain || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	parts := strings.Split(u.Path, "/")
	// "", "ns", NS, "gateway", NAME
	if len(parts) != 5 || parts[0] != "" || parts[1] != "ns" || parts[3] != "gateway" || parts[2] == "" || parts[4] == "" {
		return "", false
	}
	return parts[2] + "/" + parts[4], true
}

// IssueGateway issues the client certificate of the proxies of Gateway
// namespace/name.
func (ca *CA) IssueGateway(trustDomain, namespace, name string, validity time.Duration) (*Pair, error) {
	if namespace == "" || name == "" || strings.Contains(namespace, "/") || strings.Contains(name, "/") {
		return nil, fmt.Errorf("gateway %q/%q: want a namespace and a name without '/'", namespace, name)
	}
	id, err := url.Parse(GatewayID(trustDomain, namespace, name))
	if err != nil {
		return nil, err
	}
	return ca.Issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: namespace + "/" + name},
		URIs:        []*url.URL{id},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, validity)
}

// IssueServer issues the xDS server's certificate for hosts (DNS names or
// IP addresses).
func (ca *CA) IssueServer(hosts []string, validity time.Duration) (*Pair, error) {
	if len(hosts) == 0 {
		return nil, errors.New("server certificate: at least one host name or IP address")
	}
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: hosts[0]}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.Issue(tmpl, validity)
}

// Issue issues a certificate of the subject, names and extended key
// usages of tmpl (its serial number, validity and key usage are set here)
// valid for validity, and never beyond the CA's own.
func (ca *CA) Issue(tmpl *x509.Certificate, validity time.Duration) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if tmpl.SerialNumber, err = serialNumber(); err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-clockSkew), now.Add(validity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		// A certificate never outlives its CA.
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Pair{CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("PRIVATE KEY", keyDER), NotAfter: tmpl.NotAfter}, nil
}

// NeedsRenewal reports whether certPEM should be issued again: it does not
// parse, is not signed by ca, or has less than a third of its lifetime left.
func (ca *CA) NeedsRenewal(certPEM []byte, now time.Time) bool {
	c, err := ParseCertificate(certPEM)
	if err != nil {
		return true
	}
	if err := c.CheckSignatureFrom(ca.Cert); err != nil {
		return true
	}
	life := c.NotAfter.Sub(c.NotBefore)
	return now.After(c.NotAfter.Add(-life / 3))
}

// Fingerprint is the SHA-256 of a certificate's DER, for logs.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return fmt.Sprintf("%x", sum[:8])
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	return n, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
