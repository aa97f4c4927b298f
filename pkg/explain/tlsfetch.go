package explain

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// clusterTLSConfig is what Envoy checks when it connects through c over
// TLS, as a Go TLS configuration: the SNI (and name checked: the first DNS
// name the cluster requires, else its SNI) and the trusted authorities (the
// cluster's inline CA, else the system's). nil for a cluster without TLS.
func clusterTLSConfig(c *clusterv3.Cluster) (*tls.Config, error) {
	ts := c.GetTransportSocket()
	if ts == nil || ts.GetName() != "envoy.transport_sockets.tls" {
		return nil, nil
	}
	ctx := &tlsv3.UpstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	cfg := &tls.Config{ServerName: ctx.Sni, MinVersion: tls.VersionTLS12}
	vc := ctx.GetCommonTlsContext().GetValidationContext()
	for _, san := range vc.GetMatchTypedSubjectAltNames() {
		if san.SanType == tlsv3.SubjectAltNameMatcher_DNS && san.GetMatcher().GetExact() != "" {
			cfg.ServerName = san.GetMatcher().GetExact()
			break
		}
	}
	if ca := vc.GetTrustedCa().GetInlineString(); ca != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(ca)) {
			return nil, fmt.Errorf("cluster %s: no certificate in its trusted CA", c.Name)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// HTTPFetchTLS is HTTPFetch for a JWKS server reached over TLS, checked as
// its cluster says (tlsConfig from the cluster: SNI, name, authorities);
// with a nil tlsConfig it is HTTPFetch. For Options.FetchJWKSTLS.
func HTTPFetchTLS(uri, endpoint string, tlsConfig *tls.Config) ([]byte, error) {
	if tlsConfig == nil {
		return HTTPFetch(uri, endpoint)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, err
	}
	if h, p, err := net.SplitHostPort(endpoint); err == nil && (h == "localhost" || strings.HasSuffix(h, ".localhost")) {
		endpoint = net.JoinHostPort("127.0.0.1", p)
	}
	cfg := tlsConfig.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	target := *u
	target.Scheme, target.Host = "https", endpoint
	req, err := http.NewRequest(http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Host = u.Host
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", uri, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
