package explain

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

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
	return fetch(uri, endpoint, tlsConfig)
}
