package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// grpcTLSManifests: a GRPCRoute on grpc.test (port %[1]d) to a gRPC server
// on 127.0.0.1:%[2]d that speaks TLS only, through a BackendTLSPolicy whose
// CA is %[3]s (indented).
const grpcTLSManifests = testenv.GatewayClassManifest + `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: gatewarden
  listeners:
  - {name: http, protocol: HTTP, port: %[1]d, hostname: grpc.test}
---
apiVersion: v1
kind: Service
metadata: {name: health, namespace: infra}
spec: {ports: [{name: grpcs, port: 443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: health-1, namespace: infra, labels: {kubernetes.io/service-name: health}}
addressType: IPv4
ports: [{name: grpcs, port: %[2]d}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: health-ca, namespace: infra}
data:
  ca.crt: |
%[3]s
---
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: health, namespace: infra}
spec:
  targetRefs: [{group: "", kind: Service, name: health, sectionName: grpcs}]
  validation:
    caCertificateRefs: [{group: "", kind: ConfigMap, name: health-ca}]
    hostname: health.backend.test
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: health, namespace: infra}
spec:
  parentRefs: [{name: gw}]
  rules: [{backendRefs: [{name: health, port: 443}]}]
`

// TestGRPCRouteBackendTLS: a gRPC client's calls reach, through real Envoy,
// a gRPC server that speaks only TLS (HTTP/2 negotiated by ALPN, which
// gRPC servers require), as the BackendTLSPolicy of its Service port says.
func TestGRPCRouteBackendTLS(t *testing.T) {
	ca := testenv.NewCA(t, "gRPC backend CA")
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{issueServerCert(t, ca, []string{"health.backend.test"})}})
	port, calls := grpcHealthBackend(t, grpc.Creds(creds))
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("grpc-tls.yaml", fmt.Sprintf(grpcTLSManifests, e.gwPort, port, "    "+strings.ReplaceAll(strings.TrimSpace(string(ca.CertPEM)), "\n", "\n    ")))
	})
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", e.gwPort),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("grpc.test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := healthpb.NewHealthClient(conn)
	eventually(t, 15*time.Second, "the gRPC backend over TLS answers", func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err.Error()
		}
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			return resp.Status.String()
		}
		return ""
	})
	if calls.Load() == 0 {
		t.Fatal("the gRPC backend counted no call")
	}
	t.Logf("calls served by the gRPC backend over TLS: %d", calls.Load())
}
