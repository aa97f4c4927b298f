package xds_test

import (
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
	"google.golang.org/grpc/codes"
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
