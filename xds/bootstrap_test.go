package xds_test

import (
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/xds"
)

func TestBootstrapIsValidForEnvoy(t *testing.T) {
	certs := testenv.NewCerts(t)
	creds := testenv.CredentialsDir(t, "gloo-system", "http")
	for name, o := range map[string]xds.BootstrapOptions{
		"credentials directory": {Gateway: "gloo-system/http", XDSAddress: "gatewarden.test:18000", TLS: xds.BootstrapTLS{Dir: creds}},
		"mutual TLS": {Gateway: "gloo-system/http", XDSAddress: "gatewarden.test:18000",
			TLS: xds.BootstrapTLS{CAFile: certs.CA, CertFile: certs.ClientCert, KeyFile: certs.ClientKey}},
		"TLS to an IP":   {Gateway: "gloo-system/http", XDSAddress: "127.0.0.1:18000", TLS: xds.BootstrapTLS{CAFile: certs.CA}},
		"delta, IP":      {Gateway: "gloo-system/http", XDSAddress: "127.0.0.1:18000", AdminAddress: "127.0.0.1:19000"},
		"sotw, DNS":      {Gateway: "gloo-system/http", XDSAddress: "gatewarden.gatewarden-system.svc:18000", SotW: true},
		"custom nodeID":  {Gateway: "a/b", XDSAddress: "[::1]:18000", NodeID: "edge-1"},
		"metrics port":   {Gateway: "a/b", XDSAddress: "127.0.0.1:18000", AdminAddress: "127.0.0.1:19000", MetricsAddress: "0.0.0.0:19001"},
		"readiness port": {Gateway: "a/b", XDSAddress: "127.0.0.1:18000", AdminAddress: "127.0.0.1:19000", ReadyAddress: "0.0.0.0:19002"},
		"metrics and readiness ports": {Gateway: "a/b", XDSAddress: "gatewarden.gatewarden-system.svc.cluster.local:18000", AdminAddress: "127.0.0.1:19000",
			MetricsAddress: "0.0.0.0:19001", ReadyAddress: "0.0.0.0:19002", TLS: xds.BootstrapTLS{Dir: creds}},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := xds.Bootstrap(o)
			if err != nil {
				t.Fatal(err)
			}
			js, err := sigsyaml.YAMLToJSON(out)
			if err != nil {
				t.Fatal(err)
			}
			b := &bootstrapv3.Bootstrap{}
			if err := protojson.Unmarshal(js, b); err != nil {
				t.Fatalf("the bootstrap is not an Envoy Bootstrap: %v\n%s", err, out)
			}
			if b.Node.Cluster != o.Gateway {
				t.Fatalf("node cluster = %q, want %q", b.Node.Cluster, o.Gateway)
			}
			wantAPI := "DELTA_GRPC"
			if o.SotW {
				wantAPI = "GRPC"
			}
			if got := b.DynamicResources.AdsConfig.ApiType.String(); got != wantAPI {
				t.Fatalf("ADS api type = %s, want %s", got, wantAPI)
			}
			ka := string(js)
			if !strings.Contains(ka, `"connection_keepalive":{"interval":"30s"`) {
				t.Fatalf("no HTTP/2 keepalive toward gatewarden: %s", out)
			}
			testenv.ValidateEnvoyConfig(t, b)
		})
	}
	if _, err := xds.Bootstrap(xds.BootstrapOptions{Gateway: "a/b", XDSAddress: "h:1", TLS: xds.BootstrapTLS{CertFile: "c"}}); err == nil {
		t.Error("TLS without a CA, and a certificate without its key, were accepted")
	}
	if _, err := xds.Bootstrap(xds.BootstrapOptions{Gateway: "a/b", XDSAddress: "h:1", MetricsAddress: "0.0.0.0:19001"}); err == nil || !strings.Contains(err.Error(), "admin address is required") {
		t.Errorf("a metrics address without an admin address: error = %v, want one saying the admin address is required", err)
	}
	if _, err := xds.Bootstrap(xds.BootstrapOptions{Gateway: "a/b", XDSAddress: "h:1", ReadyAddress: "0.0.0.0:19002"}); err == nil || !strings.Contains(err.Error(), "admin address is required") {
		t.Errorf("a readiness address without an admin address: error = %v, want one saying the admin address is required", err)
	}
	for _, bad := range []xds.BootstrapOptions{
		{Gateway: "http", XDSAddress: "127.0.0.1:1"},
		{Gateway: "a/b", XDSAddress: "no-port"},
		{Gateway: "a/b", XDSAddress: "h:99999"},
	} {
		if _, err := xds.Bootstrap(bad); err == nil || !strings.Contains(err.Error(), bad.XDSAddress[:1]) && !strings.Contains(err.Error(), bad.Gateway) {
			t.Errorf("Bootstrap(%+v) error = %v, want one naming the bad value", bad, err)
		}
	}
}
