package explain_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatewarden/gatewarden/pkg/explain"
)

// TestDryRun explains the guide with its RouteOption in dry run: Bob,
// whom its rbac denies, is let through, and the decision says the option
// would have denied him.
func TestDryRun(t *testing.T) {
	ex, tokens := guideExplainer(t, func(s string) string {
		return strings.Replace(s, "  namespace: httpbin\n", "  namespace: httpbin\n  annotations: {gatewarden.io/dry-run: \"true\"}\n", 1)
	}, nil)
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
