package dashboard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (envoy_http_conn_manager_prefix) (rate(envoy_http_rbac_denied{envoy_http_conn_manager_prefix=~"$listener"}[5m]))`: {"envoy_http_rbac_denied"},
		`histogram_quantile(0.99, sum by (le) (rate(gatewarden_translation_seconds_bucket[5m])))`:                                 {"gatewarden_translation_seconds_bucket"},
		`sum(rate(envoy_http_jwt_authn_denied[1m])) / sum(rate(envoy_http_downstream_rq_total[1m]))`:                              {"envoy_http_downstream_rq_total", "envoy_http_jwt_authn_denied"},
	} {
		if diff := cmp.Diff(want, MetricNames(expr)); diff != "" {
			t.Errorf("MetricNames(%s) (-want +got):\n%s", expr, diff)
		}
	}
}

// TestDashboardQueriesScrapedMetrics checks the committed dashboard against
// the metric names TestObservability scraped from a real Envoy's metrics
// port and gatewarden's /metrics (go test ./e2e -run TestObservability
// -update-metric-names rewrites the list).
func TestDashboardQueriesScrapedMetrics(t *testing.T) {
	root := testenv.RepoRoot()
	data, err := os.ReadFile(filepath.Join(root, "deploy/grafana/testdata/metric-names.txt"))
	if err != nil {
		t.Fatal(err)
	}
	scraped := map[string]bool{}
	for _, n := range strings.Fields(string(data)) {
		scraped[n] = true
	}
	queries, err := Queries(filepath.Join(root, Path))
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) < 6 {
		t.Fatalf("the dashboard has %d panels with queries, want at least 6", len(queries))
	}
	for title, exprs := range queries {
		for _, e := range exprs {
			names := MetricNames(e)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q reads no envoy_ or gatewarden_ metric", title, e)
			}
			for _, n := range names {
				if !scraped[n] {
					t.Errorf("panel %q: metric %s is not in the scrape", title, n)
				}
			}
		}
	}
}
