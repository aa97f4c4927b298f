// Package testenv finds the real programs tests run against (Envoy, the API
// server) and is the one way tests and load runs build and start them:
// gatewarden (RunGatewarden, StartGatewarden), Envoy (RunEnvoy, StartEnvoy)
// and any other program (RunProcess), each in a process group of its own,
// its output kept, killed at the end. It also holds the manifests and
// certificates several test packages share. A test that needs Envoy and
// cannot find it fails, naming the command that installs it: it never skips.
package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the root of the gatewarden module.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// EnvoyInstallCommand is what a person runs to get the Envoy tests need.
const EnvoyInstallCommand = "hack/install-envoy.sh (or `make envoy`)"

// Envoy returns the path of the Envoy binary (EnvoyPath). It fails the
// test when there is none.
func Envoy(t testing.TB) string {
	t.Helper()
	path, err := EnvoyPath()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// ValidateEnvoyConfig runs `envoy --mode validate` on a bootstrap and fails
// the test with Envoy's own words when Envoy rejects it.
func ValidateEnvoyConfig(t testing.TB, bootstrap proto.Message) {
	t.Helper()
	js, err := protojson.Marshal(bootstrap)
	if err != nil {
		t.Fatalf("marshal bootstrap: %v", err)
	}
	path := filepath.Join(t.TempDir(), "bootstrap.json")
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Envoy(t), "--mode", "validate", "-c", path, "--log-level", "error",
		"--base-id", "0", "--use-dynamic-base-id", "--disable-hot-restart")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Fatalf("Envoy rejects the configuration (%v):\n%s", err, out)
	}
}

// KubeInstallCommand is what a person runs to get the API server, etcd and
// kubectl the Kubernetes-mode tests need.
const KubeInstallCommand = "hack/install-kube.sh (or `make kube-tools`)"

// KubeAssets returns the directory holding kube-apiserver and etcd for
// envtest ($KUBEBUILDER_ASSETS, else .cache/bin). It fails the test when
// they are missing.
func KubeAssets(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), ".cache", "bin")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Fatalf("%s not found in %s: build it with %s", b, dir, KubeInstallCommand)
		}
	}
	return dir
}

// Kubectl returns the path of kubectl: the one built with the API server
// (.cache/bin), else one on PATH. It fails the test when there is none.
func Kubectl(t testing.TB) string {
	t.Helper()
	built := filepath.Join(RepoRoot(), ".cache", "bin", "kubectl")
	if _, err := os.Stat(built); err == nil {
		return built
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl not found: build it with %s", KubeInstallCommand)
	}
	return p
}

// GatewayAPICRDs is the directory of the Gateway API standard-channel CRDs
// of the gateway-api module gatewarden is built with.
func GatewayAPICRDs(t testing.TB) string {
	t.Helper()
	return GatewayAPIChannelCRDs(t, "standard")
}

// GatewayAPIChannelCRDs is the directory of the Gateway API CRDs of a
// channel ("standard" or "experimental") of the gateway-api module
// gatewarden is built with.
func GatewayAPIChannelCRDs(t testing.TB, channel string) string {
	t.Helper()
	if channel != "standard" && channel != "experimental" {
		t.Fatalf("Gateway API channel %q: want standard or experimental", channel)
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("locate the gateway-api module: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "config", "crd", channel)
}

// KubeEnvironment is an envtest API server with the Gateway API
// standard-channel CRDs and gatewarden's own, not started yet.
func KubeEnvironment(t testing.TB) *envtest.Environment {
	t.Helper()
	return &envtest.Environment{
		BinaryAssetsDirectory: KubeAssets(t),
		CRDDirectoryPaths:     []string{GatewayAPICRDs(t), filepath.Join(RepoRoot(), "crds")},
		ErrorIfCRDPathMissing: true,
	}
}
