package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// fanout connects many simulated Envoys (half delta, half state of the
// world; each subscribing to listeners, clusters and the route
// configuration, and ACKing every response) and times a change until the
// last of them has ACKed it.
func fanout(r *report, o options, bin string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Simulated ADS clients on loopback, one gRPC connection each, half delta and half SotW; each subscribes to\n")
	b.WriteString("listeners, clusters and the route configuration and ACKs every response. One RouteOption change; time\n")
	b.WriteString("until the last client ACKed the new route configuration. RSS and goroutines of the gatewarden process.\n\n")
	b.WriteString("| routes | clients | change to last ACK | RSS with clients | goroutines with clients | goroutines after they left | target |\n|---:|---:|---:|---:|---:|---:|---|\n")
	runs := []struct{ routes, clients int }{{1000, o.clients}, {10000, 100}}
	for _, run := range runs {
		if run.routes == 10000 && !containsInt(o.sizes, 10000) {
			continue
		}
		s, err := startStack(bin, run.routes, false)
		if err != nil {
			return err
		}
		res, err := runClients(s, run.clients)
		s.stop()
		if err != nil {
			return err
		}
		target := ""
		if run.routes == 1000 {
			target = fmt.Sprintf("all ACK within 2 s: %s", verdict(res.lastAck < 2*time.Second))
		} else {
			target = fmt.Sprintf("RSS under 128 MiB: %s", verdict(res.rss < 128<<20))
		}
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %.0f | %.0f | %s |\n", run.routes, run.clients, dur(float64(res.lastAck)), mib(res.rss), res.goroutines, res.goroutinesAfter, target)
	}
	r.section("Fan-out to many Envoys", b.String())
	return nil
}

type fanoutResult struct {
	lastAck                     time.Duration
	rss                         float64
	goroutines, goroutinesAfter float64
}

func runClients(s *stack, n int) (*fanoutResult, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	routeName := fmt.Sprintf("http-%d", s.gwPort)
	type event struct {
		client  int
		version string
		at      time.Time
	}
	events := make(chan event, n*8)
	var conns []*grpc.ClientConn
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		conn, err := grpc.NewClient(s.xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		conns = append(conns, conn)
		node := &corev3.Node{Id: fmt.Sprintf("sim-%d", i), Cluster: "bench/bench"}
		c := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
		wg.Add(1)
		if i%2 == 0 {
			go func(i int) {
				defer wg.Done()
				sotwClient(ctx, c, node, routeName, func(v string) { events <- event{i, v, time.Now()} })
			}(i)
		} else {
			go func(i int) {
				defer wg.Done()
				deltaClient(ctx, c, node, routeName, func(v string) { events <- event{i, v, time.Now()} })
			}(i)
		}
	}
	closeAll := func() {
		cancel()
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}
	// Every client has the route configuration once.
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
	time.Sleep(500 * time.Millisecond)
	for len(events) > 0 {
		<-events
	}
	start := time.Now()
	if err := s.setTeam(7, "nobody"); err != nil {
		closeAll()
		return nil, err
	}
	acked := map[int]time.Time{}
	deadline = time.After(60 * time.Second)
	for len(acked) < n {
		select {
		case e := <-events:
			if e.at.After(start) {
				if _, ok := acked[e.client]; !ok {
					acked[e.client] = e.at
				}
			}
		case <-deadline:
			closeAll()
			return nil, fmt.Errorf("%d of %d clients ACKed the change in 60 s", len(acked), n)
		}
	}
	var last time.Time
	for _, t := range acked {
		if t.After(last) {
			last = t
		}
	}
	res := &fanoutResult{lastAck: last.Sub(start), rss: rss(s.gatewarden.Process.Pid), goroutines: s.metric("go_goroutines")}
	closeAll()
	time.Sleep(2 * time.Second)
	res.goroutinesAfter = s.metric("go_goroutines")
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
