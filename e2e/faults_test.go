package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// envoyStat reads one counter or gauge from Envoy's admin endpoint.
func (e *dirEnv) envoyStat(name string) int {
	e.t.Helper()
	resp, err := http.Get("http://" + e.envoyAdmin + "/stats?filter=^" + name + "$")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	_, v, ok := strings.Cut(strings.TrimSpace(string(body)), ": ")
	if !ok {
		e.t.Fatalf("no Envoy stat %s in %q", name, body)
	}
	n, _ := strconv.Atoi(v)
	return n
}

func (e *dirEnv) gatewardenMetric(name string) float64 {
	e.t.Helper()
	resp, err := http.Get(e.adminURL + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+"{") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// TestFaults kills and restarts gatewarden and Envoy, and makes Envoy reject
// a configuration, while checking that the policy keeps being enforced.
func TestFaults(t *testing.T) {
	e := startDirEnv(t, false, guideFiles)
	e.copyExample("examples/gateway-jwt/virtualhostoption.yaml", "virtualhostoption.yaml")
	e.copyExample("examples/gateway-jwt/routeoption.yaml", "routeoption.yaml")
	tokens := readEnv(t, filepath.Join(testenv.RepoRoot(), "examples/gateway-jwt/tokens.env"))
	alice := "Authorization: Bearer " + tokens["ALICE_TOKEN"]
	bob := "Authorization: Bearer " + tokens["BOB_TOKEN"]
	regexStep := []check{{"Alice", []string{alice}, 200, `"Host"`}, {"Bob", []string{bob}, 403, "RBAC: access denied"}, {"no token", nil, 401, "Jwt is missing"}}
	listStep := []check{{"Alice", []string{alice}, 403, "RBAC: access denied"}, {"Bob", []string{bob}, 200, `"Host"`}}
	eventually(t, 15*time.Second, "guide policy served", func() string { return e.all(regexStep) })

	// gatewarden killed: Envoy keeps enforcing the last configuration.
	versions := e.versions()
	listenerChanges := e.envoyStat("listener_manager.listener_modified") + e.envoyStat("listener_manager.listener_added")
	rdsReloads := e.envoyStat(fmt.Sprintf("http.gloo-system_http_http-%d.rds.http-%d.config_reload", e.gwPort, e.gwPort))
	e.gatewarden.Kill()
	for i := 0; i < 20; i++ {
		if msg := e.all(regexStep); msg != "" {
			t.Fatalf("with gatewarden killed: %s", msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Log("gatewarden killed (SIGKILL): Envoy kept enforcing for 2 s (20 checks)")

	// Restarted: Envoy reconnects and gets the same version, without churn.
	if err := e.gatewarden.Restart(); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 30*time.Second, "Envoy reconnected", func() string {
		if !strings.Contains(e.gatewarden.Output(), "xDS stream opened") {
			return "no stream yet"
		}
		return ""
	})
	time.Sleep(time.Second)
	if got := e.versions(); fmt.Sprint(got) != fmt.Sprint(versions) {
		t.Fatalf("the restarted gatewarden serves %v, before %v", got, versions)
	}
	if n := e.envoyStat("listener_manager.listener_modified") + e.envoyStat("listener_manager.listener_added"); n != listenerChanges {
		t.Fatalf("Envoy changed listeners after the reconnect (%d -> %d): churn", listenerChanges, n)
	}
	if n := e.envoyStat(fmt.Sprintf("http.gloo-system_http_http-%d.rds.http-%d.config_reload", e.gwPort, e.gwPort)); n != rdsReloads {
		t.Fatalf("Envoy reloaded its routes after the reconnect (%d -> %d): churn", rdsReloads, n)
	}
	t.Logf("gatewarden restarted: Envoy reconnected after %v, same version %v, no listener or route reload", took.Round(time.Millisecond), versions)
	e.copyExample("examples/gateway-jwt-steps/routeoption-list-contains.yaml", "routeoption.yaml")
	took = eventually(t, propagation, "next change after the restart", func() string { return e.all(listStep) })
	t.Logf("next change enforced %v after the restart", took.Round(time.Millisecond))

	// Envoy restarted: it gets the current configuration at once.
	e.envoy.Kill()
	startedAt := time.Now()
	if err := e.envoy.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "restarted Envoy configured", func() string { return e.all(listStep) })
	t.Logf("Envoy restarted: current configuration enforced after %v", time.Since(startedAt).Round(time.Millisecond))
	e.envoyPID = e.envoy.Pid()

	// A configuration Envoy rejects: a listener on a port another process
	// holds. The last good configuration keeps serving; the NACK is counted,
	// logged and on the Gateway's status; the next good change recovers.
	held, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	gw, err := os.ReadFile(filepath.Join(e.dir, "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	conflicting := string(gw) + fmt.Sprintf("  - protocol: HTTP\n    port: %d\n    name: taken\n", heldPort)
	e.write("gateway.yaml", conflicting)
	eventually(t, 5*time.Second, "NACK counted", func() string {
		if e.gatewardenMetric("gatewarden_xds_nacks_total") < 1 {
			return "no NACK yet"
		}
		return ""
	})
	if msg := e.all(listStep); msg != "" {
		t.Fatalf("after a rejected configuration: %s", msg)
	}
	out := e.gatewarden.Output()
	if !strings.Contains(out, "Envoy rejected configuration") || !strings.Contains(out, "Gateway not programmed") {
		t.Fatalf("the NACK is not in gatewarden's log:\n%s", testenv.Tail(out, 20))
	}
	var doc struct {
		Nacks  map[string]struct{ Message string } `json:"nacks"`
		Config struct {
			Status struct {
				Gateways []struct {
					Name   string `json:"name"`
					Status struct {
						Conditions []struct{ Type, Status, Message string } `json:"conditions"`
					} `json:"status"`
				} `json:"gateways"`
			} `json:"status"`
		} `json:"config"`
	}
	resp, err := http.Get(e.adminURL + "/debug/config")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/debug/config: %v", err)
	}
	nack := doc.Nacks["gloo-system/http"].Message
	programmed := ""
	for _, g := range doc.Config.Status.Gateways {
		for _, c := range g.Status.Conditions {
			if g.Name == "gloo-system/http" && c.Type == "Programmed" {
				programmed = c.Status + ": " + c.Message
			}
		}
	}
	if !strings.Contains(nack, "bind") || !strings.HasPrefix(programmed, "False") {
		t.Fatalf("NACK %q, Gateway Programmed %q", nack, programmed)
	}
	t.Logf("rejected configuration: old one still enforced; NACK %q; Gateway Programmed=%s", nack, programmed)
	e.write("gateway.yaml", string(gw))
	e.copyExample("examples/gateway-jwt/routeoption.yaml", "routeoption.yaml")
	took = eventually(t, propagation, "recovery with the next good change", func() string { return e.all(regexStep) })
	if len(e.versions()) == 0 {
		t.Fatal("nothing served after the recovery")
	}
	t.Logf("next good change enforced after %v", took.Round(time.Millisecond))
	e.checkEnvoy()
}

// TestDirectorySwappedAtomically serves a directory laid out as a mounted
// ConfigMap (files linked through ..data to a versioned directory) and
// swaps it: every answer during the swap is the old or the new policy's,
// never one of a partial configuration, and the new one arrives.
func TestDirectorySwappedAtomically(t *testing.T) {
	tokens := readEnv(t, filepath.Join(testenv.RepoRoot(), "examples/gateway-jwt/tokens.env"))
	alice := "Authorization: Bearer " + tokens["ALICE_TOKEN"]
	bob := "Authorization: Bearer " + tokens["BOB_TOKEN"]
	version := func(e *dirEnv, name, routeOption string) {
		d := filepath.Join(e.dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []struct{ src, dst string }{{"gateway.yaml", "gateway.yaml"}, {"httpbin.yaml", "httpbin.yaml"}, {"virtualhostoption.yaml", "virtualhostoption.yaml"}} {
			data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "examples/gateway-jwt", f.src))
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Replace(string(data), "port: 8080", fmt.Sprintf("port: %d", e.gwPort), 1)
			s = strings.Replace(s, "  port: 8000\n  protocol: TCP", fmt.Sprintf("  port: %d\n  protocol: TCP", e.httpbinPort), 1)
			if err := os.WriteFile(filepath.Join(d, f.dst), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), routeOption))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "routeoption.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := startDirEnv(t, false, func(e *dirEnv) {
		version(e, "..v1", "examples/gateway-jwt/routeoption.yaml")
		if err := os.Symlink("..v1", filepath.Join(e.dir, "..data")); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"gateway.yaml", "httpbin.yaml", "virtualhostoption.yaml", "routeoption.yaml"} {
			if err := os.Symlink(filepath.Join("..data", f), filepath.Join(e.dir, f)); err != nil {
				t.Fatal(err)
			}
		}
	})
	answers := func() string {
		return fmt.Sprintf("%d/%d/%d", e.get(alice).code, e.get(bob).code, e.get().code)
	}
	eventually(t, 15*time.Second, "v1 served", func() string {
		if a := answers(); a != "200/403/401" {
			return a
		}
		return ""
	})
	version(e, "..v2", "examples/gateway-jwt-steps/routeoption-list-contains.yaml")
	tmp := filepath.Join(e.dir, "..data_tmp")
	if err := os.Symlink("..v2", tmp); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := os.Rename(tmp, filepath.Join(e.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	// Each answer must be the old or the new policy's: Alice 200 or 403, Bob
	// 403 or 200, no token always 401. (Alice's and Bob's requests may
	// straddle the switch, so they are judged one by one.)
	for time.Since(start) < 3*time.Second {
		a := answers()
		seen[a]++
		var alice, bob, none int
		if _, err := fmt.Sscanf(a, "%d/%d/%d", &alice, &bob, &none); err != nil {
			t.Fatalf("answers %q: %v", a, err)
		}
		if (alice != 200 && alice != 403) || (bob != 200 && bob != 403) || none != 401 {
			t.Fatalf("an answer of neither policy during the swap: Alice/Bob/no token %s", a)
		}
		if a == "403/200/401" && seen[a] > 5 {
			break
		}
	}
	if seen["403/200/401"] == 0 {
		t.Fatalf("the new version was not served: %v", seen)
	}
	t.Logf("ConfigMap-style swap: answers during the swap %v, new policy after %v", seen, time.Since(start).Round(time.Millisecond))
}
