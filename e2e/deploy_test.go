package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	grpcstatus "google.golang.org/grpc/status"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// TestDeployManifests applies deploy/ (CRDs, RBAC, Deployments, Services)
// and deploy/samples to a real API server, then runs gatewarden with the
// token of the ServiceAccount deploy/ creates: the guide's first policy is
// enforced and its status written, which proves the RBAC is enough.
func TestDeployManifests(t *testing.T) {
	checkGenerated(t)
	k := startKubeWith(t, &envtest.Environment{BinaryAssetsDirectory: testenv.KubeAssets(t)}) // no CRDs: deploy/ brings them

	out := k.kubectl("", "apply", "-k", filepath.Join(testenv.RepoRoot(), "deploy"))
	t.Logf("kubectl apply -k deploy/:\n%s", out)
	k.kubectl("", "wait", "--for=condition=Established", "crd", "--all", "--timeout=30s")
	out = k.kubectl("", "apply", "-k", filepath.Join(testenv.RepoRoot(), "deploy", "samples"))
	t.Logf("kubectl apply -k deploy/samples:\n%s", out)

	// httpbin runs here, not in a Pod: write the EndpointSlice the endpoint
	// controller would.
	httpbinPort, gwPort := startHTTPBin(t), freePort(t)
	k.kubectl(fmt.Sprintf(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: httpbin-local, namespace: httpbin, labels: {kubernetes.io/service-name: httpbin}}
addressType: FQDN
ports: [{name: http, port: %d}]
endpoints: [{addresses: [httpbin.localhost]}]
`, httpbinPort), "apply", "-f-")
	k.kubectl("", "patch", "gateway", "http", "-n", "gloo-system", "--type=json",
		"-p", fmt.Sprintf(`[{"op":"replace","path":"/spec/listeners/0/port","value":%d}]`, gwPort))

	// gatewarden as the ServiceAccount of deploy/.
	token := strings.TrimSpace(k.kubectl("", "create", "token", "gatewarden", "-n", "gatewarden-system"))
	saKubeconfig := k.tokenKubeconfig(token)
	// Provisioning needs to write Deployments, Services and the Gateways'
	// Secrets; never to change a Gateway or a route, delete a Secret, make a
	// Pod itself or grant itself rights.
	for _, verb := range []string{"delete gateways", "update gateways", "delete secrets", "create httproutes", "create pods", "create clusterrolebindings", "escalate clusterroles"} {
		// can-i exits 1 when the answer is no.
		can, _ := k.tryKubectl("", append([]string{"auth", "can-i"}, append(strings.Fields(verb), "--as=system:serviceaccount:gatewarden-system:gatewarden", "-A")...)...)
		if strings.TrimSpace(can) != "no" {
			t.Fatalf("the ServiceAccount may %s (%q): deploy/ RBAC is not least privilege", verb, strings.TrimSpace(can))
		}
	}
	// The statuses it writes, of BackendTLSPolicies among them.
	for _, res := range []string{"gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io", "backendtlspolicies.gateway.networking.k8s.io", "virtualhostoptions.gateway.solo.io"} {
		can, _ := k.tryKubectl("", "auth", "can-i", "patch", res, "--subresource=status", "--as=system:serviceaccount:gatewarden-system:gatewarden", "-A")
		if strings.TrimSpace(can) != "yes" {
			t.Fatalf("the ServiceAccount may not patch the status of %s (%q): deploy/ RBAC misses it", res, strings.TrimSpace(can))
		}
	}
	// As deploy/ runs it: xDS authenticated with gatewarden's own CA (forced
	// here, where the xDS address is loopback), each Gateway's Envoys
	// provisioned.
	g := k.startGatewarden(saKubeconfig, "--gateway-address", "127.0.0.1", "--xds-auth", "mtls", "--provision")
	// The provisioned Envoy Pods mount the Secret gatewarden writes next to
	// its Gateway: the same files, read through the API server, for an
	// Envoy run here with the flags of the provisioned bootstrap.
	creds := k.secretDir("gloo-system", "xds.gloo-system.http")
	k.provisioned("gloo-system", "http-gatewarden", "127.0.0.1")
	testenv.RunEnvoy(t, testenv.EnvoyOptions{Gateway: "gloo-system/http", XDSAddress: g.XDSAddress, AdminWithin: 10 * time.Second,
		BootstrapFlags: []string{"--xds-tls-dir", creds, "--xds-tls-sni", "gatewarden.gatewarden-system.svc.cluster.local"}})
	url := fmt.Sprintf("http://127.0.0.1:%d/headers", gwPort)
	eventually(t, 30*time.Second, "route served", func() string {
		if a := get(t, url, guideHost); a.code != 200 {
			return a.String()
		}
		return ""
	})
	k.applyFile("examples/gateway-jwt/virtualhostoption.yaml")
	eventually(t, propagation, "JWT enforced", func() string {
		if a := get(t, url, guideHost); a.code != 401 {
			return a.String()
		}
		return ""
	})
	k.waitCondition("virtualhostoption", "gloo-system", "jwt", ".status.ancestors[0]", "Accepted", "True")
	k.waitCondition("gateway", "gloo-system", "http", ".status", "Programmed", "True")
	addr := k.kubectl("", "get", "gateway", "http", "-n", "gloo-system", "-o", "jsonpath={.status.addresses[0].type}/{.status.addresses[0].value}")
	if addr != "IPAddress/127.0.0.1" {
		t.Fatalf("Gateway status.addresses = %q, want IPAddress/127.0.0.1", addr)
	}
	if logs := g.Output(); strings.Contains(logs, "forbidden") {
		t.Fatalf("gatewarden was refused something with deploy/'s RBAC:\n%s", testenv.Tail(logs, 30))
	}
	t.Logf("gatewarden as system:serviceaccount:gatewarden-system:gatewarden: served, enforced, status written (address %q)", addr)

	// Another identity is refused: the Gateway's certificate asking for
	// another Gateway, a certificate of another CA, no TLS at all.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(readFile(t, filepath.Join(creds, "ca.crt"))))
	own, err := tls.LoadX509KeyPair(filepath.Join(creds, "tls.crt"), filepath.Join(creds, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	server := "gatewarden.gatewarden-system.svc.cluster.local"
	withCert := credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{own}, ServerName: server})
	if resp, err := firstXDS(t, g.XDSAddress, withCert, "gloo-system/http", false); err != nil || len(resp.Resources) != 1 {
		t.Fatalf("the Gateway's own certificate: %v (%d listeners), want its listener", err, len(resp.GetResources()))
	}
	if _, err := firstXDS(t, g.XDSAddress, withCert, "gatewarden-system/other", false); grpcstatus.Code(err) != codes.PermissionDenied {
		t.Fatalf("gloo-system/http's certificate asking for another Gateway: %v, want PermissionDenied", err)
	}
	other := testenv.NewCerts(t) // a CA gatewarden does not know; its client names gloo-system/http
	otherCert, err := tls.LoadX509KeyPair(other.ClientCert, other.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := firstXDS(t, g.XDSAddress, credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{otherCert}, ServerName: server}), "gloo-system/http", false); err == nil {
		t.Fatal("a certificate of another CA naming gloo-system/http was served")
	}
	if _, err := firstXDS(t, g.XDSAddress, insecure.NewCredentials(), "gloo-system/http", false); err == nil {
		t.Fatal("a plain-text client was served")
	}
	t.Log("deployed Envoy served over mutual TLS; another Gateway's identity, another CA's certificate and plain text refused")
}

// secretDir writes the data of a Secret into a directory, as the kubelet
// mounts it.
func (k *kubeEnv) secretDir(namespace, name string) string {
	k.t.Helper()
	var data map[string]string
	eventually(k.t, 30*time.Second, "Secret "+namespace+"/"+name+" written by gatewarden", func() string {
		out, err := k.tryKubectl("", "get", "secret", name, "-n", namespace, "-o", "jsonpath={.data}")
		if err != nil || out == "" {
			return fmt.Sprintf("%v %s", err, out)
		}
		if err := json.Unmarshal([]byte(out), &data); err != nil {
			return err.Error()
		}
		return ""
	})
	dir := k.t.TempDir()
	for key, v := range data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			k.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, key), b, 0o600); err != nil {
			k.t.Fatal(err)
		}
	}
	return dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tokenKubeconfig writes a kubeconfig for the API server with a bearer token.
func (k *kubeEnv) tokenKubeconfig(token string) string {
	k.t.Helper()
	ca := base64.StdEncoding.EncodeToString(k.cfg.CAData)
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: envtest, cluster: {server: %q, certificate-authority-data: %s}}]
users: [{name: sa, user: {token: %q}}]
contexts: [{name: sa, context: {cluster: envtest, user: sa}}]
current-context: sa
`, k.cfg.Host, ca, token)
	path := filepath.Join(k.t.TempDir(), "sa-kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		k.t.Fatal(err)
	}
	return path
}

// checkGenerated fails when deploy/'s generated files are stale.
func checkGenerated(t *testing.T) {
	t.Helper()
	root := testenv.RepoRoot()
	for _, name := range []string{"gateway.solo.io_virtualhostoptions.yaml", "gateway.solo.io_routeoptions.yaml", "gatewarden.io_gatewayparameters.yaml"} {
		a, err1 := os.ReadFile(filepath.Join(root, "crds", name))
		b, err2 := os.ReadFile(filepath.Join(root, "deploy", "crds", name))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("deploy/crds/%s differs from crds/%s: run `make generate`", name, name)
		}
	}
	gwapi := testenv.GatewayAPICRDs(t)
	for _, k := range []string{"gatewayclasses", "gateways", "httproutes", "referencegrants"} {
		name := "gateway.networking.k8s.io_" + k + ".yaml"
		a, err1 := os.ReadFile(filepath.Join(gwapi, name))
		b, err2 := os.ReadFile(filepath.Join(root, "deploy", "gateway-api", name))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("deploy/gateway-api/%s differs from the gateway-api module's: run `make generate`", name)
		}
	}
}

// provisioned waits for the Deployment and Service gatewarden provisions
// (with the RBAC under test) and writes the status a kubelet and a cloud's
// load balancer controller would: an available replica, address lbIP.
func (k *kubeEnv) provisioned(namespace, name, lbIP string) {
	k.t.Helper()
	eventually(k.t, 30*time.Second, "Deployment and Service "+namespace+"/"+name+" provisioned", func() string {
		if out, err := k.tryKubectl("", "get", "deployment,service", name, "-n", namespace, "-o", "name"); err != nil {
			return fmt.Sprintf("%v %s", err, out)
		}
		return ""
	})
	k.kubectl("", "patch", "deployment", name, "-n", namespace, "--subresource=status", "--type=merge",
		"-p", `{"status":{"replicas":1,"readyReplicas":1,"availableReplicas":1,"updatedReplicas":1}}`)
	k.kubectl("", "patch", "service", name, "-n", namespace, "--subresource=status", "--type=merge",
		"-p", fmt.Sprintf(`{"status":{"loadBalancer":{"ingress":[{"ip":%q}]}}}`, lbIP))
}
