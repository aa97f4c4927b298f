package explain

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFetchSendsTheURIsHostAndPath: a JWKS is fetched from the cluster's
// endpoint with the URI's path and Host header, as Envoy would.
func TestFetchSendsTheURIsHostAndPath(t *testing.T) {
	var gotHost, gotPath string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotPath = r.Host, r.URL.Path
		if _, err := w.Write([]byte(`{"keys":[]}`)); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	body, err := HTTPFetch("http://idp.example.com/.well-known/jwks.json", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != `{"keys":[]}` || gotHost != "idp.example.com" || gotPath != "/.well-known/jwks.json" {
		t.Fatalf("got %q with Host %q and path %q", body, gotHost, gotPath)
	}
}

// TestFetchRefusesWhatEnvoyWouldNotUse: an answer other than 200 is an
// error naming the URI, and over TLS a server whose certificate is not
// signed by the cluster's authorities is refused.
func TestFetchRefusesWhatEnvoyWouldNotUse(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	if _, err := HTTPFetch("http://idp.example.com/jwks", notFound.Listener.Addr().String()); err == nil || !strings.Contains(err.Error(), "http://idp.example.com/jwks") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a 404 answer: error = %v, want one naming the URI and the status", err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := w.Write([]byte(`{"keys":[]}`)); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	trusted := x509.NewCertPool()
	trusted.AddCert(srv.Certificate())
	// httptest's certificate names example.com.
	body, err := HTTPFetchTLS("https://example.com/jwks", srv.Listener.Addr().String(), &tls.Config{RootCAs: trusted})
	if err != nil || string(body) != `{"keys":[]}` {
		t.Fatalf("a server the cluster trusts: %q, %v", body, err)
	}
	if _, err := HTTPFetchTLS("https://example.com/jwks", srv.Listener.Addr().String(), &tls.Config{RootCAs: x509.NewCertPool()}); err == nil {
		t.Fatal("a server whose certificate no trusted authority signed was fetched from")
	}
	if _, err := HTTPFetchTLS("https://other.example.net/jwks", srv.Listener.Addr().String(), &tls.Config{RootCAs: trusted}); err == nil {
		t.Fatal("a server whose certificate does not name the URI's host was fetched from")
	}
}
