package xds_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/gatewarden/gatewarden/xds"
)

// refusal is what a stream sends and how the server ends it: with the code
// want, counted as refused by limit ("" for none).
type refusal[Req any] struct {
	reqs  []Req
	want  codes.Code
	limit string
}

func TestHostileRequestsEndTheirStream(t *testing.T) {
	node := &corev3.Node{Id: "hostile", Cluster: gateway}
	many := func(n, size int) []string {
		names := make([]string, n)
		for i := range names {
			id := fmt.Sprint(i)
			names[i] = strings.Repeat("x", max(0, size-len(id))) + id
		}
		return names
	}
	for name, tc := range map[string]refusal[*discoveryv3.DiscoveryRequest]{
		"a type that is not served": {
			reqs: []*discoveryv3.DiscoveryRequest{{Node: node, TypeUrl: "type.googleapis.com/envoy.service.runtime.v3.Runtime"}},
			want: codes.InvalidArgument, limit: "unknown_type",
		},
		"too many names in one subscription": {
			reqs: []*discoveryv3.DiscoveryRequest{{Node: node, TypeUrl: resourcev3.RouteType, ResourceNames: many(150_001, 6)}},
			want: codes.ResourceExhausted, limit: "names",
		},
		"a request over the size limit": {
			reqs: []*discoveryv3.DiscoveryRequest{{Node: node, TypeUrl: resourcev3.RouteType, ResourceNames: many(10, 1<<20)}},
			want: codes.ResourceExhausted,
		},
		"subscriptions over the memory budget": {
			// 6 types of 100,000 names of 100 bytes: about 100 MiB held.
			reqs: func() []*discoveryv3.DiscoveryRequest {
				var r []*discoveryv3.DiscoveryRequest
				for _, typ := range []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ScopedRouteType, resourcev3.SecretType} {
					r = append(r, &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, ResourceNames: many(70_000, 100)})
				}
				return r
			}(),
			want: codes.ResourceExhausted, limit: "subscription_bytes",
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, m, client := startGuideServer(t)
			err := streamEnd(t, client.StreamAggregatedResources, 5*time.Second, tc.reqs...)
			if got := grpcstatus.Code(err); got != tc.want {
				t.Fatalf("stream ended with %v (%v), want %v", got, err, tc.want)
			}
			if tc.limit != "" {
				if got := testutil.ToFloat64(m.Refused.WithLabelValues(tc.limit)); got != 1 {
					t.Fatalf("refused{limit=%s} = %v, want 1", tc.limit, got)
				}
			}
			// What a refused stream was charged is given back: a
			// well-behaved stream still subscribes to names of its own.
			if err := streamEnd(t, client.StreamAggregatedResources, time.Second, &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType, ResourceNames: many(50_000, 100)}); err != nil {
				t.Fatalf("a stream within the limits after a refused one: %v", err)
			}
		})
	}
}

// A NACK's message is cut before it reaches a status, and a Gateway's
// status changes at most once per interval however many NACKs come.
func TestNackMessagesAreBoundedAndRateLimited(t *testing.T) {
	l := xds.DefaultLimits()
	l.NackStatusInterval = time.Hour
	var mu sync.Mutex
	var seen []string
	s, _, client := startServerWith(t, xds.ServerOptions{Limits: &l, OnNack: func(_ string, n xds.Nack) {
		mu.Lock()
		seen = append(seen, n.Message)
		mu.Unlock()
	}})
	publish(t, s, guideResult(t))
	node := &corev3.Node{Id: "nacker", Cluster: gateway}
	for i := 0; i < 3; i++ {
		c := newSotWClient(t, client)
		c.send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType})
		resp, ok := c.recv(5 * time.Second)
		if !ok {
			t.Fatal("no listener response")
		}
		c.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: resp.Nonce,
			ErrorDetail: &status.Status{Code: 3, Message: strings.Repeat("é", 100_000)}})
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && len(s.Nacks()[gateway].Message) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 {
		t.Fatalf("3 NACKs changed the status %d times, want 1 per interval", len(seen))
	}
	if n := len(seen[0]); n > 1024 || !strings.HasSuffix(seen[0], "[truncated]") {
		t.Fatalf("NACK message of %d bytes reached the status (want <= 1024, marked truncated)", n)
	}
	if strings.ToValidUTF8(seen[0], "?") != seen[0] {
		t.Fatal("the cut message is not valid UTF-8")
	}
}

func TestHostileDeltaRequestsEndTheirStream(t *testing.T) {
	_, m, client := startGuideServer(t)
	node := &corev3.Node{Id: "hostile", Cluster: gateway}
	names := make([]string, 100_001)
	for i := range names {
		names[i] = fmt.Sprint("n", i)
	}
	for name, tc := range map[string]refusal[*discoveryv3.DeltaDiscoveryRequest]{
		"a type that is not served": {
			reqs: []*discoveryv3.DeltaDiscoveryRequest{{Node: node, TypeUrl: "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"}},
			want: codes.InvalidArgument, limit: "unknown_type",
		},
		"names added request by request beyond the cap": {
			reqs: []*discoveryv3.DeltaDiscoveryRequest{
				{Node: node, TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: names[:100_000]},
				{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: append(names[100_000:], func() []string {
					more := make([]string, 50_000)
					for i := range more {
						more[i] = fmt.Sprint("m", i)
					}
					return more
				}()...)},
			},
			want: codes.ResourceExhausted, limit: "names",
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := streamEnd(t, client.DeltaAggregatedResources, 5*time.Second, tc.reqs...)
			if got := grpcstatus.Code(err); got != tc.want {
				t.Fatalf("stream ended with %v (%v), want %v", got, err, tc.want)
			}
			if got := testutil.ToFloat64(m.Refused.WithLabelValues(tc.limit)); got < 1 {
				t.Fatalf("refused{limit=%s} = %v, want >= 1", tc.limit, got)
			}
		})
	}
}

// A Gateway's streams are capped over all its connections: one more than
// the cap ends with ResourceExhausted and is counted, while another
// Gateway's stream is served; once one of the Gateway's streams closes, a
// new one is served again.
func TestStreamsPerGatewayAreCapped(t *testing.T) {
	l := xds.DefaultLimits()
	l.MaxStreamsPerGateway = 2
	s, m, client := startServerWith(t, xds.ServerOptions{Limits: &l})
	publish(t, s, guideResult(t))
	listeners := func(gw string) *discoveryv3.DiscoveryRequest {
		return &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "envoy", Cluster: gw}, TypeUrl: resourcev3.ListenerType}
	}
	var open []*sotwClient
	for range l.MaxStreamsPerGateway {
		c := newSotWClient(t, client)
		c.send(listeners(gateway))
		if _, ok := c.recv(5 * time.Second); !ok {
			t.Fatal("a stream within the cap got no listeners")
		}
		open = append(open, c)
	}
	err := streamEnd(t, client.StreamAggregatedResources, time.Second, listeners(gateway))
	if got := grpcstatus.Code(err); got != codes.ResourceExhausted {
		t.Fatalf("a stream over the cap ended with %v (%v), want ResourceExhausted", got, err)
	}
	if got := testutil.ToFloat64(m.Refused.WithLabelValues("streams_per_gateway")); got != 1 {
		t.Fatalf("refused{limit=streams_per_gateway} = %v, want 1", got)
	}
	if err := streamEnd(t, client.StreamAggregatedResources, time.Second, listeners("other/gateway")); err != nil {
		t.Fatalf("another Gateway's stream: %v", err)
	}
	open[0].close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := streamEnd(t, client.StreamAggregatedResources, time.Second, listeners(gateway))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after one of the Gateway's streams closed, a new one still ends with %v", err)
		}
	}
}

// A connection without a stream for MaxConnectionIdle is closed by the
// server (GOAWAY): the client's connection goes idle.
func TestIdleConnectionsAreClosed(t *testing.T) {
	l := xds.DefaultLimits()
	l.MaxConnectionIdle = 200 * time.Millisecond
	s, _, addr := serve(t, xds.ServerOptions{Limits: &l})
	publish(t, s, guideResult(t))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	if err := streamEnd(t, client.StreamAggregatedResources, 50*time.Millisecond,
		&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "envoy", Cluster: gateway}, TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	if state := conn.GetState(); state != connectivity.Ready {
		t.Fatalf("after a stream, the connection is %v, want READY", state)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for state := conn.GetState(); state == connectivity.Ready; state = conn.GetState() {
		if !conn.WaitForStateChange(ctx, state) {
			t.Fatal("the connection without a stream is still open after 5 s")
		}
	}
}
