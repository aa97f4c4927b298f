package translator

import (
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// DefaultScopedRoutesMinHosts is the number of virtual hosts on a port from
// which its routes are split per hostname (see Options.ScopedRoutesMinHosts).
const DefaultScopedRoutesMinHosts = 100

// useScopedRoutes decides whether the routes of port p are served as one
// route configuration per hostname, selected by Envoy's scoped RDS on the
// Host header: then a change to one route sends, and makes Envoy rebuild,
// that hostname's configuration alone instead of every virtual host of the
// port. Scopes are exact keys, so this is done only when every hostname of
// the port is exact (no wildcard, no catch-all).
func useScopedRoutes(p *portBuild, minHosts int) bool {
	if minHosts <= 0 || len(p.vhosts) < minHosts {
		return false
	}
	for h := range p.vhosts {
		if strings.HasPrefix(h, "*") {
			return false
		}
	}
	return true
}

// scopedRouteName names the route configuration (and scope) of one
// hostname of a port.
func scopedRouteName(port int32, host string) string { return listenerName(port) + "/" + host }

// scopedRoutes is the HCM route specifier of a scoped port: the scope key
// is the Host header up to its port.
func scopedRoutes(port int32) *hcmv3.HttpConnectionManager_ScopedRoutes {
	return &hcmv3.HttpConnectionManager_ScopedRoutes{ScopedRoutes: &hcmv3.ScopedRoutes{
		Name: listenerName(port),
		ScopeKeyBuilder: &hcmv3.ScopedRoutes_ScopeKeyBuilder{Fragments: []*hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder{{
			Type: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_{HeaderValueExtractor: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor{
				Name:             ":authority",
				ElementSeparator: ":",
				ExtractType:      &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_Index{Index: 0},
			}},
		}}},
		RdsConfigSource: adsConfigSource(),
		ConfigSpecifier: &hcmv3.ScopedRoutes_ScopedRds{ScopedRds: &hcmv3.ScopedRds{ScopedRdsConfigSource: adsConfigSource()}},
	}}
}

// buildScopedRoutes returns a scoped port's route configurations, one per
// hostname, and their scopes.
func buildScopedRoutes(p *portBuild) ([]*routev3.RouteConfiguration, []*routev3.ScopedRouteConfiguration) {
	var rcs []*routev3.RouteConfiguration
	var scopes []*routev3.ScopedRouteConfiguration
	for _, h := range sortedKeys(p.vhosts) {
		name := scopedRouteName(p.port, h)
		rcs = append(rcs, &routev3.RouteConfiguration{Name: name, IgnorePortInHostMatching: true, VirtualHosts: []*routev3.VirtualHost{p.vhosts[h].proto()}})
		scopes = append(scopes, &routev3.ScopedRouteConfiguration{
			Name:                   name,
			RouteConfigurationName: name,
			Key: &routev3.ScopedRouteConfiguration_Key{Fragments: []*routev3.ScopedRouteConfiguration_Key_Fragment{{
				Type: &routev3.ScopedRouteConfiguration_Key_Fragment_StringKey{StringKey: h},
			}}},
		})
	}
	return rcs, scopes
}
