package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/pki"
)

// secureGateway is Gateway b of TestXDSClientsBoundToTheirGateway: an
// HTTPS listener whose certificate's key must never leave gatewarden
// toward another Gateway's proxy.
func secureGateway(t *testing.T, port int) (manifest, keyPEM string) {
	t.Helper()
	ca := testenv.NewCA(t, "site CA")
	pair, err := ca.IssueServer([]string{"secure.example.com"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: team-b}
---
apiVersion: v1
kind: Secret
metadata: {name: secure-cert, namespace: team-b}
type: kubernetes.io/tls
data: {tls.crt: %s, tls.key: %s}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: secure, namespace: team-b}
spec:
  gatewayClassName: gatewarden
  listeners:
  - name: https
    protocol: HTTPS
    port: %d
    hostname: secure.example.com
    tls:
      certificateRefs: [{name: secure-cert}]
`, b64(pair.CertPEM), b64(pair.KeyPEM), port), string(pair.KeyPEM)
}

// TestXDSClientsBoundToTheirGateway runs gatewarden in directory mode with
// client certificates required, two Gateways (a: the guide's,
// gloo-system/http; b: team-b/secure, with an HTTPS listener) and real
// Envoys: the Envoy holding a's certificate and asking for a is served;
// one holding a's certificate and asking for b gets no listener and no
// secret; one without a certificate gets nothing; a plain-text client and
// a forged NACK change nothing. a's Envoy then takes a renewed certificate
// without a restart.
func TestXDSClientsBoundToTheirGateway(t *testing.T) {
	bin := testenv.GatewardenBinary(t)
	pkiDir := t.TempDir()
	certs := func(args ...string) {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"certs"}, args...)...).Output()
		if err != nil {
			t.Fatalf("gatewarden certs %s: %v", strings.Join(args, " "), err)
		}
		t.Logf("gatewarden certs %s: %s", args[0], strings.TrimSpace(string(out)))
	}
	caDir, serverDir, aDir := filepath.Join(pkiDir, "ca"), filepath.Join(pkiDir, "server"), filepath.Join(pkiDir, "gloo-system-http")
	certs("ca", "--out", caDir)
	certs("server", "--ca", caDir, "--host", "127.0.0.1", "--out", serverDir)
	certs("gateway", "--ca", caDir, "--gateway", "gloo-system/http", "--out", aDir)

	var bKey string
	bPort := freePort(t)
	e := startDirEnvWith(t, false, func(e *dirEnv) {
		guideFiles(e)
		var m string
		m, bKey = secureGateway(t, bPort)
		e.write("team-b.yaml", m)
	}, []string{"--xds-tls-cert", filepath.Join(serverDir, "tls.crt"), "--xds-tls-key", filepath.Join(serverDir, "tls.key"),
		"--xds-tls-client-ca", filepath.Join(caDir, "ca.crt")},
		[]string{"--xds-tls-dir", aDir})
	took := eventually(t, 15*time.Second, "Envoy with a's certificate asking for a served", func() string {
		if a := e.get(); a.code != 200 {
			return a.String()
		}
		return ""
	})
	t.Logf("a's certificate, asking for a: route served after %v", took.Round(time.Millisecond))
	if v := e.versions()["team-b/secure"]; v == "" {
		t.Fatalf("Gateway b is not served at all (versions %v): the test would prove nothing", e.versions())
	}

	// Envoys that must get nothing: a's certificate asking for b, and no
	// certificate at all (TLS, trusting gatewarden).
	thief := testenv.RunEnvoy(t, testenv.EnvoyOptions{Gateway: "team-b/secure", XDSAddress: e.xdsAddr,
		BootstrapFlags: []string{"--xds-tls-dir", aDir}, AdminWithin: 10 * time.Second}).AdminAddress
	anonymous := testenv.RunEnvoy(t, testenv.EnvoyOptions{Gateway: "team-b/secure", XDSAddress: e.xdsAddr,
		BootstrapFlags: []string{"--xds-tls-ca", filepath.Join(caDir, "ca.crt")}, AdminWithin: 10 * time.Second}).AdminAddress
	eventually(t, 10*time.Second, "the refusal of a's certificate asking for b counted", func() string {
		if n := metric(t, e.adminURL, `gatewarden_xds_denied_total{reason="gateway_mismatch"}`); n < 1 {
			return fmt.Sprintf("denied = %v", n)
		}
		return ""
	})
	time.Sleep(2 * time.Second) // retries of both Envoys
	for name, admin := range map[string]string{"a's certificate asking for b": thief, "no certificate": anonymous} {
		dump := httpGet(t, "http://"+admin+"/config_dump?include_eds")
		// Its own client certificate (from its SDS files) is its only
		// secret: b's would be named after b's Secret.
		for _, leak := range []string{"dynamic_listeners", "secure-cert", "secure.example.com", "BEGIN PRIVATE KEY", "dynamic_active_clusters"} {
			if strings.Contains(dump, leak) {
				t.Fatalf("Envoy with %s received configuration (%q in its config dump)", name, leak)
			}
		}
		if c := httpGet(t, "http://"+admin+"/certs"); strings.Contains(c, "secure.example.com") {
			t.Fatalf("Envoy with %s holds b's certificate: %s", name, c)
		}
		t.Logf("Envoy with %s: no listener, no cluster, no secret in its config dump", name)
	}
	if strings.Contains(e.gatewarden.Output(), strings.TrimSpace(bKey)[40:80]) {
		t.Fatal("b's private key appears in gatewarden's log")
	}

	// A plain-text client is refused before any request is read.
	if _, err := firstXDS(t, e.xdsAddr, insecure.NewCredentials(), "gloo-system/http", false); err == nil {
		t.Fatal("a plain-text client was served")
	} else {
		t.Logf("plain-text client: refused (%v)", err)
	}

	// A forged NACK: a's certificate cannot reach b's stream, so it cannot
	// mark b not programmed.
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(caDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	aCert, err := tls.LoadX509KeyPair(filepath.Join(aDir, "tls.crt"), filepath.Join(aDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{aCert}, ServerName: "127.0.0.1"})
	if _, err := firstXDS(t, e.xdsAddr, creds, "team-b/secure", true); grpcstatus.Code(err) != codes.PermissionDenied {
		t.Fatalf("a forged NACK for b with a's certificate: %v, want PermissionDenied", err)
	}
	if strings.Contains(httpGet(t, e.adminURL+"/debug/config"), "forged") {
		t.Fatal("the forged NACK reached the status")
	}
	if strings.Contains(e.gatewarden.Output(), "Gateway not programmed") {
		t.Fatalf("a Gateway was marked not programmed:\n%s", testenv.Tail(e.gatewarden.Output(), 20))
	}
	t.Log("forged NACK for b with a's certificate: PermissionDenied, no status changed")

	// Renewal: a new certificate for a, written in place, is taken by the
	// running Envoy from its SDS files.
	before := certSerial(t, filepath.Join(aDir, "tls.crt"))
	certs("gateway", "--ca", caDir, "--gateway", "gloo-system/http", "--out", aDir)
	after := certSerial(t, filepath.Join(aDir, "tls.crt"))
	took = eventually(t, 15*time.Second, "Envoy took the renewed client certificate", func() string {
		c := httpGet(t, "http://"+e.envoyAdmin+"/certs")
		if !strings.Contains(c, after) {
			return "serial " + after + " not in /certs (had " + before + ")"
		}
		return ""
	})
	e.checkEnvoy()
	if a := e.get(); a.code != 200 {
		t.Fatalf("after the renewal: %s", a)
	}
	t.Logf("renewed certificate (serial %s -> %s) in use after %v, same Envoy process, still served", before[:8], after[:8], took.Round(time.Millisecond))
}

// firstXDS opens an ADS stream as gateway and returns the first response;
// with nack, it answers it with a NACK first.
func firstXDS(t *testing.T, addr string, creds credentials.TransportCredentials, gateway string, nack bool) (*discoveryv3.DiscoveryResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	st, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	node := &corev3.Node{Id: "intruder", Cluster: gateway}
	req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.ListenerType}
	if nack {
		// A NACK of a response never received: the nonce is guessed.
		req.ResponseNonce, req.ErrorDetail = "1", &status.Status{Code: 3, Message: "forged rejection"}
	}
	if err := st.Send(req); err != nil {
		return nil, err
	}
	return st.Recv()
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metric reads one series of gatewarden's /metrics (0 when absent).
func metric(t *testing.T, adminURL, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(httpGet(t, adminURL+"/metrics"), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

func certSerial(t *testing.T, path string) string {
	t.Helper()
	c, err := pki.ParseCertificate([]byte(readFile(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", c.SerialNumber)
}
