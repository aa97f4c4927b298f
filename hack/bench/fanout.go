package main

import (
	"fmt"
	"strings"

	"github.com/gatewarden/gatewarden/internal/loadtest"
)

// fanout connects many simulated Envoys (half delta, half state of the
// world; each subscribing to listeners, clusters and the route
// configuration, and ACKing every response) and times a change until the
// last of them has ACKed it.
func fanout(r *report, o options, bin string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Simulated ADS clients on loopback, one gRPC connection each, half delta and half SotW; each subscribes to\n")
	b.WriteString("listeners, clusters and the route configuration and ACKs every response. One RouteOption change; time\n")
	b.WriteString("until the last client ACKed the new route configuration. RSS and goroutines of the gatewarden process.\n\n")
	b.WriteString("| routes | clients | change to last ACK (median) | RSS with clients | goroutines with clients | goroutines after they left | target |\n|---:|---:|---:|---:|---:|---:|---|\n")
	runs := []struct{ routes, clients int }{{1000, o.clients}, {10000, 100}}
	for _, run := range runs {
		if run.routes == 10000 && !containsInt(o.sizes, 10000) {
			continue
		}
		s, err := loadtest.StartStack(bin, envoyBin(), run.routes, false)
		if err != nil {
			return err
		}
		res, err := loadtest.RunClients(s, run.clients, 3)
		s.Stop()
		if err != nil {
			fmt.Fprintf(&b, "| %d | %d | failed: %v | | | | |\n", run.routes, run.clients, err)
			continue
		}
		var acks []float64
		for _, d := range res.ToLastAck {
			acks = append(acks, float64(d))
		}
		worst := summarize(acks).max
		target := ""
		if run.routes == 1000 {
			target = fmt.Sprintf("all ACK within 2 s: %s", verdict(worst < 2e9))
		} else {
			target = fmt.Sprintf("RSS under 128 MiB: %s", verdict(res.RSS < 128<<20))
		}
		fmt.Fprintf(&b, "| %d | %d | %s (max %s, 3 changes) | %s | %.0f | %.0f | %s |\n", run.routes, run.clients, dur(summarize(acks).median), dur(worst), mib(res.RSS), res.Goroutines, res.AfterGoroutines, target)
	}
	b.WriteString("\nWhy the memory: go-control-plane (v0.14) encodes a response for each stream on its own, and gRPC keeps\n")
	b.WriteString("each encoded message until it is written; with one route configuration of several MiB (10,000 virtual\n")
	b.WriteString("hosts with per-route RBAC), every client that receives it at once holds a copy. Encoding once and sharing\n")
	b.WriteString("the bytes across streams, and bounding how many large pushes are in flight, are the remedies; until then\n")
	b.WriteString("deploy/ sets GOMEMLIMIT so that the garbage is collected before the container limit.\n")
	r.section("Fan-out to many Envoys", b.String())
	return nil
}
