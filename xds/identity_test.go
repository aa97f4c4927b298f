package xds_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/pki"
	"github.com/gatewarden/gatewarden/xds"
)

// mtlsServer serves the guide over mutual TLS with identities required, and
// returns a function that connects with the certificate of a Gateway
// ("" for a client certificate of another trust domain).
func mtlsServer(t *testing.T) (*xds.Metrics, func(identity string) discoveryv3.AggregatedDiscoveryServiceClient) {
	t.Helper()
	ca := testenv.NewCA(t, "test CA")
	srvPair, err := ca.IssueServer([]string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := tls.X509KeyPair(srvPair.CertPEM, srvPair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cfg := xds.MutualTLSConfig(func() (*tls.Certificate, error) { return &srvCert, nil }, func() (*x509.CertPool, error) { return pool, nil })
	s, m, addr := serve(t, xds.ServerOptions{RequireIdentity: true}, grpc.Creds(credentials.NewTLS(cfg)))
	publish(t, s, guideResult(t))
	return m, func(identity string) discoveryv3.AggregatedDiscoveryServiceClient {
		var pair *pki.Pair
		var err error
		if identity == "" {
			// A Gateway of another trust domain is no Gateway here.
			pair, err = ca.IssueGateway("elsewhere", "gloo-system", "http", time.Hour)
		} else {
			ns, name, _ := strings.Cut(identity, "/")
			pair, err = ca.IssueGateway(pki.DefaultTrustDomain, ns, name, time.Hour)
		}
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			RootCAs: pool, Certificates: []tls.Certificate{c}, ServerName: "127.0.0.1",
		})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	}
}

// firstResponse opens a stream as node cluster gateway and returns the
// first response, or the error that ended the stream.
func firstResponse(t *testing.T, client discoveryv3.AggregatedDiscoveryServiceClient, gateway string, delta bool) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	node := &corev3.Node{Id: "attacker", Cluster: gateway}
	if delta {
		resp, err := firstReply(ctx, client.DeltaAggregatedResources, &discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType})
		return len(resp.GetResources()), err
	}
	resp, err := firstReply(ctx, client.StreamAggregatedResources, &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType})
	return len(resp.GetResources()), err
}

func TestStreamsAreBoundToTheirCertificatesGateway(t *testing.T) {
	m, connect := mtlsServer(t)
	for name, tc := range map[string]struct {
		identity, asks string
		want           codes.Code
		reason         string
	}{
		"own gateway":            {identity: gateway, asks: gateway, want: codes.OK},
		"another gateway":        {identity: "team-b/gw", asks: gateway, want: codes.PermissionDenied, reason: "gateway_mismatch"},
		"no gateway in the node": {identity: gateway, asks: "", want: codes.PermissionDenied, reason: "gateway_mismatch"},
		"no gateway identity":    {identity: "", asks: gateway, want: codes.PermissionDenied, reason: "no_gateway_identity"},
	} {
		for _, delta := range []bool{false, true} {
			t.Run(name+map[bool]string{false: "/sotw", true: "/delta"}[delta], func(t *testing.T) {
				before := testutil.ToFloat64(m.Denied.WithLabelValues(tc.reason))
				n, err := firstResponse(t, connect(tc.identity), tc.asks, delta)
				if got := grpcstatus.Code(err); got != tc.want {
					t.Fatalf("stream ended with %v (%v), want %v", got, err, tc.want)
				}
				if tc.want == codes.OK {
					if n != 1 {
						t.Fatalf("own Gateway: %d listeners, want 1", n)
					}
					return
				}
				if n != 0 {
					t.Fatalf("refused stream received %d resources", n)
				}
				if got := testutil.ToFloat64(m.Denied.WithLabelValues(tc.reason)) - before; got != 1 {
					t.Fatalf("denied{reason=%s} grew by %v, want 1", tc.reason, got)
				}
			})
		}
	}
}
