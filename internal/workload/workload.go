// Package workload generates the benchmark configuration: N HTTPRoutes with
// a Service, an EndpointSlice and a RouteOption each, behind one Gateway
// whose VirtualHostOption verifies JWTs. The same N always gives the same
// bytes, so figures from different runs compare.
package workload

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Key is the JWKS of the workload's provider: the guide's public key.
const Key = `{"keys":[{"kty":"RSA","kid":"solo-public-key-001","use":"sig","alg":"RS256","n":"AOfIaJMUm7564sWWNHaXt_hS8H0O1Ew59-nRqruMQosfQqa7tWne5lL3m9sMAkfa3Twx0LMN_7QqRDoztvV3Wa_JwbMzb9afWE-IfKIuDqkvog6s-xGIFNhtDGBTuL8YAQYtwCF7l49SMv-GqyLe-nO9yJW-6wIGoOqImZrCxjxXFzF6mTMOBpIODFj0LUZ54QQuDcD1Nue2LMLsUvGa7V1ZHsYuGvUqzvXFBXMmMS2OzGir9ckpUhrUeHDCGFpEM4IQnu-9U8TbAJxKE5Zp8Nikefr2ISIG2Hk1K2rBAc_HwoPeWAcAWUAR5tWHAxx-UXClSZQ9TMFK850gQGenUp8","e":"AQAB"}]}`

// Options shape a workload.
type Options struct {
	Routes int
	// Port is the Gateway listener's; BackendPort the EndpointSlices'.
	Port, BackendPort int
	// Backend is the endpoint address of every Service (an FQDN when not an IP).
	Backend string
	// JWKS verifies the tokens; default Key.
	JWKS string
}

func (o Options) withDefaults() Options {
	if o.Port == 0 {
		o.Port = 8080
	}
	if o.BackendPort == 0 {
		o.BackendPort = 8000
	}
	if o.Backend == "" {
		o.Backend = "10.0.0.1"
	}
	if o.JWKS == "" {
		o.JWKS = Key
	}
	return o
}

// Files returns the manifests by file name: gateway.yaml and one file per route.
func Files(o Options) map[string]string {
	o = o.withDefaults()
	files := map[string]string{"gateway.yaml": fmt.Sprintf(gatewayYAML, o.Port, o.JWKS)}
	addrType := "IPv4"
	if strings.IndexFunc(o.Backend, func(r rune) bool { return r >= 'a' && r <= 'z' }) >= 0 {
		addrType = "FQDN"
	}
	for i := 0; i < o.Routes; i++ {
		files[fmt.Sprintf("routes/r%05d.yaml", i)] = Route(i, o.BackendPort, addrType, o.Backend, fmt.Sprintf("team-%d", i%10))
	}
	return files
}

// Route is the manifests of route i; team is the value its RBAC requires
// of org.team.
func Route(i, backendPort int, addrType, backend, team string) string {
	return fmt.Sprintf(routeYAML, i, backendPort, addrType, backend, team)
}

// Write writes the workload into dir.
func Write(dir string, o Options) error {
	for name, content := range Files(o) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// gatewayYAML is the GatewayClass, the Gateway bench/bench and its
// VirtualHostOption: %d the listener's port, %s the JWKS.
//
//go:embed gateway.yaml
var gatewayYAML string

// routeYAML is route %[1]d's Service, EndpointSlice, HTTPRoute and
// RouteOption: %[2]d the endpoint port, %[3]s the address type, %[4]s the
// address, %[5]s the team its RBAC requires.
//
//go:embed route.yaml
var routeYAML string
