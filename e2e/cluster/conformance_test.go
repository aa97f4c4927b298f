//go:build cluster

// Package cluster runs the upstream Gateway API conformance suite
// (sigs.k8s.io/gateway-api/conformance, unmodified, GATEWAY-HTTP profile)
// against gatewarden installed from deploy/ on the local single-node cluster
// of hack/cluster: real Pods with their own IPs, EndpointSlices written by
// the endpoint controller, the Envoys gatewarden provisions for each Gateway
// reached through kube-proxy. hack/cluster/conformance.sh (make
// conformance-cluster) brings the cluster up, installs gatewarden, runs this
// test and removes the cluster; the build tag keeps it out of go test ./...
package cluster

import (
	"context"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/conformance"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"

	"github.com/gatewarden/gatewarden/internal/testenv/suiteopts"
)

const className = "gatewarden"

// TestConformanceCluster runs the suite against the cluster KUBECONFIG
// names, where gatewarden already runs and the GatewayClass exists.
// CONFORMANCE_REPORT names the report's file; CONFORMANCE_RUN_TEST runs one
// test by its short name; CONFORMANCE_SKIP skips tests (comma-separated).
func TestConformanceCluster(t *testing.T) {
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		t.Fatal("KUBECONFIG is not set: run this test through hack/cluster/conformance.sh (make conformance-cluster), which brings up the cluster and installs gatewarden")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("KUBECONFIG %s: %v", kubeconfig, err)
	}
	// The cluster's Gateways have ClusterIP Services (no load balancer to
	// ask for an address): GatewayStaticAddresses is skipped.
	opts := suiteopts.Options(t, cfg, className, suiteopts.Addresses{}, suite.GatewayHTTPConformanceProfileName)
	c := opts.Client
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The suite reads the supported features from the GatewayClass status.
	gc := &gwv1.GatewayClass{}
	for {
		err := c.Get(ctx, client.ObjectKey{Name: className}, gc)
		if err == nil && len(gc.Status.SupportedFeatures) > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("GatewayClass %s has no supported features in its status after 2 minutes (last error: %v): is gatewarden running?", className, err)
		}
		time.Sleep(500 * time.Millisecond)
	}

	conformance.RunConformanceWithOptions(t, opts)
}
