package loadtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/apimachinery/pkg/util/wait"
)

// FloodResult is what RunFlood measured.
type FloodResult struct {
	// Fanout is the well-behaved clients' run, made during the flood.
	Fanout *FanoutResult
	// BaselineRSS is gatewarden's RSS before the flood; PeakRSS the most
	// it ever had (VmHWM) once the flood ended.
	BaselineRSS, PeakRSS float64
	// MaxHeapInuse is the most heap in use sampled (every 250 ms) during
	// the flood: live memory plus garbage not yet collected.
	MaxHeapInuse float64
	// Requests counts what the hostile clients sent, by kind; Refused, the
	// streams gatewarden ended for a limit, by limit (its metric).
	Requests map[string]int64
	Refused  map[string]float64
	Streams  int
}

// floodTypes are the types a hostile client subscribes names to.
var floodTypes = []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType,
	resourcev3.RouteType, resourcev3.ScopedRouteType, resourcev3.SecretType}

// RunFlood opens conns hostile connections of 16 streams each (the most a
// connection may carry) for d: per connection, 2 streams send requests of
// just under the size limit naming new resources on every type (as much
// subscription memory as they can make gatewarden hold), 1 sends requests
// over the size limit, 1 asks for a type that is not served, and 12
// subscribe to everything and never read. They open again whatever is
// refused. Meanwhile 20 well-behaved clients receive and ACK changes:
// their pushes must go on.
func RunFlood(s *Stack, conns int, d time.Duration) (*FloodResult, error) {
	res := &FloodResult{BaselineRSS: RSS(s.Gatewarden.Pid()), Requests: map[string]int64{}, Refused: map[string]float64{}}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	count := func(kind string) {
		mu.Lock()
		res.Requests[kind]++
		mu.Unlock()
	}
	node := &corev3.Node{Id: "hostile", Cluster: "bench/bench"}
	var wg sync.WaitGroup
	var opened atomic.Int64
	var clientConns []*grpc.ClientConn
	for i := 0; i < conns; i++ {
		conn, err := grpc.NewClient(s.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
		if err != nil {
			return nil, err
		}
		clientConns = append(clientConns, conn)
		c := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
		// repeat runs a hostile stream until the flood ends, opening it
		// again when gatewarden ends it.
		repeat := func(kind string, f func(context.Context, discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) error) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					st, err := c.StreamAggregatedResources(ctx)
					if err != nil {
						time.Sleep(50 * time.Millisecond)
						continue
					}
					opened.Add(1)
					count("streams opened: " + kind)
					if err := f(ctx, st); err != nil {
						time.Sleep(10 * time.Millisecond)
					}
				}
			}()
		}
		for j := 0; j < 2; j++ {
			seed := fmt.Sprintf("c%ds%d", i, j)
			repeat("near-limit requests", func(ctx context.Context, st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) error {
				for k := 0; ctx.Err() == nil; k++ {
					// 90,000 names of 80 bytes: about 7.4 MB.
					names := make([]string, 90_000)
					prefix := fmt.Sprintf("%s-%d-", seed, k)
					pad := strings.Repeat("x", 80-len(prefix)-6)
					for n := range names {
						names[n] = fmt.Sprintf("%s%s%06d", prefix, pad, n)
					}
					if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: floodTypes[k%len(floodTypes)], ResourceNames: names}); err != nil {
						return err
					}
					count("requests sent: near-limit")
				}
				return nil
			})
		}
		repeat("oversized request", func(ctx context.Context, st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) error {
			names := []string{strings.Repeat("y", 9<<20)}
			if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType, ResourceNames: names}); err != nil {
				return err
			}
			_, err := st.Recv()
			return err
		})
		repeat("unknown type", func(ctx context.Context, st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) error {
			if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: "type.googleapis.com/envoy.service.runtime.v3.Runtime"}); err != nil {
				return err
			}
			_, err := st.Recv()
			return err
		})
		for j := 0; j < 12; j++ {
			repeat("never read", func(ctx context.Context, st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) error {
				for _, typ := range floodTypes {
					if err := st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, ResourceNames: []string{"*"}}); err != nil {
						return err
					}
				}
				<-ctx.Done()
				return nil
			})
		}
	}
	var heapMax atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		wait.UntilWithContext(ctx, func(context.Context) {
			if h := int64(s.Metric("go_memstats_heap_inuse_bytes")); h > heapMax.Load() {
				heapMax.Store(h)
			}
		}, 250*time.Millisecond)
	}()
	// The flood builds up before the well-behaved clients come.
	time.Sleep(2 * time.Second)
	fan, err := RunClients(s, 20, 5)
	res.Fanout = fan
	<-ctx.Done()
	wg.Wait()
	for _, c := range clientConns {
		c.Close()
	}
	res.PeakRSS = PeakRSS(s.Gatewarden.Pid())
	res.MaxHeapInuse = float64(heapMax.Load())
	res.Streams = int(opened.Load())
	for _, l := range []string{"names", "subscription_bytes", "unknown_type"} {
		res.Refused[l] = s.Metric(`gatewarden_xds_refused_total{limit="` + l + `"}`)
	}
	if err != nil {
		return res, fmt.Errorf("well-behaved clients during the flood: %w", err)
	}
	return res, nil
}
