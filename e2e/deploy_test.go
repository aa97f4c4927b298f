package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	for _, verb := range []string{"delete gateways", "update gateways", "update secrets", "delete secrets", "create httproutes", "patch services"} {
		// can-i exits 1 when the answer is no.
		can, _ := k.tryKubectl("", append([]string{"auth", "can-i"}, append(strings.Fields(verb), "--as=system:serviceaccount:gatewarden-system:gatewarden", "-A")...)...)
		if strings.TrimSpace(can) != "no" {
			t.Fatalf("the ServiceAccount may %s (%q): deploy/ RBAC is not least privilege", verb, strings.TrimSpace(can))
		}
	}
	g := k.startGatewarden(saKubeconfig, "--gateway-address", "127.0.0.1")
	startEnvoy(t, "gloo-system/http", g.xdsAddr)
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
	if logs := g.proc.Output(); strings.Contains(logs, "forbidden") {
		t.Fatalf("gatewarden was refused something with deploy/'s RBAC:\n%s", tail(logs, 30))
	}
	t.Logf("gatewarden as system:serviceaccount:gatewarden-system:gatewarden: served, enforced, status written (address %q)", addr)
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
	for _, name := range []string{"gateway.solo.io_virtualhostoptions.yaml", "gateway.solo.io_routeoptions.yaml"} {
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
	boot, err := exec.Command(gatewardenBinary(t), "bootstrap", "--gateway", "gloo-system/http",
		"--xds-address", "gatewarden.gatewarden-system.svc.cluster.local:18000", "--envoy-admin-address", "127.0.0.1:19000",
		"--xds-tls-dir", "/etc/gatewarden/xds-tls").Output()
	if err != nil {
		t.Fatal(err)
	}
	envoyYAML, err := os.ReadFile(filepath.Join(root, "deploy", "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	indented := "    " + strings.ReplaceAll(strings.TrimRight(string(boot), "\n"), "\n", "\n    ")
	if !strings.Contains(string(envoyYAML), indented) {
		t.Fatal("deploy/envoy.yaml does not hold the current `gatewarden bootstrap` output: run `make generate`")
	}
}
