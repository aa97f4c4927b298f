package testenv

import (
	"fmt"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// StaticBootstrap folds one Gateway's configuration into a bootstrap with
// only static resources: each listener's RDS reference is replaced by its
// route configuration and each EDS cluster by a static one with its
// endpoints. `envoy --mode validate` checks such a bootstrap completely,
// which is how every golden translation is proven loadable by real Envoy.
func StaticBootstrap(gc *xdsconfig.GatewayConfig) (*bootstrapv3.Bootstrap, error) {
	routes := map[string]*routev3.RouteConfiguration{}
	for _, r := range gc.Routes {
		routes[r.Name] = r
	}
	b := &bootstrapv3.Bootstrap{StaticResources: &bootstrapv3.Bootstrap_StaticResources{}}
	for _, l := range gc.Listeners {
		l = proto.Clone(l).(*listenerv3.Listener)
		for _, fc := range l.FilterChains {
			for _, f := range fc.Filters {
				hcm := &hcmv3.HttpConnectionManager{}
				if !f.GetTypedConfig().MessageIs(hcm) {
					continue // a TLS passthrough listener's tcp_proxy
				}
				if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
					return nil, fmt.Errorf("listener %s: %w", l.Name, err)
				}
				if rds := hcm.GetRds(); rds != nil {
					rc := routes[rds.RouteConfigName]
					if rc == nil {
						return nil, fmt.Errorf("listener %s names route configuration %q, which is missing", l.Name, rds.RouteConfigName)
					}
					hcm.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc}
				}
				if sr := hcm.GetScopedRoutes(); sr != nil {
					// Scopes listed inline, each with its route configuration.
					list := &hcmv3.ScopedRouteConfigurationsList{}
					for _, sc := range gc.ScopedRoutes {
						rc := routes[sc.RouteConfigurationName]
						if rc == nil {
							return nil, fmt.Errorf("scope %s names route configuration %q, which is missing", sc.Name, sc.RouteConfigurationName)
						}
						if !strings.HasPrefix(sc.Name, sr.Name+"/") {
							continue
						}
						sc = proto.Clone(sc).(*routev3.ScopedRouteConfiguration)
						sc.RouteConfigurationName = ""
						sc.RouteConfiguration = rc
						list.ScopedRouteConfigurations = append(list.ScopedRouteConfigurations, sc)
					}
					sr.ConfigSpecifier = &hcmv3.ScopedRoutes_ScopedRouteConfigurationsList{ScopedRouteConfigurationsList: list}
				}
				a, err := anypb.New(hcm)
				if err != nil {
					return nil, err
				}
				f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
			}
		}
		for _, fc := range l.FilterChains {
			ts, err := staticSecretRefs(fc.GetTransportSocket(), &tlsv3.DownstreamTlsContext{})
			if err != nil {
				return nil, fmt.Errorf("listener %s: %w", l.Name, err)
			}
			fc.TransportSocket = ts
		}
		b.StaticResources.Listeners = append(b.StaticResources.Listeners, l)
	}
	endpoints := map[string]int{}
	for i, e := range gc.Endpoints {
		endpoints[e.ClusterName] = i
	}
	for _, c := range gc.Clusters {
		c = proto.Clone(c).(*clusterv3.Cluster)
		if c.GetType() == clusterv3.Cluster_EDS {
			i, ok := endpoints[c.Name]
			if !ok {
				return nil, fmt.Errorf("cluster %s has no endpoints resource", c.Name)
			}
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
			c.EdsClusterConfig = nil
			c.LoadAssignment = gc.Endpoints[i]
		}
		ts, err := staticSecretRefs(c.GetTransportSocket(), &tlsv3.UpstreamTlsContext{})
		if err != nil {
			return nil, fmt.Errorf("cluster %s: %w", c.Name, err)
		}
		c.TransportSocket = ts
		b.StaticResources.Clusters = append(b.StaticResources.Clusters, c)
	}
	b.StaticResources.Secrets = gc.Secrets
	return b, nil
}

// tlsContext is a transport socket's TLS context, downstream (a filter
// chain's) or upstream (a cluster's).
type tlsContext interface {
	proto.Message
	GetCommonTlsContext() *tlsv3.CommonTlsContext
}

// staticSecretRefs makes the SDS references of the TLS context in ts (read
// into ctx) name static secrets of the bootstrap instead of ADS ones. It
// returns ts itself when it is nil or references no certificate by SDS.
func staticSecretRefs(ts *corev3.TransportSocket, ctx tlsContext) (*corev3.TransportSocket, error) {
	if ts == nil {
		return nil, nil
	}
	if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
		return nil, err
	}
	sds := ctx.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs()
	if len(sds) == 0 {
		return ts, nil
	}
	for _, s := range sds {
		s.SdsConfig = nil
	}
	a, err := anypb.New(ctx)
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{Name: ts.Name, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}
