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

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
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
	publish(t, s, guideResult(t))
	return s, m, client
}

// publish publishes the Gateways of res (none if res is nil) on s.
func publish(t *testing.T, s *xds.Server, res *translator.Result) {
	t.Helper()
	var gcs []*xdsconfig.GatewayConfig
	if res != nil {
		gcs = res.Gateways
	}
	if err := s.Publish(context.Background(), gcs); err != nil {
		t.Fatal(err)
	}
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

// rejectListener asks for the guide's listener on c and rejects the
// response with the request reject makes of its nonce; it checks that the
// listener is not sent again (no NACK loop) and that the NACK is counted,
// and returns the rejected response.
func rejectListener[Req, R any, Resp interface {
	GetNonce() string
	GetResources() []R
}](t *testing.T, m *xds.Metrics, c *adsClient[Req, Resp], ask Req, reject func(nonce string) Req) Resp {
	t.Helper()
	c.send(ask)
	resp, ok := c.recv(5 * time.Second)
	if !ok || len(resp.GetResources()) != 1 {
		t.Fatalf("no listener response (%v)", resp)
	}
	c.send(reject(resp.GetNonce()))
	if again, ok := c.recv(700 * time.Millisecond); ok {
		t.Fatalf("the rejected listener was sent again (%v): a NACK loop", again)
	}
	if got := testutil.ToFloat64(m.Nacks.WithLabelValues(gateway, "Listener")); got != 1 {
		t.Fatalf("NACK counter = %v, want 1", got)
	}
	return resp
}

func TestSotWNackIsNotResent(t *testing.T) {
	s, m, client := startGuideServer(t)
	c := newSotWClient(t, client)
	// Envoy rejects it: it repeats its previous version (none) with an error.
	first := rejectListener(t, m, c, &discoveryv3.DiscoveryRequest{Node: envoyNode(gateway), TypeUrl: resourcev3.ListenerType}, func(nonce string) *discoveryv3.DiscoveryRequest {
		return &discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: nonce, ErrorDetail: &status.Status{Code: 3, Message: "listener rejected for the test"}}
	}).VersionInfo
	if n := s.Nacks()[gateway]; n.Version != first || n.Message != "listener rejected for the test" {
		t.Fatalf("recorded NACK = %+v", n)
	}
	// The next change is sent.
	publish(t, s, guideResult(t, "routeoption.yaml"))
	next, ok := c.recv(5 * time.Second)
	if !ok || next.VersionInfo == first {
		t.Fatalf("the next snapshot was not sent (got %v)", next)
	}
	if _, stillNacked := s.Nacks()[gateway]; stillNacked {
		t.Fatal("a new version still shows the old NACK")
	}
}

func TestDeltaNackIsNotResent(t *testing.T) {
	_, m, client := startGuideServer(t)
	rejectListener(t, m, newDeltaClient(t, client).adsClient, &discoveryv3.DeltaDiscoveryRequest{Node: envoyNode(gateway), TypeUrl: resourcev3.ListenerType}, func(nonce string) *discoveryv3.DeltaDiscoveryRequest {
		return &discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: nonce, ErrorDetail: &status.Status{Code: 3, Message: "rejected"}}
	})
}

func TestPublishSkipsUnchangedAndClearsRemovedGateways(t *testing.T) {
	s, m, _ := startServer(t)
	res := guideResult(t)
	for i := 0; i < 3; i++ {
		publish(t, s, res)
	}
	if got := testutil.ToFloat64(m.Snapshots.WithLabelValues(gateway)); got != 1 {
		t.Fatalf("3 publications of the same content made %v snapshots, want 1", got)
	}
	v := s.Versions()[gateway]
	if err := s.Publish(context.Background(), guideResult(t).Gateways); err != nil || s.Versions()[gateway] != v {
		t.Fatalf("an identical translation got another version: %v %v", s.Versions(), err)
	}
	publish(t, s, nil)
	if _, ok := s.Versions()[gateway]; ok {
		t.Fatal("a Gateway that is gone is still published")
	}
	if got := testutil.ToFloat64(m.Snapshots.WithLabelValues(gateway)); got != 2 {
		t.Fatalf("removing the Gateway made %v snapshots in all, want 2 (an empty one)", got)
	}
}
