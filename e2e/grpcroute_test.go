package e2e

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// TestGRPCRouteJWTAndRBAC calls a JWT + RBAC protected GRPCRoute with a real
// gRPC client through real Envoy and checks the status codes the client
// sees: Envoy answers a refused gRPC call as gRPC, so jwt_authn's 401 is
// UNAUTHENTICATED (16) and rbac's 403 PERMISSION_DENIED (7), each with
// Envoy's reason as the message; a method no rule matches is UNIMPLEMENTED
// (12, Envoy's 404). Only the allowed call reaches the backend.
func TestGRPCRouteJWTAndRBAC(t *testing.T) {
	key, other := newKey(t, jwt.GenerateRSA, "k1"), newKey(t, jwt.GenerateRSA, "k1")
	backendPort, calls := grpcHealthBackend(t)
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("grpc.yaml", testenv.GatewayClassManifest+testenv.Fixture(t, "grpcroute.yaml", e.gwPort)+testenv.JWTOption(key.JWKS())+testenv.FQDNBackend("infra", "health", "grpc", 9000, backendPort))
	})
	mint := func(k *jwt.Key, team string) string {
		tok, err := jwt.Mint(k, jwt.Claims{"sub": "u", "team": team}, jwt.MintOptions{Issuer: "iss-1", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	client := healthClient(t, e.gwPort, "grpc.test")
	dev := mint(key, "dev")

	eventually(t, 15*time.Second, "the GRPCRoute served", func() string {
		resp, err := checkHealth(client, dev)
		if err != nil {
			return err.Error()
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return resp.GetStatus().String()
		}
		return ""
	})
	calls.Store(0)

	refused := []struct {
		name    string
		token   string
		code    codes.Code
		message string
	}{
		{"no token", "", codes.Unauthenticated, "Jwt is missing"},
		{"a token signed by another key", mint(other, "dev"), codes.Unauthenticated, "Jwt verification fails"},
		{"a token of issuer iss-1 with team=ops", mint(key, "ops"), codes.PermissionDenied, "RBAC: access denied"},
	}
	for _, r := range refused {
		_, err := checkHealth(client, r.token)
		st := status.Convert(err)
		t.Logf("Check with %s: %s (%d) %q", r.name, st.Code(), st.Code(), st.Message())
		if st.Code() != r.code || st.Message() != r.message {
			t.Errorf("Check with %s: %s %q, want %s %q", r.name, st.Code(), st.Message(), r.code, r.message)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the backend saw %d of the refused calls", n)
	}

	resp, err := checkHealth(client, dev)
	t.Logf("Check with a token of team=dev: %v, %v", resp.GetStatus(), status.Code(err))
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("Check with a token of team=dev: %v, %v; want SERVING", resp, err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the backend saw %d calls, want 1", n)
	}

	// A method the route does not name is not routed, token or not.
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+dev), 5*time.Second)
	defer cancel()
	stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	st := status.Convert(err)
	t.Logf("Watch, which no rule matches: %s (%d) %q", st.Code(), st.Code(), st.Message())
	if st.Code() != codes.Unimplemented {
		t.Errorf("Watch: %s %q, want Unimplemented", st.Code(), st.Message())
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the backend saw %d calls, want 1", n)
	}

	// A route that cannot be served answers 500, which Envoy turns into
	// UNKNOWN (2) for a gRPC client, the body as its message.
	_, err = checkHealth(healthClient(t, e.gwPort, "broken.test"), dev)
	st = status.Convert(err)
	t.Logf("Check on a route that cannot be served: %s (%d) %q", st.Code(), st.Code(), st.Message())
	if want := "This route cannot be served: see the status of its GRPCRoute.\n"; st.Code() != codes.Unknown || st.Message() != want {
		t.Errorf("Check on a route that cannot be served: %s %q, want Unknown %q", st.Code(), st.Message(), want)
	}
}

// healthClient is a client of the gRPC health service through Envoy's
// listener on the loopback port, over h2c, for the virtual host authority.
func healthClient(t *testing.T, port int, authority string) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(fmt.Sprintf("127.0.0.1:%d", port),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority(authority))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// checkHealth calls the health service's Check with the bearer token (none
// if empty), waiting 5 s at the most.
func checkHealth(client healthpb.HealthClient, token string) (*healthpb.HealthCheckResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	return client.Check(ctx, &healthpb.HealthCheckRequest{})
}

// grpcHealthBackend serves the gRPC health service on a loopback port, over
// h2c unless opts give credentials, and counts the calls it receives.
func grpcHealthBackend(t *testing.T, opts ...grpc.ServerOption) (int, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	calls := &atomic.Int64{}
	count := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		calls.Add(1)
		return h(ctx, req)
	}
	countStream := func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		calls.Add(1)
		return h(srv, ss)
	}
	s := grpc.NewServer(append(opts, grpc.UnaryInterceptor(count), grpc.StreamInterceptor(countStream))...)
	healthpb.RegisterHealthServer(s, health.NewServer())
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Stop()
		if err := <-done; err != nil {
			t.Errorf("the gRPC backend: %v", err)
		}
	})
	return l.Addr().(*net.TCPAddr).Port, calls
}
