package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

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
	heapNote := ""
	for _, run := range runs {
		if run.routes == 10000 && !containsInt(o.sizes, 10000) {
			continue
		}
		s, err := loadtest.StartStack(bin, envoyBin(), run.routes, false)
		if err != nil {
			return err
		}
		var heap string
		res, err := loadtest.RunClientsWith(s, run.clients, 3, 300*time.Millisecond, func(change int) {
			if change == 2 && run.routes == 10000 {
				heap = heapTop(s.AdminAddr)
			}
		})
		s.Stop()
		if heap != "" {
			heapNote = heap
		}
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
	b.WriteString("\nEach response is encoded once for all streams and at most 32 are in flight (a push slot is held until the\n")
	b.WriteString("Envoy answers); each resource type has its own version, so a route change does not resend clusters. The\n")
	b.WriteString("memory with clients is go-control-plane's per-stream state and responses (it wraps every resource of a\n")
	b.WriteString("response for each stream) and gRPC's buffers: with 10,000 routes under scoped RDS a state-of-the-world\n")
	b.WriteString("client subscribes to 10,000 route configurations and is sent all of them on each change. The RSS target\n")
	b.WriteString("is far off: gatewarden alone holds its inputs, the translation and the snapshot (the propagation table\n")
	b.WriteString("gives its RSS without clients). deploy/ sets GOMEMLIMIT so that garbage is collected before the\n")
	b.WriteString("container limit.\n")
	if heapNote != "" {
		b.WriteString("\nLive heap with 100 clients at 10,000 routes, after the last change (`/debug/pprof/heap?gc=1`,\n`go tool pprof -top -sample_index=inuse_space`):\n\n```\n" + heapNote + "```\n")
	}
	r.section("Fan-out to many Envoys", b.String())
	return nil
}

// heapTop fetches gatewarden's live heap profile and returns pprof's top
// entries.
func heapTop(adminAddr string) string {
	resp, err := http.Get("http://" + adminAddr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	f, err := os.CreateTemp("", "bench-heap")
	if err != nil {
		return ""
	}
	defer os.Remove(f.Name())
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return ""
	}
	f.Close()
	out, err := exec.Command("go", "tool", "pprof", "-top", "-sample_index=inuse_space", "-nodecount=15", f.Name()).Output()
	if err != nil {
		return ""
	}
	// Keep the table: from the "flat" header on.
	text := string(out)
	if i := strings.Index(text, "Showing nodes"); i >= 0 {
		text = text[i:]
	}
	return text
}
