package admin_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/pkg/admin"
)

func TestPublicHidesDebug(t *testing.T) {
	s := admin.New(prometheus.NewRegistry(), func() bool { return true }, func() any { return "secret topology" }, func() any { return "jwks" })
	for path, want := range map[string]int{
		"/healthz": 200, "/readyz": 200, "/metrics": 200,
		"/debug/config": 404, "/debug/xds": 404, "/debug/pprof/": 404, "/debug/pprof/profile?seconds=1": 404, "/metrics/../debug/xds": 307,
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		s.Public().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("GET %s on the public handler: %d, want %d", path, rec.Code, want)
		}
	}
}
