package xds_test

import (
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
	"github.com/gatewarden/gatewarden/xds"
)

// TestConnectedEnvoysAndPushLatency: an Envoy counts as connected to its
// Gateway while its stream is open; its first configuration is no push
// latency, a change published while it is connected is one.
func TestConnectedEnvoysAndPushLatency(t *testing.T) {
	s, m, client, res := startWorkloadServer(t)
	c := newDeltaClient(t, client)
	c.send(&discoveryv3.DeltaDiscoveryRequest{Node: envoyNode(benchGateway), TypeUrl: resourcev3.ClusterType})
	c.expect(resourcev3.ClusterType)
	if n := testutil.ToFloat64(m.Connected.WithLabelValues(benchGateway)); n != 1 {
		t.Fatalf("connected Envoys of %s = %v, want 1", benchGateway, n)
	}
	if n := testutil.CollectAndCount(m.PushLatency); n != 1 {
		t.Fatalf("push latency series = %d, want 1", n)
	}
	if h := histogramCount(t, m); h != 0 {
		t.Fatalf("push latency observations after the first configuration = %d, want 0", h)
	}
	publish(t, s, edited(res, func(gc *xdsconfig.GatewayConfig) { changeCluster(gc, 0, 9*time.Second) }))
	c.expect(resourcev3.ClusterType)
	if h := histogramCount(t, m); h != 1 {
		t.Fatalf("push latency observations after a change = %d, want 1", h)
	}
	c.close()
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(m.Connected.WithLabelValues(benchGateway)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the closed stream still counts as a connected Envoy")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func histogramCount(t *testing.T, m *xds.Metrics) uint64 {
	t.Helper()
	pb := &dto.Metric{}
	if err := m.PushLatency.Write(pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetHistogram().GetSampleCount()
}
