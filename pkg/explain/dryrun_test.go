package explain_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/explain"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/translator"
)

// TestDryRun explains the guide with its RouteOption in dry run: Bob,
// whom its rbac denies, is let through, and the decision says the option
// would have denied him.
func TestDryRun(t *testing.T) {
	root := testenv.RepoRoot()
	tmp := t.TempDir()
	for _, f := range []string{"gateway.yaml", "httpbin.yaml", "virtualhostoption.yaml", "routeoption.yaml"} {
		data, err := os.ReadFile(filepath.Join(root, "examples/gateway-jwt", f))
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		if f == "routeoption.yaml" {
			s = strings.Replace(s, "  namespace: httpbin\n", "  namespace: httpbin\n  annotations: {gatewarden.io/dry-run: \"true\"}\n", 1)
		}
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
	for name, tc := range map[string]struct {
		token string
		want  explain.DryRunDecision
	}{
		"Bob, denied by the option": {tokens["BOB_TOKEN"], explain.DryRunDecision{Option: "RouteOption/httpbin/jwt", WouldAllow: false}},
		"Alice, allowed":            {tokens["ALICE_TOKEN"], explain.DryRunDecision{Option: "RouteOption/httpbin/jwt", WouldAllow: true, Matched: []string{"viewer"}}},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := ex.Explain("", explain.Request{Method: "GET", URL: "http://www.example.com:8080/headers",
				Header: http.Header{"Authorization": {"Bearer " + tc.token}}})
			if err != nil {
				t.Fatal(err)
			}
			if d.Code == 403 || d.RBAC == nil || !d.RBAC.Allowed {
				t.Fatalf("a dry-run option denied the request: %s\n%s", d.Summary(), strings.Join(d.Steps, "\n"))
			}
			if d.RBAC.DryRun == nil {
				t.Fatalf("no dry-run decision:\n%s", strings.Join(d.Steps, "\n"))
			}
			if diff := cmp.Diff(tc.want, *d.RBAC.DryRun); diff != "" {
				t.Errorf("dry run (-want +got):\n%s", diff)
			}
			if !strings.Contains(strings.Join(d.Steps, "\n"), "dry run of RouteOption/httpbin/jwt (not enforced)") {
				t.Errorf("the steps do not name the dry run:\n%s", strings.Join(d.Steps, "\n"))
			}
		})
	}
}
