// Package suiteopts builds the options of the upstream Gateway API
// conformance suite the same way for both places gatewarden runs it: on
// this machine with a stand-in kubelet (e2e/conformance) and on a real
// cluster (e2e/cluster). It is a package of its own so that the suite is
// linked only into those two tests.
package suiteopts

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1alpha2 "sigs.k8s.io/gateway-api/apis/v1alpha2"
	gwv1alpha3 "sigs.k8s.io/gateway-api/apis/v1alpha3"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
	xv1alpha1 "sigs.k8s.io/gateway-api/apisx/v1alpha1"
	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/tests"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// Options are the suite's options for GatewayClass className and the
// profiles, against the API server of cfg: clients built with the default
// scheme (as the suite's own DefaultOptions: its helpers build clients
// with it, so the Gateway API types go there), the report written to
// $CONFORMANCE_REPORT, the one test $CONFORMANCE_RUN_TEST names run (or
// those $CONFORMANCE_RUN_TESTS lists, comma separated), the tests
// $CONFORMANCE_SKIP lists (comma separated) skipped, and gatewarden
// named with the version git describes. addrs are the address pools of
// GatewayStaticAddresses, which is skipped (and says so) without them.
func Options(t *testing.T, cfg *rest.Config, className string, addrs Addresses, profiles ...suite.ConformanceProfileName) suite.ConformanceOptions {
	t.Helper()
	for _, add := range []func(*runtime.Scheme) error{gwv1.Install, gwv1beta1.Install, gwv1alpha2.Install, gwv1alpha3.Install, xv1alpha1.Install, apiextensionsv1.AddToScheme} {
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
	var skip []string
	if s := os.Getenv("CONFORMANCE_SKIP"); s != "" {
		skip = strings.Split(s, ",")
	}
	// Unlike CONFORMANCE_RUN_TEST (one test, run whatever the features),
	// the tests CONFORMANCE_RUN_TESTS names run only when gatewarden
	// declares their features.
	if only := os.Getenv("CONFORMANCE_RUN_TESTS"); only != "" {
		run := strings.Split(only, ",")
		for _, ct := range tests.ConformanceTests {
			if !slices.Contains(run, ct.ShortName) {
				skip = append(skip, ct.ShortName)
			}
		}
	}
	if len(addrs.Usable) == 0 || len(addrs.Unusable) == 0 {
		t.Logf("GatewayStaticAddresses is skipped: no usable and unusable addresses are known where the Gateways run")
		skip = append(skip, tests.GatewayStaticAddresses.ShortName)
	}
	return suite.ConformanceOptions{
		ConfigurableOptions: suite.ConfigurableOptions{
			UsableNetworkAddresses:   ipAddresses(addrs.Usable),
			UnusableNetworkAddresses: ipAddresses(addrs.Unusable),
			GatewayClassName:         className,
			CleanupBaseResources:     true,
			CleanupTestResources:     true,
			ConformanceProfiles:      profiles,
			ReportOutputPath:         os.Getenv("CONFORMANCE_REPORT"),
			RunTest:                  os.Getenv("CONFORMANCE_RUN_TEST"),
			SkipTests:                skip,
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
}

// version is what git describes of the checkout, "dev" outside one.
func version() string {
	b, err := exec.Command("git", "-C", testenv.RepoRoot(), "describe", "--always", "--dirty").Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(b))
}

// Addresses are the pools the suite's GatewayStaticAddresses takes its
// Gateway's spec.addresses from: IP addresses the load balancer in front of
// the Gateways assigns when asked, and ones it refuses.
type Addresses struct {
	Usable, Unusable []string
}

func ipAddresses(values []string) []gwv1.GatewaySpecAddress {
	var out []gwv1.GatewaySpecAddress
	for _, v := range values {
		out = append(out, gwv1.GatewaySpecAddress{Type: new(gwv1.IPAddressType), Value: v})
	}
	return out
}
