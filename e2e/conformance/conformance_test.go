// Package conformance runs the upstream Gateway API conformance suite
// (sigs.k8s.io/gateway-api/conformance, unmodified) against gatewarden in
// Kubernetes mode with provisioning on, a real kube-apiserver and real
// Envoys. This machine has no kubelet, container runtime, CNI plugin or
// cloud: a test-only runner (runner_test.go) stands in for them, running
// every Pod (the Envoys of the Deployments gatewarden creates among them) in
// a network namespace of its own with its own IP address.
package conformance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/conformance"
	"sigs.k8s.io/gateway-api/conformance/utils/config"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/internal/testenv/suiteopts"
	"github.com/gatewarden/gatewarden/translator"
)

const (
	className           = "gatewarden"
	gatewardenNamespace = "gatewarden-system"
)

// TestConformance runs the GATEWAY-HTTP, GATEWAY-GRPC, GATEWAY-TLS,
// GATEWAY-TCP and GATEWAY-UDP profiles. CONFORMANCE_REPORT names
// the file the suite's report is written to; CONFORMANCE_RUN_TEST runs one
// test of the suite by its short name, CONFORMANCE_RUN_TESTS several
// (comma separated); CONFORMANCE_CHANNEL=experimental
// installs the Gateway API's experimental CRDs instead of the standard
// ones (gatewarden then declares the features of the experimental fields,
// and the report says which channel ran).
func TestConformance(t *testing.T) {
	channel := cmp.Or(os.Getenv("CONFORMANCE_CHANNEL"), "standard")
	// Registered first, so run last: whatever ended the test, no process
	// it started may be left.
	// The API server and etcd inherit the mark from the test's own
	// environment.
	t.Setenv(runEnv, runID)
	if gone := killOrphans(); len(gone) > 0 {
		t.Logf("killed %d processes left running by an earlier run whose test binary died: %s", len(gone), strings.Join(gone, ", "))
	}
	t.Cleanup(func() {
		n := killAll()
		deadline := time.Now().Add(2 * time.Second)
		left := leftovers()
		for ; len(left) > 0 && time.Now().Before(deadline); left = leftovers() {
			time.Sleep(50 * time.Millisecond)
		}
		if len(left) > 0 {
			killMarked()
			t.Errorf("still running after the test's cleanup (%d processes started by the runner), now killed: %s", n, strings.Join(left, ", "))
			return
		}
		t.Logf("processes started by the runner: %d, besides the API server, etcd and gatewarden; left running after the cleanup: 0", n)
	})
	// Run after the runner's own cleanup, which removes each Pod's
	// namespace as it stops the Pod: the bridge, and whatever a failure
	// left.
	podNet := startPodNetwork(t)
	env := testenv.KubeEnvironment(t)
	env.CRDDirectoryPaths = []string{testenv.GatewayAPIChannelCRDs(t, channel), filepath.Join(testenv.RepoRoot(), "crds")}
	// The stand-in kubelet's API, on the bridge: the API server reads the
	// Pods' logs there (the suite's mirroring tests read the mirror
	// backends' logs).
	kubelet, err := newKubeletAPI(podNet.gateway, t.TempDir())
	if err != nil {
		t.Fatalf("the stand-in kubelet's API: %v", err)
	}
	t.Cleanup(func() {
		if err := kubelet.close(); err != nil {
			t.Errorf("stop the stand-in kubelet's API: %v", err)
		}
	})
	apiArgs := env.ControlPlane.GetAPIServer().Configure()
	for k, v := range kubelet.apiServerFlags() {
		apiArgs.Set(k, v)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start the API server: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}

	// GatewayStaticAddresses asks the stand-in load balancer for an address
	// of its range, and for one it refuses (loadbalancer_test.go).
	addrs := suiteopts.Addresses{Usable: []string{lbUsable.String()}, Unusable: []string{lbUnusable.String()}}
	opts := suiteopts.Options(t, cfg, className, addrs, suite.GatewayHTTPConformanceProfileName, suite.GatewayGRPCConformanceProfileName,
		suite.GatewayTLSConformanceProfileName, suite.GatewayTCPConformanceProfileName, suite.GatewayUDPConformanceProfileName)
	c := opts.Client
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	gc := &gwv1.GatewayClass{}
	gc.Name = className
	gc.Spec.ControllerName = gwv1.GatewayController(translator.DefaultControllerName)
	if err := c.Create(ctx, gc); err != nil {
		t.Fatal(err)
	}

	// gatewarden's own namespace, as in a cluster: its xDS CA Secret and
	// leader election Leases go there.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gatewardenNamespace}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	bins := buildBinaries(t)
	// The Envoy Pods reach gatewarden on the bridge's address, over mutual
	// TLS with the client certificate gatewarden issues to each Gateway and
	// the Pods mount; the name they check is that of gatewarden's Service,
	// which its certificate carries.
	xdsAddr := netip.AddrPortFrom(podNet.gateway, uint16(freePort())).String()
	gwLog, err := os.Create(filepath.Join(logDir(t), "gatewarden.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gwLog.Close() })
	testenv.RunGatewarden(t, testenv.GatewardenOptions{Bin: bins["gatewarden"], Log: gwLog,
		XDSAddress: xdsAddr, AdminAddress: fmt.Sprintf("127.0.0.1:%d", freePort()),
		Env: []string{"POD_NAMESPACE=" + gatewardenNamespace},
		Flags: []string{"--kubeconfig", kubeconfig, "--debounce", "20ms",
			"--provision", "--provision-xds-address", xdsAddr,
			"--provision-xds-server-name", "gatewarden." + gatewardenNamespace + ".svc"}})

	r := &runner{t: t, c: c, echoBin: bins["echo-basic"], corednsBin: bins["coredns"], envoyBin: testenv.Envoy(t), net: podNet, pods: map[types.NamespacedName]*podProc{}}
	if err := kubelet.registerNode(ctx, c); err != nil {
		t.Fatal(err)
	}
	kubelet.serve(r)
	r.lb = newLoadBalancer(r)
	if err := sweepPodsDirs(); err != nil {
		t.Fatal(err)
	}
	if r.podsDir, err = os.MkdirTemp("", fmt.Sprintf("%s%d-", podsDirPrefix, os.Getpid())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(r.podsDir) })
	if err := os.Chmod(r.podsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.run(ctx, 250*time.Millisecond) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	// The suite reads the supported features from the GatewayClass status.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if err := c.Get(ctx, client.ObjectKeyFromObject(gc), gc); err == nil && len(gc.Status.SupportedFeatures) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatewarden did not write the GatewayClass status in 60 s; its log is in %s", logDir(t))
		}
		time.Sleep(100 * time.Millisecond)
	}

	if capStr := os.Getenv("CONFORMANCE_TIMEOUT_CAP"); capStr != "" {
		// For quicker iterations only: a failing check gives up sooner.
		limit, err := time.ParseDuration(capStr)
		if err != nil {
			t.Fatalf("CONFORMANCE_TIMEOUT_CAP: %v", err)
		}
		opts.TimeoutConfig = config.DefaultTimeoutConfig()
		v := reflect.ValueOf(&opts.TimeoutConfig).Elem()
		for i := range v.NumField() {
			if f := v.Field(i); f.Type() == reflect.TypeFor[time.Duration]() && time.Duration(f.Int()) > limit {
				f.SetInt(int64(limit))
			}
		}
	}
	conformance.RunConformanceWithOptions(t, opts)
	checkProvisioned(t, r)
}

// podsDirPrefix starts the name of the directory of the Pods' volumes,
// followed by the test binary's pid.
const podsDirPrefix = "gatewarden-conformance-pods-"

// sweepPodsDirs removes the Pods' directories of earlier runs whose test
// binary died before its cleanups.
func sweepPodsDirs() error {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), podsDirPrefix+"*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), podsDirPrefix), "-")
		n, err := strconv.Atoi(pid)
		if err == nil && n != os.Getpid() && syscall.Kill(n, 0) == nil {
			continue // a run still going
		}
		errs = append(errs, os.RemoveAll(d))
	}
	return errors.Join(errs...)
}

// checkProvisioned: the Gateways the suite reached were served by Envoy
// Pods of the Deployments gatewarden created (the runner starts no Envoy of
// its own), none of them as root or with a writable root filesystem.
func checkProvisioned(t *testing.T, r *runner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	envoys, others, readOnly := 0, 0, 0
	users := map[string]int{}
	for _, p := range r.readyPods {
		if img, ok := r.imageFor(p.image); !ok || img.bin != r.envoyBin {
			others++
			continue
		}
		envoys++
		users[p.uid]++
		if p.ro {
			readOnly++
		}
	}
	if envoys == 0 {
		t.Errorf("no Envoy Pod of a Deployment gatewarden provisioned became Ready")
	}
	if users["0"] > 0 {
		t.Errorf("%d of the %d provisioned Envoy Pods ran as root", users["0"], envoys)
	}
	if readOnly != envoys {
		t.Errorf("%d of the %d provisioned Envoy Pods ran with a writable root filesystem", envoys-readOnly, envoys)
	}
	t.Logf("Pods that became Ready: %d provisioned Envoys (by user id: %v; with a read-only root filesystem: %d), %d others", envoys, users, readOnly, others)
}

// buildBinaries builds gatewarden, the suite's echo server and its DNS
// server once. CoreDNS is the build of the local cluster's images
// (hack/cluster/images, a module of its own pinning the version the suite's
// manifests name), with the plugins the suite's Corefile uses.
func buildBinaries(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(), ".cache", "conformance-bin")
	out := map[string]string{}
	for name, b := range map[string]struct{ dir, pkg string }{
		"gatewarden": {".", "./cmd/gatewarden"},
		"echo-basic": {".", "sigs.k8s.io/gateway-api/conformance/echo-basic"},
		"coredns":    {"hack/cluster/images", "./coredns"},
	} {
		path, pkg := filepath.Join(dir, name), b.pkg
		cmd := exec.Command("go", "build", "-o", path, pkg)
		cmd.Dir = filepath.Join(testenv.RepoRoot(), b.dir)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
		out[name] = path
	}
	return out
}

var (
	logDirOnce sync.Once
	logDirPath string
)

// logDir holds the output of every process the test starts:
// $CONFORMANCE_LOGS, else a temporary directory.
func logDir(t *testing.T) string {
	logDirOnce.Do(func() {
		logDirPath = os.Getenv("CONFORMANCE_LOGS")
		if logDirPath == "" {
			logDirPath = t.TempDir()
		}
		if err := os.MkdirAll(logDirPath, 0o755); err != nil {
			t.Fatal(err)
		}
	})
	return logDirPath
}
