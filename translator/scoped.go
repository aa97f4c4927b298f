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
// is the Host header up to its port, and the scopes are written in the
// HCM itself (scoped_route_configurations_list), each naming its route
// configuration, which comes over RDS.
//
// The scopes are not served over scoped RDS: Envoy subscribes to scoped
// route configurations as a wildcard, one subscription per HCM over the
// same ADS stream, and does not filter them by ScopedRoutes.name, so every
// HCM of a Gateway would receive the scopes of every port. Envoy 1.40
// rejects the configuration when a hostname is on two ports ("scope key
// conflict found", 404 on both), and without a shared hostname one port
// answers a hostname of the other with the other port's routes, past its
// policy. Written inline, a port's scopes are its own. A route change still
// sends only its hostname's route configuration; adding or removing a
// hostname changes the listener (Envoy drains its connections gracefully).
func scopedRoutes(p *portBuild) *hcmv3.HttpConnectionManager_ScopedRoutes {
	var scopes []*routev3.ScopedRouteConfiguration
	for _, h := range sortedKeys(p.vhosts) {
		name := scopedRouteName(p.port, h)
		scopes = append(scopes, &routev3.ScopedRouteConfiguration{
			Name:                   name,
			RouteConfigurationName: name,
			Key: &routev3.ScopedRouteConfiguration_Key{Fragments: []*routev3.ScopedRouteConfiguration_Key_Fragment{{
				Type: &routev3.ScopedRouteConfiguration_Key_Fragment_StringKey{StringKey: h},
			}}},
		})
	}
	return &hcmv3.HttpConnectionManager_ScopedRoutes{ScopedRoutes: &hcmv3.ScopedRoutes{
		Name: listenerName(p.port),
		ScopeKeyBuilder: &hcmv3.ScopedRoutes_ScopeKeyBuilder{Fragments: []*hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder{{
			Type: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_{HeaderValueExtractor: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor{
				Name:             ":authority",
				ElementSeparator: ":",
				ExtractType:      &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_Index{Index: 0},
			}},
		}}},
		RdsConfigSource: adsConfigSource(),
		ConfigSpecifier: &hcmv3.ScopedRoutes_ScopedRouteConfigurationsList{ScopedRouteConfigurationsList: &hcmv3.ScopedRouteConfigurationsList{
			ScopedRouteConfigurations: scopes,
		}},
	}}
}

// buildScopedRoutes returns a scoped port's route configurations, one per
// hostname (their scopes are in the port's HCM: see scopedRoutes).
func buildScopedRoutes(p *portBuild) []*routev3.RouteConfiguration {
	var rcs []*routev3.RouteConfiguration
	for _, h := range sortedKeys(p.vhosts) {
		name := scopedRouteName(p.port, h)
		rcs = append(rcs, &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{p.vhosts[h].proto()}})
	}
	return rcs
}
