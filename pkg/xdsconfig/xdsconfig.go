// Package xdsconfig holds the translator's output: the xDS resources of each
// Gateway. It sits below both the translator that fills it and the xDS
// server and explain that read it, so that no import runs up the layers.
package xdsconfig

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// GatewayConfig is the xDS configuration served to the Envoys of one Gateway.
// Every slice is sorted by resource name.
type GatewayConfig struct {
	Namespace string
	Name      string
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	// ScopedRoutes select a route configuration by the Host header, for
	// the ports served with scoped RDS.
	ScopedRoutes []*routev3.ScopedRouteConfiguration
	Clusters     []*clusterv3.Cluster
	Endpoints    []*endpointv3.ClusterLoadAssignment
	// Secrets are the certificates of HTTPS listeners, served over SDS.
	Secrets []*tlsv3.Secret
}

// Key is the Gateway's "namespace/name", which is also the node cluster its
// Envoys announce.
func (g *GatewayConfig) Key() string { return g.Namespace + "/" + g.Name }
