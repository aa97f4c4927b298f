package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/provision"
	"github.com/gatewarden/gatewarden/internal/testenv"
)

// TestKubernetesProvisionedEnvoy runs real Envoy as the Pod gatewarden
// provisions would: the Deployment's own arguments, the bootstrap of its
// ConfigMap and the files of the Gateway's xDS Secret, read through the API
// server (no kubelet runs here; the Pod's network namespace is stood in for
// by moving its fixed ports to free ones). The Envoy authenticates to
// gatewarden with the Gateway's certificate (mutual TLS with gatewarden's
// own CA, no manual step), serves the guide's route, and its readiness
// listener answers GET /ready and nothing of the admin interface.
func TestKubernetesProvisionedEnvoy(t *testing.T) {
	k, gwPort := startGuideKube(t)
	xdsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	server := "gatewarden.gatewarden-system.svc.cluster.local"
	g := k.startGatewardenOn(xdsAddr, k.kubeconfig, "--xds-auth", "mtls",
		"--provision", "--provision-xds-address", xdsAddr, "--provision-xds-server-name", server)

	name := "http-gatewarden"
	var dep appsv1.Deployment
	eventually(t, 20*time.Second, "Deployment gloo-system/"+name, func() string {
		out, err := k.tryKubectl("", "get", "deployment", name, "-n", "gloo-system", "-o", "json")
		if err != nil {
			return out
		}
		if err := yaml.Unmarshal([]byte(out), &dep); err != nil {
			return err.Error()
		}
		return ""
	})
	boot := k.kubectl("", "get", "configmap", name, "-n", "gloo-system", "-o", "jsonpath={.data.envoy\\.yaml}")
	creds := k.secretDir("gloo-system", "xds.gloo-system.http")
	// The Pod's own ports, moved to free ones of this host.
	ready, metrics, admin := freePort(t), freePort(t), freePort(t)
	for _, r := range [][2]string{
		{provision.XDSCredentialsDir, creds},
		{fmt.Sprintf("port_value: %d", provision.ReadyPort), fmt.Sprintf("port_value: %d", ready)},
		{fmt.Sprintf("port_value: %d", provision.MetricsPort), fmt.Sprintf("port_value: %d", metrics)},
		{"port_value: 19000", fmt.Sprintf("port_value: %d", admin)},
	} {
		if !strings.Contains(boot, r[0]) {
			t.Fatalf("the provisioned bootstrap has no %q:\n%s", r[0], boot)
		}
		boot = strings.ReplaceAll(boot, r[0], r[1])
	}
	path := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(path, []byte(boot), 0o644); err != nil {
		t.Fatal(err)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	var args []string
	for i := 0; i < len(c.Args); i++ {
		switch c.Args[i] {
		case "--config-path":
			args = append(args, c.Args[i], path)
			i++
		default:
			args = append(args, strings.ReplaceAll(c.Args[i], "$(POD_NAME)", "http-gatewarden-pod-1"))
		}
	}
	if c.Command[0] != "envoy" {
		t.Fatalf("container command %v, want envoy", c.Command)
	}
	envoy := testenv.RunProcess(t, testenv.Envoy(t), append(args, "--use-dynamic-base-id"), testenv.ProcessOptions{})

	readyURL := fmt.Sprintf("http://127.0.0.1:%d", ready)
	took := eventually(t, 20*time.Second, "the readiness probe's GET /ready answers 200", func() string {
		resp, err := http.Get(readyURL + "/ready")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return resp.Status
		}
		return ""
	})
	t.Logf("provisioned Envoy ready %v after it started", took.Round(time.Millisecond))
	url := fmt.Sprintf("http://127.0.0.1:%d/headers", gwPort)
	eventually(t, 10*time.Second, "the guide's route served by the provisioned Envoy", func() string {
		if a := get(t, url, guideHost); a.code != 200 {
			return a.String()
		}
		return ""
	})
	// The readiness and metrics listeners forward one path each, never the
	// admin interface.
	for _, probe := range []struct{ method, url string }{
		{"GET", readyURL + "/config_dump"},
		{"POST", readyURL + "/quitquitquit"},
		{"POST", readyURL + "/ready/../quitquitquit"},
		{"GET", readyURL + "/stats/prometheus"},
		{"POST", readyURL + "/ready"},
		{"GET", fmt.Sprintf("http://127.0.0.1:%d/ready", metrics)},
		{"GET", fmt.Sprintf("http://127.0.0.1:%d/config_dump", metrics)},
	} {
		if a := do(t, probe.method, probe.url, ""); a.code != 404 {
			t.Errorf("%s %s: %v, want 404", probe.method, probe.url, a)
		}
	}
	if !envoy.Running() {
		t.Fatalf("Envoy stopped:\n%s", testenv.Tail(envoy.Output(), 20))
	}
	if out := g.Output(); !strings.Contains(out, "xDS over mutual TLS with gatewarden's CA") {
		t.Fatalf("gatewarden did not require client certificates:\n%s", testenv.Tail(out, 20))
	}
}
