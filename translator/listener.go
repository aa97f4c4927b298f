package translator

import (
	"fmt"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const hcmFilter = "envoy.filters.network.http_connection_manager"

// portBuild gathers what one Envoy listener (one port of a Gateway) needs.
type portBuild struct {
	port   int32
	bind   string // the IP address the listener binds
	tls    bool   // HTTPS: one filter chain per listener hostname
	scoped bool   // routes split per hostname (scoped RDS)
	chains []tlsChain
	// listeners are the Gateway's listeners on the port, in spec order.
	listeners []*listenerState
	vhosts    map[string]*vhostBuild
	usesRBAC  bool
	// gateway ("namespace/name") and accessLog (see AnnotationAccessLog)
	// name the listener in its stats and access log.
	gateway, accessLog string
	// jwt holds every JWT configuration a virtual host or route of the port
	// uses, by requirement name.
	jwt map[string]*jwtConfig
}

// useJwt records a JWT configuration for the listener's jwt_authn filter and
// the clusters its remote JWKS are fetched through.
func (p *portBuild) useJwt(c *jwtConfig, backends map[string]backend) {
	if p.jwt == nil {
		p.jwt = map[string]*jwtConfig{}
	}
	p.jwt[c.requirementName()] = c
	for _, s := range c.stages() {
		for _, b := range s.jwksClusters {
			backends[b.clusterName()] = b
		}
	}
}

// addChain adds the filter chain of an HTTPS listener: its certificates for
// its hostname. A second listener with the same hostname on the port adds
// nothing (the Gateway API calls that a conflict; the first one wins).
func (p *portBuild) addChain(l *listenerState) {
	var names []string
	if l.spec.Hostname != nil && *l.spec.Hostname != "" {
		names = []string{string(*l.spec.Hostname)}
	}
	for _, c := range p.chains {
		if slices.Equal(c.serverNames, names) {
			return
		}
	}
	p.chains = append(p.chains, tlsChain{serverNames: names, certs: l.certs, clientCA: l.clientCA})
}

// listenerName names the Envoy listener and route configuration of a port.
func listenerName(port int32) string { return fmt.Sprintf("http-%d", port) }

// jwtConfigs lists the JWT configurations of the port, sorted.
func (p *portBuild) jwtConfigs() []*jwtConfig {
	out := make([]*jwtConfig, 0, len(p.jwt))
	for _, k := range sortedKeys(p.jwt) {
		out = append(out, p.jwt[k])
	}
	return out
}

func buildListener(p *portBuild) *listenerv3.Listener {
	name := listenerName(p.port)
	payloads, failed := p.logKeys()
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: hcmStatPrefix(p.gateway, name),
		AccessLog:  buildAccessLog(p.accessLog, p.gateway, name, payloads, failed),
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: name,
		}},
		HttpFilters: buildHTTPFilters(p),
		// Normalise paths before routing and RBAC see them, so that
		// "/a/../b" or "//b" cannot slip past a path permission.
		NormalizePath:                wrapperspb.Bool(true),
		MergeSlashes:                 true,
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_REJECT_REQUEST,
		LocalReplyConfig:             pathRefusedReply(),
		// "api.test." is "api.test": a trailing dot must not miss the
		// listener's virtual host (the route configuration ignores the
		// port for the same reason).
		StripTrailingHostDot: true,
		// "X_User" is not "X-User" for Envoy, but it is for CGI-style
		// backends (HTTP_X_USER): a client could forge a header that a
		// provider's claimsToHeaders writes.
		CommonHttpProtocolOptions: &corev3.HttpProtocolOptions{HeadersWithUnderscoresAction: corev3.HttpProtocolOptions_DROP_HEADER},
		// WebSocket upgrades are off but on the routes to a Service port
		// of appProtocol kubernetes.io/ws, which turn them on.
		UpgradeConfigs: []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket", Enabled: wrapperspb.Bool(false)}},
	}
	if p.scoped {
		scopeByPort(hcm, p.port)
	}
	hcmFilters := []*listenerv3.Filter{{
		Name:       hcmFilter,
		ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
	}}
	l := &listenerv3.Listener{Name: name, Address: socketAddress(p.bind, uint32(p.port))}
	if !p.tls {
		l.FilterChains = []*listenerv3.FilterChain{{Filters: hcmFilters}}
		return l
	}
	l.ListenerFilters = []*listenerv3.ListenerFilter{tlsInspector()}
	for _, c := range p.chains {
		fc := &listenerv3.FilterChain{Filters: hcmFilters, TransportSocket: c.transportSocket()}
		if len(c.serverNames) > 0 {
			fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: c.serverNames}
		}
		l.FilterChains = append(l.FilterChains, fc)
	}
	return l
}

func buildRouteConfig(p *portBuild) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: listenerName(p.port), IgnorePortInHostMatching: true}
	for _, h := range sortedKeys(p.vhosts) {
		rc.VirtualHosts = append(rc.VirtualHosts, p.vhosts[h].proto())
	}
	return rc
}

// domains are the Host header values a Gateway API hostname matches: the
// route configurations ignore the Host's port (IgnorePortInHostMatching), so
// "www.example.com:8080", "www.example.com:1" and "www.example.com" are one
// host, and a wildcard matches with any port too.
func domains(hostname string) []string { return []string{hostname} }

func inlineString(s string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: s}}
}

// mustAny packs a message. Packing a well-formed message cannot fail; a
// failure is a bug in gatewarden, not in the user's input.
//
// Packing is deterministic (maps in key order): the same configuration gives
// the same bytes in every translation, so that the delta xDS server sends
// only what changed and an unchanged configuration keeps its version.
func mustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		panic(fmt.Sprintf("pack %T: %v", m, err))
	}
	return a
}

func sortedPorts(m map[int32]*portBuild) []int32 {
	ports := make([]int32, 0, len(m))
	for p := range m {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	return ports
}
