package xds

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSOptions secure the xDS port. The configuration gatewarden serves holds
// JWKS and the topology of every route, so a cluster that exposes the port
// beyond its Envoys should require client certificates.
type TLSOptions struct {
	CertFile, KeyFile string
	// ClientCAFile, when set, requires every client to present a
	// certificate signed by one of its authorities (mutual TLS).
	ClientCAFile string
}

// ServerTLSConfig builds the TLS configuration of the xDS server. The key
// pair is re-read when its files change, so that rotated certificates (a
// Secret updated in place) take effect without a restart.
func ServerTLSConfig(o TLSOptions) (*tls.Config, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("TLS for xDS needs both a certificate and a key file")
	}
	kp := &reloading[*tls.Certificate]{what: "xDS key pair", paths: []string{o.CertFile, o.KeyFile}, load: func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		return &c, err
	}}
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() },
		NextProtos:     []string{"h2"},
	}
	if o.ClientCAFile != "" {
		ca := &reloading[*x509.CertPool]{what: "client CA", paths: []string{o.ClientCAFile}, load: func() (*x509.CertPool, error) {
			pem, err := os.ReadFile(o.ClientCAFile)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no PEM certificate", o.ClientCAFile)
			}
			return pool, nil
		}}
		if _, err := ca.get(); err != nil {
			return nil, err
		}
		return MutualTLSConfig(kp.get, ca.get), nil
	}
	return cfg, nil
}

// MutualTLSConfig is a TLS configuration that requires client certificates
// signed by the authorities clientCAs returns, asked for each handshake so
// that a renewed CA (a file or a Secret changed in place) takes effect
// without a restart.
func MutualTLSConfig(cert func() (*tls.Certificate, error), clientCAs func() (*x509.CertPool, error)) *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"}, ClientAuth: tls.RequireAndVerifyClientCert}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := cert()
		if err != nil {
			return nil, err
		}
		pool, err := clientCAs()
		if err != nil {
			return nil, err
		}
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		cfg.Certificates = []tls.Certificate{*c}
		cfg.ClientCAs = pool
		return cfg, nil
	}
	return base
}

// reloading is a value loaded from files and loaded again when one of
// them changes. A load that fails after one succeeded (a rotation half
// written) keeps the last value.
type reloading[T any] struct {
	what    string
	paths   []string
	load    func() (T, error)
	mu      sync.Mutex
	loaded  T
	ok      bool
	modTime time.Time
}

func (r *reloading[T]) get() (T, error) {
	var mod time.Time
	for _, p := range r.paths {
		st, err := os.Stat(p)
		if err != nil {
			var zero T
			return zero, fmt.Errorf("%s: %w", r.what, err)
		}
		if st.ModTime().After(mod) {
			mod = st.ModTime()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ok && !mod.After(r.modTime) {
		return r.loaded, nil
	}
	v, err := r.load()
	if err != nil {
		if r.ok {
			return r.loaded, nil // a half-written rotation: keep the last value
		}
		var zero T
		return zero, fmt.Errorf("%s: %w", r.what, err)
	}
	r.loaded, r.ok, r.modTime = v, true, mod
	return v, nil
}
