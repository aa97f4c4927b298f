package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/internal/loadtest"
	"github.com/gatewarden/gatewarden/internal/testenv"
)

// propagation times a RouteOption change on disk until Envoy enforces it.
func propagation(b *strings.Builder, o options, bin string) error {
	fmt.Fprintf(b, "gatewarden serving N routes from a directory to one real Envoy; one RouteOption rewritten %d times\n", o.changes)
	b.WriteString("(atomic rename), alternately allowing and denying a token; time from the rename until Envoy's\n")
	b.WriteString("answer for that route flips (polled every 2 ms). Default debounce (30 ms) included.\n\n")
	b.WriteString("| routes | p50 | p99 | min | max | bytes sent per change | gatewarden RSS | target p99 |\n|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, n := range []int{1000, 10000} {
		if !containsInt(o.sizes, n) && !(n == 1000 && len(o.sizes) > 0) {
			continue
		}
		s, err := loadtest.StartStack(bin, envoyBin(), n)
		if err != nil {
			return err
		}
		i := 7
		tok := s.Token("team-7")
		if err := testenv.WaitFor(120*time.Second, func() bool { return s.Code(i, tok) == 200 }); err != nil {
			s.Stop()
			return fmt.Errorf("%d routes: Envoy never served route %d: %w", n, i, err)
		}
		bytesBefore := s.Metric("gatewarden_xds_bytes_sent_total")
		var lat []float64
		for c := 0; c < o.changes; c++ {
			team, want := "nobody", 403
			if c%2 == 1 {
				team, want = "team-7", 200
			}
			start := time.Now()
			if err := s.SetTeam(i, team); err != nil {
				s.Stop()
				return err
			}
			for s.Code(i, tok) != want {
				if time.Since(start) > 30*time.Second {
					s.Stop()
					return fmt.Errorf("%d routes: change %d not enforced in 30 s", n, c)
				}
				time.Sleep(2 * time.Millisecond)
			}
			lat = append(lat, float64(time.Since(start)))
			time.Sleep(150 * time.Millisecond) // let the next change be a change of its own
		}
		perChange := (s.Metric("gatewarden_xds_bytes_sent_total") - bytesBefore) / float64(o.changes)
		mem := loadtest.RSS(s.Gatewarden.Pid())
		s.Stop()
		target := 200e6
		if n >= 10000 {
			target = 1e9
		}
		p99 := percentile(lat, 99)
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s | %.0f kB | %s | %s (< %s) |\n", n, dur(percentile(lat, 50)), dur(p99),
			dur(summarize(lat).min), dur(summarize(lat).max), perChange/1000, mib(mem), verdict(p99 < target), dur(target))
	}
	b.WriteString("\nWith 100 or more exact hostnames on a port (`--scoped-routes-min-hosts`, default 100) gatewarden serves one\n")
	b.WriteString("route configuration per hostname, selected by Envoy's scoped RDS: a change to one route sends that\n")
	b.WriteString("hostname's configuration alone (the bytes column) and Envoy rebuilds only it. The time left grows with N in\n")
	b.WriteString("gatewarden: reading the directory, translating every route, hashing the snapshot.\n")
	return nil
}
