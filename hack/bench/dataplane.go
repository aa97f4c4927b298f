package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/internal/loadtest"
	"github.com/gatewarden/gatewarden/internal/testenv"
)

// rounds of the data-plane benchmark.
const rounds = 5

// dataplane measures requests per second and latency through Envoy with
// wrk, for the same route without policy, with JWT, and with JWT + RBAC.
func dataplane(b *strings.Builder, o options, bin string) error {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return fmt.Errorf("wrk not found: install it with `apt-get install -y wrk` (make bench does)")
	}
	s, err := loadtest.StartStack(bin, envoyBin(), 10)
	if err != nil {
		return err
	}
	defer s.Stop()
	i := 3
	tok := s.Token("team-3")
	if err := testenv.WaitFor(60*time.Second, func() bool { return s.Code(i, tok) == 200 }); err != nil {
		return err
	}
	gateway := filepath.Join(s.Dir, "gateway.yaml")
	gwYAML, err := os.ReadFile(gateway)
	if err != nil {
		return err
	}
	noJWT := strings.Split(string(gwYAML), "---\napiVersion: gateway.solo.io/v1")[0]
	routeFile := filepath.Join(s.Dir, "routes", fmt.Sprintf("r%05d.yaml", i))
	routeYAML, err := os.ReadFile(routeFile)
	if err != nil {
		return err
	}
	noRBAC := strings.Split(string(routeYAML), "---\napiVersion: gateway.solo.io/v1")[0]
	other := s.Token("team-4")
	// Each mode is the two files as they are and what tells it is served:
	// the answers to the token, to another team's token and to none.
	type mode struct {
		name             string
		gateway, route   string
		tok, other, none int
	}
	modes := []mode{
		{"JWT + RBAC", string(gwYAML), string(routeYAML), 200, 403, 401},
		{"JWT only", string(gwYAML), noRBAC, 200, 200, 401},
		{"no policy", noJWT, noRBAC, 200, 200, 200},
	}
	rps := map[string][]float64{}
	p99 := map[string][]float64{}
	// The modes take turns, in an order that rotates from round to round,
	// so that a drift of the machine weighs on each alike; each round gives
	// a ratio of runs made a few seconds apart.
	ratios := map[string][]float64{}
	for run := 0; run < rounds; run++ {
		round := map[string]float64{}
		for k := range modes {
			m := modes[(k+run)%len(modes)]
			if err := os.WriteFile(gateway, []byte(m.gateway), 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(routeFile, []byte(m.route), 0o644); err != nil {
				return err
			}
			if err := testenv.WaitFor(10*time.Second, func() bool {
				return s.Code(i, tok) == m.tok && s.Code(i, other) == m.other && s.Code(i, "") == m.none
			}); err != nil {
				return fmt.Errorf("%s: not served: %v", m.name, err)
			}
			url := fmt.Sprintf("http://127.0.0.1:%d/svc%d/get", s.GWPort, i)
			out, err := exec.Command(wrk, "-t2", "-c32", "-d"+strconv.Itoa(o.wrkSeconds)+"s", "--latency",
				"-H", fmt.Sprintf("Host: r%d.example.com", i), "-H", "Authorization: Bearer "+tok, url).CombinedOutput()
			if err != nil {
				return fmt.Errorf("wrk: %v\n%s", err, out)
			}
			v, l, err := parseWrk(string(out))
			if err != nil {
				return fmt.Errorf("%s: %v\n%s", m.name, err, out)
			}
			rps[m.name] = append(rps[m.name], v)
			p99[m.name] = append(p99[m.name], l)
			round[m.name] = v
		}
		for name, v := range round {
			ratios[name] = append(ratios[name], v/round["no policy"])
		}
	}
	fmt.Fprintf(b, "wrk -t2 -c32 -d%ds --latency on loopback, the same token every request, Envoy with one worker\n", o.wrkSeconds)
	fmt.Fprintf(b, "(`--concurrency 1`) and a minimal upstream answering 200 behind it, all on the 2 cores; %d rounds in which\n", rounds)
	b.WriteString("the modes take turns (in a rotating order); the share of no-policy requests/s is taken within each round.\n\n")
	b.WriteString("| mode | requests/s (median, min, max) | p99 latency (median) | of no-policy requests/s (median of rounds, min, max) |\n|---|---|---:|---:|\n")
	for _, m := range []string{"no policy", "JWT only", "JWT + RBAC"} {
		s, r := summarize(rps[m]), summarize(ratios[m])
		fmt.Fprintf(b, "| %s | %.0f (%.0f, %.0f) | %s | %.0f%% (%.0f%%, %.0f%%) |\n", m, s.median, s.min, s.max, dur(summarize(p99[m]).median), 100*r.median, 100*r.min, 100*r.max)
	}
	ratio := summarize(ratios["JWT + RBAC"]).median
	fmt.Fprintf(b, "\nTarget: JWT + RBAC keeps at least 85%% of the no-policy requests/s: %.0f%%: %s. Providers carry\n", 100*ratio, verdict(ratio >= 0.85))
	b.WriteString("`jwt_cache_config` (1,000 tokens), so a token seen before is not verified again.\n")
	return nil
}

var (
	wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP99 = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
)

func parseWrk(out string) (float64, float64, error) {
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no Requests/sec in wrk output")
	}
	rps, _ := strconv.ParseFloat(m[1], 64)
	l := wrkP99.FindStringSubmatch(out)
	if l == nil {
		return 0, 0, fmt.Errorf("no 99%% latency in wrk output")
	}
	v, _ := strconv.ParseFloat(l[1], 64)
	switch l[2] {
	case "us":
		v *= 1e3
	case "ms":
		v *= 1e6
	case "s":
		v *= 1e9
	}
	if strings.Contains(out, "Non-2xx") {
		return 0, 0, fmt.Errorf("wrk saw non-2xx answers")
	}
	return rps, v, nil
}
