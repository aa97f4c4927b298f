package xds_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/translator"
	"github.com/gatewarden/gatewarden/xds"
)

const gateway = "gloo-system/http"

// guideResult translates examples/gateway-jwt, optionally without some files.
func guideResult(t *testing.T, without ...string) *translator.Result {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(), "examples", "gateway-jwt")
	tmp := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
outer:
	for _, e := range entries {
		for _, w := range without {
			if e.Name() == w {
				continue outer
			}
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scan := dir.Load(tmp)
	if len(scan.Problems) > 0 {
		t.Fatal(scan.Problems)
	}
	return translator.Translate(scan.Resources, translator.Options{AllowLoopbackBackends: true})
}

func startServer(t *testing.T) (*xds.Server, *xds.Metrics, discoveryv3.AggregatedDiscoveryServiceClient) {
	t.Helper()
	return startServerWith(t, xds.ServerOptions{})
}

// startGuideServer is startServer serving the guide's Gateway.
func startGuideServer(t *testing.T) (*xds.Server, *xds.Metrics, discoveryv3.AggregatedDiscoveryServiceClient) {
	t.Helper()
	s, m, client := startServer(t)
	if err := s.Publish(context.Background(), guideResult(t).Gateways); err != nil {
		t.Fatal(err)
	}
	return s, m, client
}

// startServerWith serves o (its log and metrics filled in) on a loopback
// port until the test ends, and returns a client of it.
func startServerWith(t *testing.T, o xds.ServerOptions) (*xds.Server, *xds.Metrics, discoveryv3.AggregatedDiscoveryServiceClient) {
	t.Helper()
	s, m, addr := serve(t, o)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return s, m, discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
}

// serve serves o (its log and metrics filled in) with the gRPC server
// options given on a loopback port until the test ends, and returns its
// address.
func serve(t *testing.T, o xds.ServerOptions, grpcOpts ...grpc.ServerOption) (*xds.Server, *xds.Metrics, string) {
	t.Helper()
	m := xds.NewMetrics(prometheus.NewRegistry())
	o.Log, o.Metrics = slog.New(slog.NewTextHandler(io.Discard, nil)), m
	s := xds.NewServer(o)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis, grpcOpts...) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, m, lis.Addr().String()
}

// receiver pumps a stream's messages into a channel, so that waiting for a
// message that should not come does not swallow the next one.
func receiver[T any](t *testing.T, recv func() (T, error)) func(time.Duration) (T, bool) {
	ch := make(chan T, 16)
	go func() {
		for {
			v, err := recv()
			if err != nil {
				close(ch)
				return
			}
			ch <- v
		}
	}()
	return func(d time.Duration) (T, bool) {
		t.Helper()
		select {
		case v, ok := <-ch:
			if !ok {
				t.Fatal("the stream ended")
			}
			return v, true
		case <-time.After(d):
			var zero T
			return zero, false
		}
	}
}

func TestSotWNackIsNotResent(t *testing.T) {
	s, m, client := startGuideServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "envoy-1", Cluster: gateway}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	recv := receiver(t, stream.Recv)
	resp, ok := recv(5 * time.Second)
	if !ok || len(resp.Resources) != 1 {
		t.Fatalf("no listener response (%v)", resp)
	}
	first := resp.VersionInfo
	// Envoy rejects it: it repeats its previous version (none) with an error.
	if err := stream.Send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: resp.Nonce,
		ErrorDetail: &status.Status{Code: 3, Message: "listener rejected for the test"}}); err != nil {
		t.Fatal(err)
	}
	if again, ok := recv(700 * time.Millisecond); ok {
		t.Fatalf("the rejected version %s was sent again (version %s): a NACK loop", first, again.VersionInfo)
	}
	if got := testutil.ToFloat64(m.Nacks.WithLabelValues(gateway, "Listener")); got != 1 {
		t.Fatalf("NACK counter = %v, want 1", got)
	}
	if n := s.Nacks()[gateway]; n.Version != first || n.Message != "listener rejected for the test" {
		t.Fatalf("recorded NACK = %+v", n)
	}
	// The next change is sent.
	if err := s.Publish(context.Background(), guideResult(t, "routeoption.yaml").Gateways); err != nil {
		t.Fatal(err)
	}
	next, ok := recv(5 * time.Second)
	if !ok || next.VersionInfo == first {
		t.Fatalf("the next snapshot was not sent (got %v)", next)
	}
	if _, stillNacked := s.Nacks()[gateway]; stillNacked {
		t.Fatal("a new version still shows the old NACK")
	}
}

func TestDeltaNackIsNotResent(t *testing.T) {
	_, m, client := startGuideServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "envoy-1", Cluster: gateway}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	recv := receiver(t, stream.Recv)
	resp, ok := recv(5 * time.Second)
	if !ok || len(resp.Resources) != 1 {
		t.Fatalf("no listener response (%v)", resp)
	}
	if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: resp.Nonce,
		ErrorDetail: &status.Status{Code: 3, Message: "rejected"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := recv(700 * time.Millisecond); ok {
		t.Fatal("the rejected resources were sent again")
	}
	if got := testutil.ToFloat64(m.Nacks.WithLabelValues(gateway, "Listener")); got != 1 {
		t.Fatalf("NACK counter = %v, want 1", got)
	}
}

func TestPublishSkipsUnchangedAndClearsRemovedGateways(t *testing.T) {
	s, m, _ := startServer(t)
	res := guideResult(t)
	for i := 0; i < 3; i++ {
		if err := s.Publish(context.Background(), res.Gateways); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(m.Snapshots.WithLabelValues(gateway)); got != 1 {
		t.Fatalf("3 publications of the same content made %v snapshots, want 1", got)
	}
	v := s.Versions()[gateway]
	if err := s.Publish(context.Background(), guideResult(t).Gateways); err != nil || s.Versions()[gateway] != v {
		t.Fatalf("an identical translation got another version: %v %v", s.Versions(), err)
	}
	if err := s.Publish(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Versions()[gateway]; ok {
		t.Fatal("a Gateway that is gone is still published")
	}
	if got := testutil.ToFloat64(m.Snapshots.WithLabelValues(gateway)); got != 2 {
		t.Fatalf("removing the Gateway made %v snapshots in all, want 2 (an empty one)", got)
	}
}
