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
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/gatewarden/gatewarden/xds"
)

// sotwErr sends reqs on a new stream and returns the error that ends it
// (nil if it is still open after a response or a short wait).
func sotwErr(t *testing.T, client discoveryv3.AggregatedDiscoveryServiceClient, wait time.Duration, reqs ...*discoveryv3.DiscoveryRequest) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := client.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if err := st.Send(r); err != nil {
			break // the server ended the stream: Recv says why
		}
	}
	return streamErr(st.Recv, wait)
}

// streamErr returns the error that ends a stream, or nil if it is still open
// after wait.
func streamErr[T any](recv func() (T, error), wait time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := recv(); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(wait):
		return nil
	}
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
	for name, tc := range map[string]struct {
		reqs  []*discoveryv3.DiscoveryRequest
		want  codes.Code
		limit string
	}{
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
			err := sotwErr(t, client, 5*time.Second, tc.reqs...)
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
			if err := sotwErr(t, client, time.Second, &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType, ResourceNames: many(50_000, 100)}); err != nil {
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
	if err := s.Publish(context.Background(), guideResult(t).Gateways); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	node := &corev3.Node{Id: "nacker", Cluster: gateway}
	for i := 0; i < 3; i++ {
		st, err := client.StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType}); err != nil {
			t.Fatal(err)
		}
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: resp.Nonce,
			ErrorDetail: &status.Status{Code: 3, Message: strings.Repeat("é", 100_000)}}); err != nil {
			t.Fatal(err)
		}
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
	for name, tc := range map[string]struct {
		reqs  []*discoveryv3.DeltaDiscoveryRequest
		want  codes.Code
		limit string
	}{
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
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := client.DeltaAggregatedResources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tc.reqs {
				if err := st.Send(r); err != nil {
					break
				}
			}
			err = streamErr(st.Recv, 5*time.Second)
			if got := grpcstatus.Code(err); got != tc.want {
				t.Fatalf("stream ended with %v (%v), want %v", got, err, tc.want)
			}
			if got := testutil.ToFloat64(m.Refused.WithLabelValues(tc.limit)); got < 1 {
				t.Fatalf("refused{limit=%s} = %v, want >= 1", tc.limit, got)
			}
		})
	}
}
