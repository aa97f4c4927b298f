package translator

import (
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
)

const routerFilter = "envoy.filters.http.router"

// httpFilters is the one place the order of HTTP filters is decided: path
// hardening first, then CORS (a preflight carries no token: cors.go), then
// JWT verification, so that RBAC can match the verified claims it writes
// to dynamic metadata, and the router last.
var httpFilters = []struct {
	name  string
	build func(*portBuild) proto.Message // nil: the filter is not needed
}{
	// Ambiguous paths are refused before anything else (hardening.go).
	{PathHardeningFilter, func(*portBuild) proto.Message { return pathHardening() }},
	{corsFilter, func(p *portBuild) proto.Message {
		if !p.usesCORS() {
			return nil
		}
		// The policies are per route (cors.go).
		return &corsv3.Cors{}
	}},
	{jwtAuthnFilter, func(p *portBuild) proto.Message {
		if cfg := buildJwtFilter(p.jwtConfigs()); cfg != nil {
			return cfg
		}
		return nil
	}},
	{rbacFilter, func(p *portBuild) proto.Message {
		if !p.usesRBAC {
			return nil
		}
		// No rules at the listener: RBAC acts only where a virtual host or
		// route carries an RBACPerRoute.
		return &rbacv3.RBAC{}
	}},
	{routerFilter, func(*portBuild) proto.Message { return &routerv3.Router{} }},
}

func buildHTTPFilters(p *portBuild) []*hcmv3.HttpFilter {
	var out []*hcmv3.HttpFilter
	for _, f := range httpFilters {
		cfg := f.build(p)
		if cfg == nil {
			continue
		}
		out = append(out, &hcmv3.HttpFilter{Name: f.name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(cfg)}})
	}
	return out
}
