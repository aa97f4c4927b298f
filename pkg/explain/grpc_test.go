package explain_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/pkg/explain"
)

// grpcRoute serves the guide's httpbin as a gRPC service on
// grpc.example.com, with the guide's RouteOption pointed at it.
const grpcRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: echo, namespace: httpbin}
spec:
  parentRefs: [{name: http, namespace: gloo-system}]
  hostnames: [grpc.example.com]
  rules:
  - matches: [{method: {service: echo.v1.Echo}}]
    backendRefs: [{name: httpbin, port: 8000}]
`

// TestExplainGRPC explains gRPC calls to a GRPCRoute under the guide's
// VirtualHostOption (JWT) and RouteOption (RBAC): what Envoy refuses is
// answered as gRPC, HTTP 200 with the grpc-status a client sees (e2e
// TestGRPCRouteJWTAndRBAC shows the same codes from real Envoy).
func TestExplainGRPC(t *testing.T) {
	ex, tokens := guideExplainer(t, func(s string) string {
		return strings.Replace(s, "kind: HTTPRoute\n    name: httpbin", "kind: GRPCRoute\n    name: echo", 1)
	}, map[string]string{"grpcroute.yaml": grpcRoute})
	for name, tc := range map[string]struct {
		path, token, contentType string
		summary                  string
		upstream                 string
	}{
		"no token":                 {"/echo.v1.Echo/Say", "", "application/grpc", "200 grpc-status 16 UNAUTHENTICATED: Jwt is missing", ""},
		"bob, refused by the RBAC": {"/echo.v1.Echo/Say", tokens["BOB_TOKEN"], "application/grpc+proto", "200 grpc-status 7 PERMISSION_DENIED: RBAC: access denied", ""},
		"alice":                    {"/echo.v1.Echo/Say", tokens["ALICE_TOKEN"], "application/grpc", "200 (forwarded to httpbin/httpbin/8000/h2c)", "httpbin/httpbin/8000/h2c"},
		"a service no rule names":  {"/other.Svc/Say", tokens["ALICE_TOKEN"], "application/grpc", "200 grpc-status 12 UNIMPLEMENTED", ""},
		"not gRPC: an HTTP answer": {"/echo.v1.Echo/Say", "", "application/json", "401 Jwt is missing", ""},
	} {
		t.Run(name, func(t *testing.T) {
			h := http.Header{"Content-Type": {tc.contentType}}
			if tc.token != "" {
				h.Set("Authorization", "Bearer "+tc.token)
			}
			d, err := ex.Explain("", explain.Request{Method: "POST", URL: "http://grpc.example.com:8080" + tc.path, Header: h})
			if err != nil {
				t.Fatal(err)
			}
			if d.Summary() != tc.summary || d.Upstream != tc.upstream {
				t.Errorf("got %q (upstream %q), want %q (upstream %q)\n%s", d.Summary(), d.Upstream, tc.summary, tc.upstream, strings.Join(d.Steps, "\n"))
			}
		})
	}
}
