package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// TestKubernetesExternalIdentityProvider runs the external identity
// provider in Kubernetes mode: gatewarden reads the ExternalName Service,
// the BackendTLSPolicy and the CA from a ConfigMap (through its trimmed
// cache) from the API server, and Envoy verifies tokens with the keys it
// fetched over HTTPS. Then the CA is replaced with another: the policy's
// change alone reaches Envoy, whose fetches then fail on the certificate.
func TestKubernetesExternalIdentityProvider(t *testing.T) {
	k, gwPort := startGuideKube(t)
	ca, wrongCA := testenv.NewCA(t, "identity provider CA"), testenv.NewCA(t, "another CA")
	key := newKey(t, jwt.GenerateRSA, "key-1")
	idp := startJWKSServer(t, ca, key)
	manifests := func(caPEM []byte) string { return idpManifests(t, idp.port, caPEM, 3*time.Second) }
	k.kubectl(manifests(ca.CertPEM), "apply", "-f-")
	g := k.startGatewarden(k.kubeconfig)
	startEnvoy(t, "gloo-system/http", g.XDSAddress)
	url := fmt.Sprintf("http://127.0.0.1:%d/headers", gwPort)
	tok, err := jwt.Mint(key, nil, jwt.MintOptions{Issuer: "https://" + idpHost + "/", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	bearer := "Authorization: Bearer " + tok
	want := func(what string, code int) {
		t.Helper()
		took := eventually(t, 30*time.Second, what, func() string {
			if a := get(t, url, guideHost, bearer); a.code != code {
				return fmt.Sprintf("got %s, want %d", a, code)
			}
			return ""
		})
		t.Logf("%s after %s", what, took.Round(time.Millisecond))
	}
	want("a token verified with keys fetched through the BackendTLSPolicy's CA", 200)
	k.waitCondition("virtualhostoption", "gloo-system", "jwt", ".status.ancestors[0]", "Accepted", "True")
	if a := get(t, url, guideHost); a.code != 401 {
		t.Errorf("no token: %s, want 401", a)
	}

	// An unrelated ConfigMap does not reach the translation; a new CA does.
	k.kubectl("", "create", "configmap", "unrelated", "-n", "gloo-system", "--from-literal=big=data")
	k.kubectl(manifests(wrongCA.CertPEM), "apply", "-f-")
	// The listener keeps its keys (the CA is the cluster's, not the
	// listener's); the next fetch, after cacheDuration, fails on the
	// certificate: Envoy keeps the last keys and counts the failures.
	time.Sleep(4 * time.Second)
	if a := get(t, url, guideHost, bearer); a.code != 200 {
		t.Errorf("after the CA changed, cached keys: %s, want 200", a)
	}
	if strings.Contains(g.Output(), "BackendTLSPolicy CRD") {
		t.Errorf("gatewarden warned of a missing BackendTLSPolicy CRD although it is installed")
	}
}

// TestKubernetesWithoutBackendTLSPolicyCRD starts gatewarden on a cluster
// whose Gateway API CRDs predate BackendTLSPolicy: it says so and serves.
func TestKubernetesWithoutBackendTLSPolicyCRD(t *testing.T) {
	dir := t.TempDir()
	std := testenv.GatewayAPICRDs(t)
	for _, name := range []string{"gatewayclasses", "gateways", "httproutes", "referencegrants"} {
		data, err := os.ReadFile(filepath.Join(std, "gateway.networking.k8s.io_"+name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := testenv.KubeEnvironment(t)
	env.CRDDirectoryPaths = []string{dir, filepath.Join(testenv.RepoRoot(), "crds")}
	k := startKubeWith(t, env)
	gwPort := k.guideCluster()
	g := k.startGatewarden(k.kubeconfig)
	startEnvoy(t, "gloo-system/http", g.XDSAddress)
	url := fmt.Sprintf("http://127.0.0.1:%d/headers", gwPort)
	eventually(t, 30*time.Second, "the route served without the BackendTLSPolicy CRD", func() string {
		if a := get(t, url, guideHost); a.code != 200 {
			return a.String()
		}
		return ""
	})
	if !strings.Contains(g.Output(), "the BackendTLSPolicy CRD (gateway.networking.k8s.io/v1) is not installed") {
		t.Errorf("gatewarden did not say the BackendTLSPolicy CRD is missing:\n%s", testenv.Tail(g.Output(), 20))
	}
}
