package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// TestXDSMutualTLS serves xDS over mutual TLS: Envoy with the bootstrap's
// client certificate gets its configuration and serves the guide; a client
// without a certificate, or one that does not trust gatewarden's, gets none.
func TestXDSMutualTLS(t *testing.T) {
	certs := testenv.NewCerts(t)
	e := startDirEnvWith(t, false, guideFiles,
		[]string{"--xds-tls-cert", certs.ServerCert, "--xds-tls-key", certs.ServerKey, "--xds-tls-client-ca", certs.CA},
		[]string{"--xds-tls-ca", certs.CA, "--xds-tls-cert", certs.ClientCert, "--xds-tls-key", certs.ClientKey})
	took := eventually(t, 15*time.Second, "Envoy configured over mutual TLS", func() string {
		if a := e.get(); a.code != 200 {
			return a.String()
		}
		return ""
	})
	t.Logf("Envoy with a client certificate: configured, route served after %v", took.Round(time.Millisecond))

	fetch := func(cfg *tls.Config) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		conn, err := grpc.NewClient(e.xdsAddr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			return err
		}
		defer conn.Close()
		stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
		if err != nil {
			return err
		}
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "intruder", Cluster: "gloo-system/http"}, TypeUrl: resourcev3.ListenerType}); err != nil {
			return err
		}
		_, err = stream.Recv()
		return err
	}
	pool := func(path string) *x509.CertPool {
		pem, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p := x509.NewCertPool()
		p.AppendCertsFromPEM(pem)
		return p
	}
	clientCert, err := tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := fetch(&tls.Config{RootCAs: pool(certs.CA), ServerName: "gatewarden.test", Certificates: []tls.Certificate{clientCert}}); err != nil {
		t.Fatalf("a client with a valid certificate got no configuration: %v", err)
	}
	if err := fetch(&tls.Config{RootCAs: pool(certs.CA), ServerName: "gatewarden.test"}); err == nil {
		t.Fatal("a client without a certificate received configuration")
	} else {
		t.Logf("client without a certificate: refused (%v)", err)
	}
	if err := fetch(&tls.Config{RootCAs: pool(certs.OtherCA), ServerName: "gatewarden.test", Certificates: []tls.Certificate{clientCert}}); err == nil {
		t.Fatal("a client that does not trust gatewarden's certificate received configuration")
	}
}
