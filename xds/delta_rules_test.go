package xds_test

import (
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// TestDeltaRulesOverGRPC checks each delta subscription rule of the xDS
// protocol on a real ADS stream, with route configurations subscribed by
// name as Envoy does.
func TestDeltaRulesOverGRPC(t *testing.T) {
	_, _, client, res := startWorkloadServer(t)
	routeNames := names(res.Gateways[0].Routes)
	open := func(t *testing.T, subscribe []string) *deltaClient {
		c := newDeltaClient(t, client)
		c.send(&discoveryv3.DeltaDiscoveryRequest{Node: envoyNode(benchGateway), TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: subscribe})
		return c
	}
	expect := func(t *testing.T, c *deltaClient, wantSent, wantRemoved []string) {
		t.Helper()
		sent, removed, _ := c.expect(resourcev3.RouteType)
		if !slices.Equal(sent, wantSent) || !slices.Equal(removed, wantRemoved) {
			t.Fatalf("sent %v removed %v, want sent %v removed %v", sent, removed, wantSent, wantRemoved)
		}
	}

	t.Run("subscribing * after names sends the rest at once", func(t *testing.T) {
		c := open(t, routeNames[:2])
		expect(t, c, routeNames[:2], nil)
		c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: []string{"*"}})
		expect(t, c, routeNames[2:], nil)
		c.quiet()
	})
	t.Run("a name subscribed again is sent again", func(t *testing.T) {
		c := open(t, routeNames[:3])
		expect(t, c, routeNames[:3], nil)
		c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: routeNames[1:2]})
		expect(t, c, routeNames[1:2], nil)
		c.quiet()
	})
	t.Run("a wildcard stream unsubscribing a name is sent it again", func(t *testing.T) {
		c := open(t, []string{"*", routeNames[4]})
		expect(t, c, routeNames, nil)
		c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesUnsubscribe: routeNames[4:5]})
		expect(t, c, routeNames[4:5], nil)
		c.quiet()
	})
	t.Run("a subscribed name that does not exist is reported removed", func(t *testing.T) {
		c := open(t, []string{routeNames[0], "no-such-route"})
		expect(t, c, routeNames[:1], []string{"no-such-route"})
		c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: []string{"another-missing"}})
		expect(t, c, nil, []string{"another-missing"})
		c.quiet()
	})
}

// TestClusterChangeResendsItsEndpoints: a cluster changed with its
// endpoints unchanged gets them again (Envoy warms a changed cluster until
// they come), on delta and state-of-the-world streams.
func TestClusterChangeResendsItsEndpoints(t *testing.T) {
	s, res, _, c := deltaClientWithClusters(t)
	gc := res.Gateways[0]
	before := subscribeEndpoints(t, c, gc)
	changed := gc.Clusters[3].Name
	publish(t, s, edited(res, func(gc *xdsconfig.GatewayConfig) { changeCluster(gc, 3, 9*time.Second) }))
	if sent, _, _ := c.expect(resourcev3.ClusterType); !slices.Equal(sent, []string{changed}) {
		t.Fatalf("clusters sent %v, want [%s]", sent, changed)
	}
	sent, _, after := c.expect(resourcev3.EndpointType)
	if !slices.Equal(sent, []string{changed}) || after[changed] == before[changed] {
		t.Fatalf("endpoints sent %v (version %s, before %s), want [%s] with a new version", sent, after[changed], before[changed], changed)
	}
	c.quiet()
}

// TestSotWClustersRemovedAfterRoutes: a state-of-the-world Envoy is sent
// the new clusters with the removed one still among them, then the routes
// once it ACKed those, then the clusters without the removed one once it
// ACKed the routes.
func TestSotWClustersRemovedAfterRoutes(t *testing.T) {
	s, _, client, res := startWorkloadServer(t)
	c := newSotWClient(t, client)
	gc := res.Gateways[0]
	routeNames := names(gc.Routes)
	next := func(typeURL string) *discoveryv3.DiscoveryResponse {
		t.Helper()
		resp, ok := c.recv(5 * time.Second)
		if !ok {
			t.Fatalf("no %s response", typeURL)
		}
		if resp.TypeUrl != typeURL {
			t.Fatalf("a %s response, want %s", resp.TypeUrl, typeURL)
		}
		return resp
	}
	ack := func(resp *discoveryv3.DiscoveryResponse, names []string) {
		t.Helper()
		c.send(&discoveryv3.DiscoveryRequest{TypeUrl: resp.TypeUrl, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce, ResourceNames: names})
	}
	clusterNames := func(resp *discoveryv3.DiscoveryResponse) []string {
		return names(resources[clusterv3.Cluster](t, resp))
	}
	c.send(&discoveryv3.DiscoveryRequest{Node: envoyNode(benchGateway), TypeUrl: resourcev3.ClusterType})
	ack(next(resourcev3.ClusterType), nil)
	c.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNames: routeNames})
	ack(next(resourcev3.RouteType), routeNames)
	if extra, ok := c.recv(300 * time.Millisecond); ok {
		t.Fatalf("unexpected %s response", extra.TypeUrl)
	}

	gone := gc.Clusters[6].Name
	changed := edited(res, func(gc *xdsconfig.GatewayConfig) {
		removeCluster(gc, 6)
		r := proto.Clone(gc.Routes[0]).(*routev3.RouteConfiguration)
		r.IgnorePortInHostMatching = !r.IgnorePortInHostMatching
		gc.Routes[0] = r
	})
	publish(t, s, changed)
	held := next(resourcev3.ClusterType)
	if got := clusterNames(held); !slices.Contains(got, gone) || len(got) != len(gc.Clusters) {
		t.Fatalf("first cluster response: %d clusters, %s among them: %v; want all %d, the removed one kept", len(got), gone, slices.Contains(got, gone), len(gc.Clusters))
	}
	if extra, ok := c.recv(300 * time.Millisecond); ok {
		t.Fatalf("a %s response before the clusters were ACKed", extra.TypeUrl)
	}
	ack(held, nil)
	routes := next(resourcev3.RouteType)
	if extra, ok := c.recv(300 * time.Millisecond); ok {
		t.Fatalf("a %s response before the routes were ACKed", extra.TypeUrl)
	}
	ack(routes, routeNames)
	final := next(resourcev3.ClusterType)
	if got := clusterNames(final); slices.Contains(got, gone) || len(got) != len(gc.Clusters)-1 {
		t.Fatalf("last cluster response: %d clusters, %s among them: %v", len(got), gone, slices.Contains(got, gone))
	}
}
