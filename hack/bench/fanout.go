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
	b.WriteString("until the last client ACKed the new route configuration. RSS, Go heap in use and goroutines of the gatewarden\n")
	b.WriteString("process with the clients connected, read 2 s after the last ACK, and the peak RSS it had by then (start\n")
	b.WriteString("and every change included).\n\n")
	b.WriteString("| routes | clients | gatewarden's GOMEMLIMIT | change to last ACK (median) | RSS with clients | peak RSS | Go heap in use | goroutines with clients | goroutines after they left | target |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
	// The last run shows what a soft memory limit does at the size of the
	// RSS target.
	runs := []struct {
		routes, clients int
		memLimit        string
	}{{1000, o.clients, ""}, {10000, 100, ""}, {10000, 100, "128MiB"}}
	heapNote := ""
	for _, run := range runs {
		if run.routes == 10000 && !containsInt(o.sizes, 10000) {
			continue
		}
		var env []string
		limit := "none"
		if run.memLimit != "" {
			env, limit = []string{"GOMEMLIMIT=" + run.memLimit}, run.memLimit
		}
		s, err := loadtest.StartStackEnv(bin, envoyBin(), run.routes, false, env)
		if err != nil {
			return err
		}
		var heap string
		res, err := loadtest.RunClientsWith(s, run.clients, 3, 300*time.Millisecond, func(change int) {
			if change == 2 && run.routes == 10000 && run.memLimit == "" {
				heap = heapTop(s.AdminAddr)
			}
		})
		s.Stop()
		if heap != "" {
			heapNote = heap
		}
		if err != nil {
			fmt.Fprintf(&b, "| %d | %d | %s | failed: %v | | | | | | |\n", run.routes, run.clients, limit, err)
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
		fmt.Fprintf(&b, "| %d | %d | %s | %s (max %s, 3 changes) | %s | %s | %s | %.0f | %.0f | %s |\n", run.routes, run.clients, limit, dur(summarize(acks).median), dur(worst), mib(res.RSS), mib(res.PeakRSS), mib(res.HeapInuse), res.Goroutines, res.AfterGoroutines, target)
	}
	b.WriteString("\nEach resource is encoded once per change, and every stream is sent those same bytes behind a head of its\n")
	b.WriteString("own (version, type, nonce): a push copies nothing per Envoy. A stream keeps its subscriptions (pointing to the\n")
	b.WriteString("snapshot's own name index when an Envoy asks for exactly its names, as Envoys do) and, for delta, which\n")
	b.WriteString("snapshot its Envoy is up to date with; a state-of-the-world request is read from its bytes, and its resource\n")
	b.WriteString("names are turned into strings only when they differ from the previous request's. Each resource type has its\n")
	b.WriteString("own version, so a route change does not resend clusters.\n\n")
	b.WriteString("The RSS target is missed. The Go heap with 100 clients is close to gatewarden's alone: what remains is\n")
	b.WriteString("what it holds for any number of Envoys (the live heap below): in directory mode the parsed manifests\n")
	b.WriteString("(`resource.Load`), kept so that a change re-reads only the files that changed, with equal RBAC rules held\n")
	b.WriteString("once; the encoded snapshot (`xds.newEntry`, `xds.encodeType`); the statuses (`translator`). A change adds\n")
	b.WriteString("the translation until it is encoded and, with state-of-the-world clients, their requests (each repeats\n")
	b.WriteString("every name it wants). Without a limit RSS is that and the collector's headroom (GOGC=100 lets the heap reach\n")
	b.WriteString("twice the heap live when it last ran: a collection in the middle of a translation lets the heap grow to\n")
	b.WriteString("twice that peak), and moves by tens of MiB between runs with the moment the collector runs. A soft limit\n")
	b.WriteString("(the last row) trades CPU for memory but cannot go below the peak of a change.\n")
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
