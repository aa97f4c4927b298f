package xds_test

import (
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/gatewarden/gatewarden/internal/workload"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
	"github.com/gatewarden/gatewarden/translator"
	"github.com/gatewarden/gatewarden/xds"
)

const benchGateway = "bench/bench"

// workloadResult translates n generated routes, served with scoped RDS: a
// route configuration per hostname.
func workloadResult(t *testing.T, n int) *translator.Result {
	t.Helper()
	res := workload.Translate(t, n, translator.Options{ScopedRoutesMinHosts: 10, AllowLoopbackBackends: true})
	if res.Gateways[0].Key() != benchGateway || len(res.Gateways[0].Routes) != n {
		t.Fatalf("unexpected translation of the workload")
	}
	return res
}

// startWorkloadServer is startServer serving workloadResult(t, 20).
func startWorkloadServer(t *testing.T) (*xds.Server, *xds.Metrics, discoveryv3.AggregatedDiscoveryServiceClient, *translator.Result) {
	t.Helper()
	s, m, client := startServer(t)
	res := workloadResult(t, 20)
	publish(t, s, res)
	return s, m, client, res
}

// envoyNode is the node of an Envoy of the Gateway gw.
func envoyNode(gw string) *corev3.Node {
	return &corev3.Node{Id: "envoy-1", Cluster: gw}
}

// edited copies a Result's only Gateway with f applied to a copy.
func edited(res *translator.Result, f func(gc *xdsconfig.GatewayConfig)) *translator.Result {
	gc := *res.Gateways[0]
	gc.Routes = slices.Clone(gc.Routes)
	gc.Clusters = slices.Clone(gc.Clusters)
	gc.Endpoints = slices.Clone(gc.Endpoints)
	f(&gc)
	return &translator.Result{Gateways: []*xdsconfig.GatewayConfig{&gc}, Status: res.Status}
}

// changeCluster gives cluster i of gc another connect timeout: a change of
// that cluster alone.
func changeCluster(gc *xdsconfig.GatewayConfig, i int, timeout time.Duration) {
	c := proto.Clone(gc.Clusters[i]).(*clusterv3.Cluster)
	c.ConnectTimeout = durationpb.New(timeout)
	gc.Clusters[i] = c
}

// removeCluster removes cluster i of gc and its endpoints.
func removeCluster(gc *xdsconfig.GatewayConfig, i int) {
	gone := gc.Clusters[i].Name
	gc.Clusters = slices.Delete(gc.Clusters, i, i+1)
	gc.Endpoints = slices.DeleteFunc(gc.Endpoints, func(e *endpointv3.ClusterLoadAssignment) bool { return e.ClusterName == gone })
}

// resources decodes the resources of a state-of-the-world response as Ts.
func resources[T any, P interface {
	*T
	proto.Message
}](t *testing.T, resp *discoveryv3.DiscoveryResponse) []P {
	t.Helper()
	out := make([]P, len(resp.Resources))
	for i, a := range resp.Resources {
		out[i] = new(T)
		if err := a.UnmarshalTo(out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func names[T interface{ GetName() string }](rs []T) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.GetName())
	}
	slices.Sort(out)
	return out
}

// deltaClientWithClusters serves the workload of 20 routes to a delta
// client that has been sent every cluster.
func deltaClientWithClusters(t *testing.T) (*xds.Server, *translator.Result, discoveryv3.AggregatedDiscoveryServiceClient, *deltaClient) {
	t.Helper()
	s, _, client, res := startWorkloadServer(t)
	c := newDeltaClient(t, client)
	c.send(&discoveryv3.DeltaDiscoveryRequest{Node: envoyNode(benchGateway), TypeUrl: resourcev3.ClusterType})
	if got, _, _ := c.expect(resourcev3.ClusterType); !slices.Equal(got, names(res.Gateways[0].Clusters)) {
		t.Fatalf("clusters sent: %v", got)
	}
	return s, res, client, c
}

// subscribeEndpoints subscribes c to the endpoints of every cluster of gc
// and returns the versions sent.
func subscribeEndpoints(t *testing.T, c *deltaClient, gc *xdsconfig.GatewayConfig) map[string]string {
	t.Helper()
	var endpointNames []string
	for _, e := range gc.Endpoints {
		endpointNames = append(endpointNames, e.ClusterName)
	}
	c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: endpointNames})
	sent, _, versions := c.expect(resourcev3.EndpointType)
	if len(sent) != len(endpointNames) {
		t.Fatalf("endpoints sent: %d of %d", len(sent), len(endpointNames))
	}
	c.quiet()
	return versions
}

// TestDeltaSendsWhatChanged follows an Envoy's delta subscriptions through
// changes, removals, unsubscribing and a reconnection.
func TestDeltaSendsWhatChanged(t *testing.T) {
	s, res, client, c := deltaClientWithClusters(t)
	gc := res.Gateways[0]
	routeNames := names(gc.Routes)
	c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: routeNames[:15]})
	got, _, versions := c.expect(resourcev3.RouteType)
	if !slices.Equal(got, routeNames[:15]) {
		t.Fatalf("routes sent for 15 subscribed: %v", got)
	}
	c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: routeNames[15:]})
	if got, _, _ := c.expect(resourcev3.RouteType); !slices.Equal(got, routeNames[15:]) {
		t.Fatalf("routes sent for 5 more subscribed: %v", got)
	}
	c.quiet()

	// One route configuration changes, one cluster changes, one is removed.
	changedRoute, changedCluster, removedCluster := routeNames[3], gc.Clusters[4].Name, gc.Clusters[6].Name
	next := edited(res, func(gc *xdsconfig.GatewayConfig) {
		for i, r := range gc.Routes {
			if r.Name == changedRoute {
				r = proto.Clone(r).(*routev3.RouteConfiguration)
				r.RequestHeadersToAdd = nil
				r.MaxDirectResponseBodySizeBytes = nil
				r.ValidateClusters = nil
				r.IgnorePortInHostMatching = !r.IgnorePortInHostMatching
				gc.Routes[i] = r
			}
		}
		changeCluster(gc, 4, 7*time.Second)
		removeCluster(gc, 6)
	})
	publish(t, s, next)
	// Make before break: the changed cluster, then the routes once it is
	// ACKed, then the removal once they are.
	sent, removed, _ := c.expect(resourcev3.ClusterType)
	if !slices.Equal(sent, []string{changedCluster}) || len(removed) > 0 {
		t.Fatalf("cluster change: sent %v removed %v, want [%s] and none removed yet", sent, removed, changedCluster)
	}
	if sent, removed, _ := c.expect(resourcev3.RouteType); !slices.Equal(sent, []string{changedRoute}) || len(removed) > 0 {
		t.Fatalf("route change: sent %v removed %v, want [%s]", sent, removed, changedRoute)
	}
	if sent, removed, _ := c.expect(resourcev3.ClusterType); len(sent) > 0 || !slices.Equal(removed, []string{removedCluster}) {
		t.Fatalf("after the routes: sent %v removed %v, want [%s] removed", sent, removed, removedCluster)
	}
	c.quiet()

	// Unsubscribed, then subscribed again: sent again in full.
	c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesUnsubscribe: routeNames[:2]})
	c.quiet()
	c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: routeNames[:1]})
	if got, _, _ := c.expect(resourcev3.RouteType); !slices.Equal(got, routeNames[:1]) {
		t.Fatalf("resubscribed: sent %v", got)
	}
	// Undoing the change sends the route configuration back.
	publish(t, s, res)
	c.expect(resourcev3.ClusterType)
	if sent, _, _ := c.expect(resourcev3.RouteType); !slices.Equal(sent, []string{changedRoute}) {
		t.Fatalf("after the change was undone: sent %v", sent)
	}

	// A reconnecting Envoy that says it has the current versions of some
	// routes and an old one of another is sent only that one.
	r := newDeltaClient(t, client)
	initial := map[string]string{}
	for _, n := range routeNames[5:10] {
		initial[n] = versions[n]
	}
	initial[changedRoute] = "stale"
	r.send(&discoveryv3.DeltaDiscoveryRequest{Node: envoyNode(benchGateway), TypeUrl: resourcev3.RouteType,
		ResourceNamesSubscribe: append(slices.Clone(routeNames[5:10]), changedRoute), InitialResourceVersions: initial})
	if got, _, _ := r.expect(resourcev3.RouteType); !slices.Equal(got, []string{changedRoute}) {
		t.Fatalf("reconnected: sent %v, want only [%s]", got, changedRoute)
	}
	r.quiet()

	// The Gateway is gone: its Envoys are told to remove everything, the
	// routes before the clusters they use.
	publish(t, s, nil)
	if sent, removed, _ := c.expect(resourcev3.RouteType); len(sent) > 0 || len(removed) != len(routeNames)-1 {
		t.Fatalf("Gateway removed: routes sent %v, removed %d, want the %d subscribed", sent, len(removed), len(routeNames)-1)
	}
	if sent, removed, _ := c.expect(resourcev3.ClusterType); len(sent) > 0 || !slices.Equal(removed, names(gc.Clusters)) {
		t.Fatalf("Gateway removed: clusters sent %v, removed %d of %d", sent, len(removed), len(gc.Clusters))
	}
}

// TestSotWFollowsSubscriptions sends a state-of-the-world Envoy exactly the
// names it asks for, again when it asks for others, and not when nothing
// changed.
func TestSotWFollowsSubscriptions(t *testing.T) {
	_, _, client, res := startWorkloadServer(t)
	c := newSotWClient(t, client)
	routeNames := names(res.Gateways[0].Routes)
	ask := func(req *discoveryv3.DiscoveryRequest, want []string) *discoveryv3.DiscoveryResponse {
		t.Helper()
		c.send(req)
		resp, ok := c.recv(5 * time.Second)
		if !ok {
			t.Fatalf("no response to a request for %d names", len(req.ResourceNames))
		}
		if got := names(resources[routev3.RouteConfiguration](t, resp)); !slices.Equal(got, want) {
			t.Fatalf("sent %v, want %v", got, want)
		}
		return resp
	}
	resp := ask(&discoveryv3.DiscoveryRequest{Node: envoyNode(benchGateway), TypeUrl: resourcev3.RouteType, ResourceNames: routeNames[:5]}, routeNames[:5])
	resp = ask(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce, ResourceNames: routeNames}, routeNames)
	// The ACK of that response, same names: nothing to send.
	c.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce, ResourceNames: routeNames})
	if extra, ok := c.recv(500 * time.Millisecond); ok {
		t.Fatalf("an ACK was answered with %d resources", len(extra.Resources))
	}
	// A request answering an older response is ignored.
	c.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResponseNonce: "stale", ResourceNames: routeNames[:1]})
	if extra, ok := c.recv(500 * time.Millisecond); ok {
		t.Fatalf("a stale request was answered with %d resources", len(extra.Resources))
	}
	ask(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce, ResourceNames: routeNames[2:4]}, routeNames[2:4])
}

// TestDeltaRemovalAlone: a change that only removes resources tells the
// Envoy their names and sends nothing else (every resource it already has
// is unchanged).
func TestDeltaRemovalAlone(t *testing.T) {
	s, res, _, c := deltaClientWithClusters(t)
	gc := res.Gateways[0]
	subscribeEndpoints(t, c, gc)
	gone := gc.Clusters[6].Name
	publish(t, s, edited(res, func(gc *xdsconfig.GatewayConfig) { removeCluster(gc, 6) }))
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.EndpointType} {
		if sent, removed, _ := c.expect(typ); len(sent) > 0 || !slices.Equal(removed, []string{gone}) {
			t.Fatalf("%s: sent %d resources and removed %v, want none sent and [%s] removed", typ, len(sent), removed, gone)
		}
	}
	c.quiet()
}
