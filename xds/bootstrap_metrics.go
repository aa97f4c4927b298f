package xds

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Names of the static resources of the metrics listener.
const (
	metricsListenerName = "gatewarden-metrics"
	adminClusterName    = "gatewarden-envoy-admin"
	// MetricsPath is the one path the metrics listener serves.
	MetricsPath = "/stats/prometheus"
)

// metricsResources are a listener on addr that serves Envoy's Prometheus
// stats and nothing else, and the cluster it reaches the admin interface
// through. The admin interface can drain listeners, change log levels and
// quit Envoy, so it stays on its own (loopback) address: this listener
// forwards exactly GET /stats/prometheus (after path normalisation, so
// "/stats/prometheus/../../quitquitquit" is "/quitquitquit") and answers 404
// to anything else.
func metricsResources(addr, admin string) (*listenerv3.Listener, *clusterv3.Cluster, error) {
	return adminPathResources(metricsListenerName, "metrics", addr, admin, MetricsPath)
}

// adminPathResources are a listener named name on addr that forwards GET
// path, and nothing else, to Envoy's admin interface at admin, and the
// cluster it reaches the admin interface through.
func adminPathResources(name, what, addr, admin, path string) (*listenerv3.Listener, *clusterv3.Cluster, error) {
	host, port, err := splitHostPort16(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%s address %q: %w", what, addr, err)
	}
	if admin == "" {
		return nil, nil, fmt.Errorf("%s address %q: Envoy's admin address is required, %s comes from it", what, addr, path)
	}
	var adminAddr *corev3.Address
	if path, ok := strings.CutPrefix(admin, "unix:"); ok {
		adminAddr = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: path}}}
	} else {
		ahost, aport, err := splitHostPort16(admin)
		if err != nil {
			return nil, nil, fmt.Errorf("admin address %q: %w", admin, err)
		}
		if ip := net.ParseIP(ahost); ip == nil || ip.IsUnspecified() {
			// Admin bound to every address (or a name): reach it on loopback.
			ahost = "127.0.0.1"
		}
		adminAddr = socketAddr(ahost, aport)
	}
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		return nil, nil, err
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:    name,
		NormalizePath: wrapperspb.Bool(true),
		MergeSlashes:  true,
		// An escaped slash is refused rather than decoded past the match.
		PathWithEscapedSlashesAction: hcmv3.HttpConnectionManager_REJECT_REQUEST,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{
			Name: name,
			VirtualHosts: []*routev3.VirtualHost{{
				Name:    name,
				Domains: []string{"*"},
				Routes: []*routev3.Route{{
					Match: &routev3.RouteMatch{
						PathSpecifier: &routev3.RouteMatch_Path{Path: path},
						Headers: []*routev3.HeaderMatcher{{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
							StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "GET"}},
						}}},
					},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{
						ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: adminClusterName},
						Timeout:          durationpb.New(10 * time.Second),
					}},
				}, {
					Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
					Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
						Status: 404,
						Body:   &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: "only GET " + path + " is served here\n"}},
					}},
				}},
			}},
		}},
		HttpFilters: []*hcmv3.HttpFilter{{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router}}},
	}
	hcmAny, err := anypb.New(hcm)
	if err != nil {
		return nil, nil, err
	}
	l := &listenerv3.Listener{
		Name:    name,
		Address: socketAddr(host, port),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcmAny},
		}}}},
	}
	c := &clusterv3.Cluster{
		Name:                 adminClusterName,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(time.Second),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: adminClusterName,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: adminAddr}},
			}}}},
		},
	}
	return l, c, nil
}

func splitHostPort16(addr string) (string, uint32, error) {
	host, port, err := hostPort(addr)
	if err == nil && host == "" {
		host = "0.0.0.0"
	}
	return host, port, err
}

// hostPort splits HOST:PORT, the port a number of 16 bits.
func hostPort(addr string) (string, uint32, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port: %w", err)
	}
	return host, uint32(port), nil
}

func socketAddr(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}
