package loadtest

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// FanoutResult is what RunClients measured.
type FanoutResult struct {
	// ToLastAck is, per change, the time from the change on disk until the
	// last client ACKed the new route configuration.
	ToLastAck []time.Duration
	// Baseline are the server's figures before the clients connected,
	// With while they were connected, After once they had left.
	BaselineRSS, RSS, AfterRSS                      float64
	BaselineGoroutines, Goroutines, AfterGoroutines float64
}

// RunClients connects n simulated Envoys (half delta, half state of the
// world, each subscribing to listeners, clusters and the route
// configuration and ACKing every response), waits until each has the route
// configuration, then makes changes changes (route 7's RouteOption
// rewritten), timing each until every client ACKed it. Every client must
// receive every change.
func RunClients(s *Stack, n, changes int) (*FanoutResult, error) {
	return RunClientsWith(s, n, changes, 300*time.Millisecond, nil)
}

// RunClientsWith is RunClients with the pause before each change, and a
// function called after every change is ACKed by all (for sampling).
func RunClientsWith(s *Stack, n, changes int, pause time.Duration, afterChange func(change int)) (*FanoutResult, error) {
	res := &FanoutResult{BaselineRSS: RSS(s.Gatewarden.Process.Pid), BaselineGoroutines: s.Metric("go_goroutines")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	routeName := fmt.Sprintf("http-%d", s.GWPort)
	type event struct {
		client int
		at     time.Time
	}
	events := make(chan event, n*16)
	var conns []*grpc.ClientConn
	var wg sync.WaitGroup
	closeAll := func() {
		cancel()
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}
	for i := 0; i < n; i++ {
		// Envoy takes responses of any size; the gRPC default of 4 MiB would
		// refuse the route configuration of 10,000 routes.
		conn, err := grpc.NewClient(s.XDSAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
		if err != nil {
			closeAll()
			return nil, err
		}
		conns = append(conns, conn)
		node := &corev3.Node{Id: fmt.Sprintf("sim-%d", i), Cluster: "bench/bench"}
		c := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
		report := func(string) { events <- event{i, time.Now()} }
		wg.Add(1)
		go func(delta bool) {
			defer wg.Done()
			if delta {
				deltaClient(ctx, c, node, routeName, report)
			} else {
				sotwClient(ctx, c, node, routeName, report)
			}
		}(i%2 == 1)
	}
	have := map[int]bool{}
	deadline := time.After(120 * time.Second)
	for len(have) < n {
		select {
		case e := <-events:
			have[e.client] = true
		case <-deadline:
			closeAll()
			return nil, fmt.Errorf("%d of %d clients got the route configuration in 120 s", len(have), n)
		}
	}
	for c := 0; c < changes; c++ {
		time.Sleep(pause)
		for len(events) > 0 {
			<-events
		}
		team := "nobody"
		if c%2 == 1 {
			team = "team-7"
		}
		start := time.Now()
		if err := s.SetTeam(7, team); err != nil {
			closeAll()
			return nil, err
		}
		acked := map[int]time.Time{}
		deadline := time.After(60 * time.Second)
		for len(acked) < n {
			select {
			case e := <-events:
				if _, ok := acked[e.client]; !ok && e.at.After(start) {
					acked[e.client] = e.at
				}
			case <-deadline:
				closeAll()
				return nil, fmt.Errorf("change %d: %d of %d clients ACKed it in 60 s", c, len(acked), n)
			}
		}
		var last time.Time
		for _, t := range acked {
			if t.After(last) {
				last = t
			}
		}
		res.ToLastAck = append(res.ToLastAck, last.Sub(start))
		if afterChange != nil {
			afterChange(c)
		}
	}
	res.RSS, res.Goroutines = RSS(s.Gatewarden.Process.Pid), s.Metric("go_goroutines")
	closeAll()
	time.Sleep(3 * time.Second)
	res.AfterRSS, res.AfterGoroutines = RSS(s.Gatewarden.Process.Pid), s.Metric("go_goroutines")
	return res, nil
}

// sotwClient subscribes to LDS, CDS and one RDS resource and ACKs; it calls
// onRoute after ACKing each route configuration.
func sotwClient(ctx context.Context, c discoveryv3.AggregatedDiscoveryServiceClient, node *corev3.Node, route string, onRoute func(string)) {
	st, err := c.StreamAggregatedResources(ctx)
	if err != nil {
		return
	}
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		if st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ}) != nil {
			return
		}
	}
	if st.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType, ResourceNames: []string{route}}) != nil {
		return
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return
		}
		ack := &discoveryv3.DiscoveryRequest{TypeUrl: resp.TypeUrl, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce}
		if resp.TypeUrl == resourcev3.RouteType {
			ack.ResourceNames = []string{route}
		}
		if st.Send(ack) != nil {
			return
		}
		if resp.TypeUrl == resourcev3.RouteType {
			onRoute(resp.VersionInfo)
		}
	}
}

// deltaClient is sotwClient over the delta protocol.
func deltaClient(ctx context.Context, c discoveryv3.AggregatedDiscoveryServiceClient, node *corev3.Node, route string, onRoute func(string)) {
	st, err := c.DeltaAggregatedResources(ctx)
	if err != nil {
		return
	}
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType} {
		if st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: typ}) != nil {
			return
		}
	}
	if st.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: []string{route}}) != nil {
		return
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return
		}
		if st.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.TypeUrl, ResponseNonce: resp.Nonce}) != nil {
			return
		}
		if resp.TypeUrl == resourcev3.RouteType && len(resp.Resources) > 0 {
			onRoute(resp.Resources[0].Version)
		}
	}
}
