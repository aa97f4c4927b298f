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
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1alpha2 "sigs.k8s.io/gateway-api/apis/v1alpha2"
	gwv1alpha3 "sigs.k8s.io/gateway-api/apis/v1alpha3"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"
	"sigs.k8s.io/gateway-api/conformance"
	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
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
	// As the suite's own DefaultOptions: its helpers build clients with the
	// default scheme, so the Gateway API types go there.
	for _, add := range []func(*k8sruntime.Scheme) error{gwv1.Install, gwv1beta1.Install, gwv1alpha2.Install, gwv1alpha3.Install, xv1alpha1.Install, apiextensionsv1.AddToScheme} {
		if err := add(clientgoscheme.Scheme); err != nil {
			t.Fatal(err)
		}
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
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

	var skip []string
	if s := os.Getenv("CONFORMANCE_SKIP"); s != "" {
		skip = strings.Split(s, ",")
	}
	opts := suite.ConformanceOptions{
		ConfigurableOptions: suite.ConfigurableOptions{
			GatewayClassName:     className,
			CleanupBaseResources: true,
			CleanupTestResources: true,
			ConformanceProfiles:  []suite.ConformanceProfileName{suite.GatewayHTTPConformanceProfileName},
			ReportOutputPath:     os.Getenv("CONFORMANCE_REPORT"),
			RunTest:              os.Getenv("CONFORMANCE_RUN_TEST"),
			SkipTests:            skip,
			Implementation: confv1.Implementation{
				Organization: "gatewarden",
				Project:      "gatewarden",
				URL:          "https://github.com/gatewarden/gatewarden",
				Version:      version(),
				Contact:      []string{"https://github.com/gatewarden/gatewarden/issues"},
			},
		},
		Client:     c,
		Clientset:  cs,
		RestConfig: cfg,
	}
	conformance.RunConformanceWithOptions(t, opts)
}

func version() string {
	_, file, _, _ := runtime.Caller(0)
	b, err := exec.Command("git", "-C", filepath.Dir(file), "describe", "--always", "--dirty").Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(b))
}
