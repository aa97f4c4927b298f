package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLocalHostsOnly: the full admin endpoint answers requests to an IP
// address or localhost, and refuses other names (DNS rebinding).
func TestLocalHostsOnly(t *testing.T) {
	h := localHostsOnly(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("config")) }))
	for host, want := range map[string]int{
		"127.0.0.1:9090":          http.StatusOK,
		"[::1]:9090":              http.StatusOK,
		"10.0.0.7:9090":           http.StatusOK,
		"localhost:9090":          http.StatusOK,
		"LOCALHOST.":              http.StatusOK,
		"pod.localhost":           http.StatusOK,
		"rebind.attacker.example": http.StatusForbidden,
		"localhost.attacker.test": http.StatusForbidden,
		"127.0.0.1.nip.io:9090":   http.StatusForbidden,
		"gatewarden.svc:9090":     http.StatusForbidden,
		"":                        http.StatusForbidden,
	} {
		req := httptest.NewRequest("GET", "/debug/config", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %q: %d, want %d (%s)", host, rec.Code, want, rec.Body.String())
		}
		if want == http.StatusForbidden && strings.Contains(rec.Body.String(), "config") && !strings.Contains(rec.Body.String(), "refused") {
			t.Errorf("Host %q: the page was served", host)
		}
	}
}
