package translator_test

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// TestBackendTLSFailsClosed: a backend whose BackendTLSPolicy cannot be used
// (a CA that does not resolve, of another kind, not PEM, only partly
// resolving; a hostile SNI; the policy of a mirror) has no cluster at all, so
// nothing reaches it in plain text, and its rule answers 500. Every cluster
// of a targeted port carries TLS with the winning policy's SNI.
func TestBackendTLSFailsClosed(t *testing.T) {
	_, gw := translateInput(t, "testdata/backendtlspolicy-routes.in.yaml", "infra/web")
	clusters := map[string]*clusterv3.Cluster{}
	for _, c := range gw.Clusters {
		clusters[c.Name] = c
	}
	for _, svc := range []string{"bad-kind", "missing-cm", "bad-pem", "partial", "bad-host", "mirror-bad"} {
		for name := range clusters {
			if strings.HasPrefix(name, "team/"+svc+"/") {
				t.Errorf("Service %s has an invalid BackendTLSPolicy, yet it has cluster %s", svc, name)
			}
		}
		r := findRoute(gw.Routes, "app.example.com", "/"+svc)
		if r == nil {
			t.Errorf("no route for /%s", svc)
			continue
		}
		if d := r.GetDirectResponse(); d == nil || d.Status != 500 {
			t.Errorf("/%s: action %v, want a direct 500", svc, r.Action)
		}
	}
	wantSNI := map[string]string{
		"team/secure/443/tls/secure.team.internal":  "secure.team.internal",
		"team/conflict/443/tls/older.team.internal": "older.team.internal",
		"team/grpc/443/h2c/tls/grpc.team.internal":  "grpc.team.internal",
		"team/sans/443/tls/sans.team.internal":      "sans.team.internal",
		"team/system/443/tls/api.example.org":       "api.example.org",
	}
	for name, sni := range wantSNI {
		c := clusters[name]
		if c == nil {
			t.Errorf("no cluster %s", name)
			continue
		}
		var tc tlsv3.UpstreamTlsContext
		if c.GetTransportSocket() == nil || c.GetTransportSocket().GetTypedConfig().UnmarshalTo(&tc) != nil {
			t.Errorf("cluster %s has no UpstreamTlsContext", name)
			continue
		}
		if tc.Sni != sni || len(tc.GetCommonTlsContext().GetValidationContext().GetMatchTypedSubjectAltNames()) == 0 {
			t.Errorf("cluster %s: SNI %q, SANs %v; want SNI %q and names to check", name, tc.Sni, tc.GetCommonTlsContext().GetValidationContext().GetMatchTypedSubjectAltNames(), sni)
		}
	}
	// No plain-text cluster of a port a policy covers.
	for _, name := range []string{"team/secure/443", "team/conflict/443", "team/sans/443", "team/system/443", "team/grpc/443/h2c"} {
		if clusters[name] != nil {
			t.Errorf("plain-text cluster %s of a port a BackendTLSPolicy covers", name)
		}
	}
}

// findRoute returns the route of host's virtual host matching prefix.
func findRoute(rcs []*routev3.RouteConfiguration, host, prefix string) *routev3.Route {
	for _, rc := range rcs {
		for _, vh := range rc.VirtualHosts {
			if vh.Name != host {
				continue
			}
			for _, r := range vh.Routes {
				if r.GetMatch().GetPathSeparatedPrefix() == prefix || r.GetMatch().GetPrefix() == prefix {
					return r
				}
			}
		}
	}
	return nil
}
