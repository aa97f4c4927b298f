package explain_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/explain"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/translator"
)

// guideExplainer explains the guide's manifests (examples/gateway-jwt),
// the RouteOption changed by editRouteOption and extra files added, and
// returns the guide's tokens by name (tokens.env).
func guideExplainer(t *testing.T, editRouteOption func(string) string, extra map[string]string) (*explain.Explainer, map[string]string) {
	t.Helper()
	root := testenv.RepoRoot()
	tmp := t.TempDir()
	files := map[string]string{}
	for _, f := range []string{"gateway.yaml", "httpbin.yaml", "virtualhostoption.yaml", "routeoption.yaml"} {
		data, err := os.ReadFile(filepath.Join(root, "examples/gateway-jwt", f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = string(data)
	}
	files["routeoption.yaml"] = editRouteOption(files["routeoption.yaml"])
	for f, s := range extra {
		files[f] = s
	}
	for f, s := range files {
		if err := os.WriteFile(filepath.Join(tmp, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	scan := dir.Load(tmp)
	if len(scan.Problems) > 0 {
		t.Fatalf("load: %v", scan.Problems)
	}
	ex, err := explain.New(translator.Translate(scan.Resources, translator.Options{AllowLoopbackBackends: true}).Gateways)
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	data, err := os.ReadFile(filepath.Join(root, "examples/gateway-jwt/tokens.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			tokens[k] = v
		}
	}
	return ex, tokens
}
