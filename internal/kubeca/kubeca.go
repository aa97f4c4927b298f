// Package kubeca is gatewarden's own CA in Kubernetes mode: it makes xDS
// authenticated by default, with no manual step. The CA lives in a Secret
// of gatewarden's namespace (created if absent, shared by every replica);
// each replica serves xDS with a server certificate it issues itself in
// memory; and for every Gateway it serves, gatewarden keeps a Secret
// "xds.<namespace>.<name>" in the proxies' namespace holding that
// Gateway's client certificate (URI SAN
// spiffe://<trust-domain>/ns/<namespace>/gateway/<name>), the CA, and the
// SDS files `gatewarden bootstrap --xds-tls-dir` reads. A proxy that
// mounts the Secret gets its Gateway and nothing else; Secrets are renewed
// a third of their lifetime before they expire, and Envoy picks the new
// certificate up from the mounted files without a restart.
//
// Why certificates rather than ServiceAccount tokens checked with a
// TokenReview: the identity is checked in the TLS handshake (a client
// without one never reaches the gRPC server), needs no API server round
// trip per connection (xDS keeps serving while the API server is down),
// works the same for Envoys outside the cluster (`gatewarden certs`), and
// gatewarden needs write access to Secrets of one namespace only.
package kubeca

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/pkg/pki"
	"github.com/gatewarden/gatewarden/xds"
)

// Labels of the Secrets gatewarden issues.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelGatewayNS = "gatewarden.dev/gateway-namespace"
	LabelGateway   = "gatewarden.dev/gateway-name"
	managedBy      = "gatewarden"
)

// GatewayNamespace as ProxyNamespace puts each Gateway's Secret in the
// Gateway's namespace.
const GatewayNamespace = "@gateway"

// Options configure the CA.
type Options struct {
	Client client.Client
	Log    *slog.Logger
	// Namespace holds the CA Secret; ProxyNamespace, the Secrets of the
	// Gateways' proxies (where the proxies run): one namespace, or
	// GatewayNamespace for each Gateway's own (proxies deployed next to
	// their Gateway, which needs the right to write Secrets there).
	Namespace, CASecret, ProxyNamespace string
	TrustDomain                         string
	// ServerNames are the names Envoys reach gatewarden at.
	ServerNames []string
	// ClientValidity is the lifetime of a Gateway's certificate;
	// ServerValidity, of a replica's server certificate.
	ClientValidity, ServerValidity time.Duration
}

// CA is gatewarden's CA in Kubernetes mode.
type CA struct {
	o  Options
	ca *pki.CA

	kick   chan struct{}
	mu     sync.Mutex
	server *tls.Certificate
	renew  time.Time
}

// Load reads the CA Secret, creating it if absent (the first replica to
// start creates it; the others read it).
func Load(ctx context.Context, o Options) (*CA, error) {
	key := types.NamespacedName{Namespace: o.Namespace, Name: o.CASecret}
	for attempt := 0; attempt < 2; attempt++ {
		var s corev1.Secret
		err := o.Client.Get(ctx, key, &s)
		if err == nil {
			ca, err := pki.LoadCA(s.Data["ca.crt"], s.Data["ca.key"])
			if err != nil {
				return nil, fmt.Errorf("xDS CA Secret %s: %w", key, err)
			}
			o.Log.Info("xDS CA loaded", "secret", key.String(), "fingerprint", pki.Fingerprint(ca.Cert), "notAfter", ca.Cert.NotAfter)
			return &CA{o: o, ca: ca, kick: make(chan struct{}, 1)}, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("xDS CA Secret %s: %w", key, err)
		}
		ca, err := pki.NewCA("gatewarden xDS CA", 10*365*24*time.Hour)
		if err != nil {
			return nil, err
		}
		s = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: o.Namespace, Name: o.CASecret, Labels: map[string]string{LabelManagedBy: managedBy}},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": ca.KeyPEM},
		}
		if err := o.Client.Create(ctx, &s); err != nil {
			if apierrors.IsAlreadyExists(err) {
				continue // another replica created it first: read theirs
			}
			return nil, fmt.Errorf("create xDS CA Secret %s: %w", key, err)
		}
		o.Log.Info("xDS CA created", "secret", key.String(), "fingerprint", pki.Fingerprint(ca.Cert))
		return &CA{o: o, ca: ca, kick: make(chan struct{}, 1)}, nil
	}
	return nil, fmt.Errorf("xDS CA Secret %s: created and gone", key)
}

// TLSConfig is the xDS server's TLS configuration: a server certificate
// issued from the CA (renewed in memory), client certificates required.
func (c *CA) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(c.ca.Cert)
	return xds.MutualTLSConfig(c.serverCert, func() (*x509.CertPool, error) { return pool, nil })
}

func (c *CA) serverCert() (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.server != nil && time.Now().Before(c.renew) {
		return c.server, nil
	}
	pair, err := c.ca.IssueServer(c.o.ServerNames, c.o.ServerValidity)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		return nil, err
	}
	c.server = &cert
	c.renew = pair.NotAfter.Add(-c.o.ServerValidity / 3)
	return c.server, nil
}

// SecretName is the name of the Secret of Gateway namespace/name. A
// namespace has no dot, so the name is unambiguous; one too long for a
// Secret is hashed.
func SecretName(namespace, name string) string {
	n := "xds." + namespace + "." + name
	if len(n) <= 253 {
		return n
	}
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	return fmt.Sprintf("xds.%x", sum[:16])
}

// Ensure makes the Secret of each Gateway ("namespace/name") exist and
// hold a certificate with more than a third of its lifetime left.
func (c *CA) Ensure(ctx context.Context, gateways []string) error {
	var errs []error
	for _, gw := range gateways {
		ns, name, ok := strings.Cut(gw, "/")
		if !ok {
			continue
		}
		errs = append(errs, c.ensure(ctx, ns, name))
	}
	return errors.Join(errs...)
}

func (c *CA) ensure(ctx context.Context, ns, name string) error {
	target := c.o.ProxyNamespace
	if target == GatewayNamespace {
		target = ns
	}
	key := types.NamespacedName{Namespace: target, Name: SecretName(ns, name)}
	var s corev1.Secret
	err := c.o.Client.Get(ctx, key, &s)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("xDS Secret %s: %w", key, err)
	}
	if exists && !c.ca.NeedsRenewal(s.Data[xds.CredentialsCert], time.Now()) && string(s.Data[xds.CredentialsCA]) == string(c.ca.CertPEM) {
		return nil
	}
	pair, err := c.ca.IssueGateway(c.o.TrustDomain, ns, name, c.o.ClientValidity)
	if err != nil {
		return err
	}
	files, err := xds.CredentialFiles(pair.CertPEM, pair.KeyPEM, c.ca.CertPEM)
	if err != nil {
		return err
	}
	s.Namespace, s.Name = key.Namespace, key.Name
	s.Labels = map[string]string{LabelManagedBy: managedBy, LabelGatewayNS: ns, LabelGateway: name}
	s.Type = corev1.SecretTypeOpaque
	s.Data = files
	if exists {
		err = c.o.Client.Update(ctx, &s)
	} else {
		err = c.o.Client.Create(ctx, &s)
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return nil // another replica wrote it first
	}
	if err != nil {
		return fmt.Errorf("write xDS Secret %s: %w", key, err)
	}
	c.o.Log.Info("xDS client certificate issued", "gateway", ns+"/"+name, "secret", key.String(), "notAfter", pair.NotAfter)
	return nil
}

// Kick asks Run to look at the Gateways now (they changed).
func (c *CA) Kick() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Run writes and renews the Secrets of the Gateways gateways returns, when
// kicked and every interval, until ctx ends: off the translation path, so
// that a slow API server does not delay configuration.
func (c *CA) Run(ctx context.Context, interval time.Duration, gateways func() []string) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-c.kick:
		}
		if err := c.Ensure(ctx, gateways()); err != nil {
			c.o.Log.Error("xDS client certificates", "error", err)
		}
	}
}

// NeedsRenewal reports whether a certificate should be issued again now.
func (c *CA) NeedsRenewal(certPEM []byte) bool { return c.ca.NeedsRenewal(certPEM, time.Now()) }
