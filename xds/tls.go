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
	kp := &reloadingKeyPair{cert: o.CertFile, key: o.KeyFile}
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() },
		NextProtos:     []string{"h2"},
	}
	if o.ClientCAFile != "" {
		ca := &reloadingPool{path: o.ClientCAFile}
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

// reloadingPool is a CA bundle file read again when it changes.
type reloadingPool struct {
	path    string
	mu      sync.Mutex
	loaded  *x509.CertPool
	modTime time.Time
}

func (r *reloadingPool) get() (*x509.CertPool, error) {
	st, err := os.Stat(r.path)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded != nil && !st.ModTime().After(r.modTime) {
		return r.loaded, nil
	}
	pem, err := os.ReadFile(r.path)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		if r.loaded != nil {
			return r.loaded, nil // a half-written rotation: keep the old bundle
		}
		return nil, fmt.Errorf("client CA %s: no PEM certificate", r.path)
	}
	r.loaded, r.modTime = pool, st.ModTime()
	return pool, nil
}

type reloadingKeyPair struct {
	cert, key string
	mu        sync.Mutex
	loaded    *tls.Certificate
	modTime   time.Time
}

func (r *reloadingKeyPair) get() (*tls.Certificate, error) {
	st, err := os.Stat(r.cert)
	if err != nil {
		return nil, fmt.Errorf("xDS certificate: %w", err)
	}
	kst, err := os.Stat(r.key)
	if err != nil {
		return nil, fmt.Errorf("xDS key: %w", err)
	}
	mod := st.ModTime()
	if kst.ModTime().After(mod) {
		mod = kst.ModTime()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loaded != nil && !mod.After(r.modTime) {
		return r.loaded, nil
	}
	c, err := tls.LoadX509KeyPair(r.cert, r.key)
	if err != nil {
		if r.loaded != nil {
			return r.loaded, nil // a half-written rotation: keep the old pair
		}
		return nil, fmt.Errorf("xDS key pair: %w", err)
	}
	r.loaded, r.modTime = &c, mod
	return r.loaded, nil
}
