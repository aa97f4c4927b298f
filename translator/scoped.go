package translator

import (
	"strconv"
	"strings"

	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	earlyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
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

// scopePortHeader carries, from the HCM that received a request, its port,
// which is the second fragment of every scope key: see scopeByPort.
const scopePortHeader = "x-gatewarden-scope-port"

// scopeByPort makes hcm select its route configuration by scoped RDS, the
// scope key being the Host header up to its port and the listener's port.
//
// Envoy (1.40) subscribes to scoped route configurations as a wildcard,
// one subscription per HCM on the same ADS stream, and does not filter
// them by ScopedRoutes.name: every scoped HCM of a Gateway receives the
// scopes of every port. With the Host alone as the key, a hostname on two
// ports made Envoy reject the configuration ("scope key conflict found",
// 404 on both), and otherwise one port answered another port's hostname
// with that port's routes, past its policy. Scopes listed in the HCM
// cannot name their route configuration over RDS ("Fetching routes via RDS
// is not supported with inline scoped routes"). So each scope key also
// holds its port, and the HCM writes its own port into a header before the
// scope is looked up (an early header mutation, which overwrites whatever
// the client sent): a request on one port can only select that port's
// scopes. The header is removed before the request goes upstream (see
// buildScopedRoutes).
func scopeByPort(hcm *hcmv3.HttpConnectionManager, port int32) {
	hcm.EarlyHeaderMutationExtensions = append(hcm.EarlyHeaderMutationExtensions, &corev3.TypedExtensionConfig{
		Name: "envoy.http.early_header_mutation.header_mutation",
		TypedConfig: mustAny(&earlyv3.HeaderMutation{Mutations: []*mutationv3.HeaderMutation{{
			Action: &mutationv3.HeaderMutation_Append{Append: &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: scopePortHeader, Value: strconv.Itoa(int(port))},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}},
		}}}),
	})
	hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_ScopedRoutes{ScopedRoutes: &hcmv3.ScopedRoutes{
		Name: listenerName(port),
		ScopeKeyBuilder: &hcmv3.ScopedRoutes_ScopeKeyBuilder{Fragments: []*hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder{{
			Type: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_{HeaderValueExtractor: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor{
				Name:             ":authority",
				ElementSeparator: ":",
				ExtractType:      &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_Index{Index: 0},
			}},
		}, {
			Type: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_{HeaderValueExtractor: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor{
				Name:        scopePortHeader,
				ExtractType: &hcmv3.ScopedRoutes_ScopeKeyBuilder_FragmentBuilder_HeaderValueExtractor_Index{Index: 0},
			}},
		}}},
		RdsConfigSource: adsConfigSource(),
		ConfigSpecifier: &hcmv3.ScopedRoutes_ScopedRds{ScopedRds: &hcmv3.ScopedRds{ScopedRdsConfigSource: adsConfigSource()}},
	}}
}

// buildScopedRoutes returns a scoped port's route configurations, one per
// hostname, and their scopes, keyed by hostname and port.
func buildScopedRoutes(p *portBuild) ([]*routev3.RouteConfiguration, []*routev3.ScopedRouteConfiguration) {
	var rcs []*routev3.RouteConfiguration
	var scopes []*routev3.ScopedRouteConfiguration
	for _, h := range sortedKeys(p.vhosts) {
		name := scopedRouteName(p.port, h)
		rcs = append(rcs, &routev3.RouteConfiguration{Name: name, IgnorePortInHostMatching: true, VirtualHosts: []*routev3.VirtualHost{p.vhosts[h].proto()},
			RequestHeadersToRemove: []string{scopePortHeader}})
		scopes = append(scopes, &routev3.ScopedRouteConfiguration{
			Name:                   name,
			RouteConfigurationName: name,
			Key: &routev3.ScopedRouteConfiguration_Key{Fragments: []*routev3.ScopedRouteConfiguration_Key_Fragment{{
				Type: &routev3.ScopedRouteConfiguration_Key_Fragment_StringKey{StringKey: h},
			}, {
				Type: &routev3.ScopedRouteConfiguration_Key_Fragment_StringKey{StringKey: strconv.Itoa(int(p.port))},
			}}},
		})
	}
	return rcs, scopes
}
