package xds_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// TestPushesAreBoundedUntilACKed connects more Envoys than there are push
// slots, none of them ACKing: only as many as the slots get a response,
// and the others get theirs as the first ones ACK.
func TestPushesAreBoundedUntilACKed(t *testing.T) {
	s, _, client := startServer(t)
	if err := s.Publish(context.Background(), guideResult(t)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const clients, slots = 48, 32
	type got struct {
		i    int
		resp *discoveryv3.DiscoveryResponse
	}
	received := make(chan got, clients)
	streams := make([]discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, clients)
	for i := range streams {
		st, err := client.StreamAggregatedResources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		streams[i] = st
		if err := st.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: fmt.Sprint(i), Cluster: gateway}, TypeUrl: resourcev3.ListenerType}); err != nil {
			t.Fatal(err)
		}
		go func(i int) {
			for {
				r, err := st.Recv()
				if err != nil {
					return
				}
				received <- got{i, r}
			}
		}(i)
	}
	var first []got
	timeout := time.After(2 * time.Second)
collect:
	for {
		select {
		case g := <-received:
			first = append(first, g)
		case <-timeout:
			break collect
		}
	}
	if len(first) != slots {
		t.Fatalf("%d of %d streams got a response before any ACK, want %d (the push slots)", len(first), clients, slots)
	}
	for _, g := range first {
		if err := streams[g.i].Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, VersionInfo: g.resp.VersionInfo, ResponseNonce: g.resp.Nonce}); err != nil {
			t.Fatal(err)
		}
	}
	rest := 0
	timeout = time.After(5 * time.Second)
	for rest < clients-slots {
		select {
		case <-received:
			rest++
		case <-timeout:
			t.Fatalf("after the ACKs only %d of the other %d streams got a response", rest, clients-slots)
		}
	}
	t.Logf("%d streams: %d served before any ACK, the other %d after", clients, slots, rest)
}
