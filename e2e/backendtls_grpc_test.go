package e2e

import (
	"crypto/tls"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// TestGRPCRouteBackendTLS: a gRPC client's calls reach, through real Envoy,
// a gRPC server that speaks only TLS (HTTP/2 negotiated by ALPN, which
// gRPC servers require), as the BackendTLSPolicy of its Service port says.
func TestGRPCRouteBackendTLS(t *testing.T) {
	ca := testenv.NewCA(t, "gRPC backend CA")
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{issueServerCert(t, ca, []string{"health.backend.test"})}})
	port, calls := grpcHealthBackend(t, grpc.Creds(creds))
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("grpc-tls.yaml", testenv.GatewayClassManifest+testenv.Fixture(t, "backendtls-grpc.yaml", e.gwPort, indentPEM(ca.CertPEM))+
			testenv.Backend("infra", "health", "grpcs", 443, port, "127.0.0.1"))
	})
	client := healthClient(t, e.gwPort, "grpc.test")
	eventually(t, 15*time.Second, "the gRPC backend over TLS answers", func() string {
		resp, err := checkHealth(client, "")
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
