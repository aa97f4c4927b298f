// Package charts tests the Helm chart: it lints and renders it with the
// pinned helm (hack/install-helm.sh) and checks that deploy/ is its
// rendering and its CRDs are those of crds/ and the gateway-api module.
package charts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// helm returns the pinned helm binary, failing with the command that
// installs it.
func helm(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(testenv.RepoRoot(), ".cache", "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("helm is not installed (%v): run hack/install-helm.sh (or `make helm`)", err)
	}
	return bin
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = testenv.RepoRoot()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// docs splits a multi-document YAML stream into its non-empty documents.
func docs(s string) []string {
	var out []string
	for _, d := range strings.Split(s, "\n---") {
		if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(d), "---")) != "" {
			out = append(out, d)
		}
	}
	return out
}

type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func TestChartLintAndTemplate(t *testing.T) {
	h := helm(t)
	t.Log(strings.TrimSpace(run(t, h, "lint", "--strict", "charts/gatewarden")))
	for name, set := range map[string][]string{
		"defaults":                 nil,
		"no provisioning":          {"--set", "provisioning.enabled=false"},
		"ServiceMonitor, no CRDs":  {"--set", "metrics.serviceMonitor.enabled=true", "--set", "crds.install=false", "--set", "gatewayAPI.installCRDs=false"},
		"no PDB, no election, one": {"--set", "podDisruptionBudget.enabled=false", "--set", "leaderElection.enabled=false", "--set", "replicas=1"},
	} {
		t.Run(name, func(t *testing.T) {
			out := run(t, h, append([]string{"template", "gatewarden", "charts/gatewarden", "--namespace", "gw-test"}, set...)...)
			kinds := map[string]int{}
			var role rbacv1.ClusterRole
			var dep appsv1.Deployment
			for _, d := range docs(out) {
				var o object
				if err := yaml.Unmarshal([]byte(d), &o); err != nil {
					t.Fatalf("a rendered document is not YAML: %v\n%s", err, d)
				}
				kinds[o.Kind]++
				if o.Metadata.Namespace != "" && o.Metadata.Namespace != "gw-test" {
					t.Errorf("%s %s in namespace %q, want the release's", o.Kind, o.Metadata.Name, o.Metadata.Namespace)
				}
				switch o.Kind {
				case "ClusterRole":
					if err := yaml.Unmarshal([]byte(d), &role); err != nil {
						t.Fatal(err)
					}
				case "Deployment":
					if err := yaml.Unmarshal([]byte(d), &dep); err != nil {
						t.Fatal(err)
					}
				}
			}
			args := strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " ")
			provisioning := !strings.Contains(name, "no provisioning")
			if strings.Contains(args, "--provision") != provisioning {
				t.Errorf("gatewarden args %q: --provision should be %v", args, provisioning)
			}
			canWrite := func(resource string) bool {
				for _, r := range role.Rules {
					for _, res := range r.Resources {
						for _, v := range r.Verbs {
							if res == resource && (v == "create" || v == "patch" || v == "*") {
								return true
							}
						}
					}
				}
				return false
			}
			for _, res := range []string{"deployments", "services", "serviceaccounts", "secrets"} {
				if canWrite(res) != provisioning {
					t.Errorf("ClusterRole may write %s: %v, want %v (provisioning %v)", res, !provisioning, provisioning, provisioning)
				}
			}
			for _, r := range role.Rules {
				for _, v := range append(append([]string{}, r.Verbs...), r.Resources...) {
					if v == "*" || v == "escalate" || v == "bind" || v == "impersonate" || v == "pods" || v == "roles" || v == "clusterroles" {
						t.Errorf("ClusterRole rule %+v: not least privilege", r)
					}
				}
			}
			wantCRDs := 8 // gatewarden's 3 and the Gateway API's 5
			if strings.Contains(name, "no CRDs") {
				wantCRDs = 0
			}
			if kinds["CustomResourceDefinition"] != wantCRDs {
				t.Errorf("%d CRDs rendered, want %d", kinds["CustomResourceDefinition"], wantCRDs)
			}
			if (kinds["ServiceMonitor"] == 1) != strings.Contains(name, "ServiceMonitor") {
				t.Errorf("%d ServiceMonitors rendered", kinds["ServiceMonitor"])
			}
			if (kinds["PodDisruptionBudget"] == 1) == strings.Contains(name, "no PDB") {
				t.Errorf("%d PodDisruptionBudgets rendered", kinds["PodDisruptionBudget"])
			}
			if name == "defaults" && (*dep.Spec.Replicas != 2 || dep.Spec.Template.Spec.Containers[0].ReadinessProbe == nil ||
				dep.Spec.Template.Spec.Containers[0].LivenessProbe == nil) {
				t.Error("gatewarden's Deployment: want 2 replicas, a readiness and a liveness probe")
			}
		})
	}
}

// TestDeployIsTheChart checks the one-source rule: deploy/'s RBAC and
// Deployment are the chart's rendering, and the chart's CRDs are crds/'s
// and the gateway-api module's (hack/gen-deploy.sh writes them all).
func TestDeployIsTheChart(t *testing.T) {
	root := testenv.RepoRoot()
	script, err := os.ReadFile(filepath.Join(root, "hack", "gen-deploy.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "helm\" template gatewarden \"$chart\" --namespace gatewarden-system") {
		t.Fatal("hack/gen-deploy.sh no longer renders deploy/ from the chart")
	}
	h := helm(t)
	strip := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "# Source: ") || strings.Contains(l, "helm.sh/chart: ") || strings.Contains(l, "app.kubernetes.io/managed-by: Helm") ||
				strings.Contains(l, "app.kubernetes.io/instance: ") || strings.Contains(l, "app.kubernetes.io/version: ") {
				continue
			}
			keep = append(keep, l)
		}
		return strings.Join(keep, "\n")
	}
	for file, templates := range map[string][]string{
		"rbac.yaml":       {"rbac.yaml"},
		"gatewarden.yaml": {"deployment.yaml", "service.yaml", "pdb.yaml"},
	} {
		args := []string{"template", "gatewarden", "charts/gatewarden", "--namespace", "gatewarden-system"}
		for _, tpl := range templates {
			args = append(args, "--show-only", "templates/"+tpl)
		}
		want := strip(run(t, h, args...))
		got, err := os.ReadFile(filepath.Join(root, "deploy", file))
		if err != nil {
			t.Fatal(err)
		}
		_, body, _ := strings.Cut(string(got), "\n")
		if body != want {
			t.Errorf("deploy/%s is not the chart's rendering: run `make generate`", file)
		}
	}
	gwapi := testenv.GatewayAPICRDs(t)
	for dir, src := range map[string]string{"files/crds": filepath.Join(root, "crds"), "files/gateway-api": gwapi} {
		entries, err := os.ReadDir(filepath.Join(root, "charts", "gatewarden", dir))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			t.Fatalf("charts/gatewarden/%s is empty", dir)
		}
		for _, e := range entries {
			a, err1 := os.ReadFile(filepath.Join(root, "charts", "gatewarden", dir, e.Name()))
			b, err2 := os.ReadFile(filepath.Join(src, e.Name()))
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				t.Errorf("charts/gatewarden/%s/%s differs from its source %s: run `make generate`", dir, e.Name(), src)
			}
		}
	}
	own, err := filepath.Glob(filepath.Join(root, "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range own {
		if _, err := os.Stat(filepath.Join(root, "charts", "gatewarden", "files", "crds", filepath.Base(f))); err != nil {
			t.Errorf("crds/%s is not in the chart: run `make generate`", filepath.Base(f))
		}
	}
}
