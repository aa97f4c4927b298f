// Package testenv finds the real programs tests run against (Envoy) and
// offers helpers around them. A test that needs Envoy and cannot find it
// fails, naming the command that installs it: it never skips.
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
)

// RepoRoot is the root of the gatewarden module.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// EnvoyInstallCommand is what a person runs to get the Envoy tests need.
const EnvoyInstallCommand = "hack/install-envoy.sh (or `make envoy`)"

// Envoy returns the path of the Envoy binary: $ENVOY_BIN, else
// .cache/bin/envoy. It fails the test when there is none.
func Envoy(t testing.TB) string {
	t.Helper()
	path := os.Getenv("ENVOY_BIN")
	if path == "" {
		path = filepath.Join(RepoRoot(), ".cache", "bin", "envoy")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Envoy not found at %s: install it with %s", path, EnvoyInstallCommand)
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
