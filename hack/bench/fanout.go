package main

import (
	"errors"
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
func fanout(b *strings.Builder, o options, bin string) error {
	b.WriteString("Simulated ADS clients on loopback, one gRPC connection each, half delta and half SotW; each subscribes to\n")
	b.WriteString("listeners, clusters and the route configuration and ACKs every response. One RouteOption change; time\n")
	b.WriteString("until the last client ACKed the new route configuration. RSS, Go heap in use and goroutines of the gatewarden\n")
	b.WriteString("process with the clients connected, read 2 s after the last ACK, and the peak RSS it had by then (start\n")
	b.WriteString("and every change included). RSS is the sum of the process's own memory (anonymous) and the pages of its\n")
	b.WriteString("binary mapped in (file: code and read-only data, shared and reclaimable; most of it touched once, while the\n")
	b.WriteString("packages of the Kubernetes client and the Envoy API initialise).\n\n")
	b.WriteString("| routes | clients | gatewarden's GOMEMLIMIT | change to last ACK (median) | RSS with clients | of which anonymous | of which file | peak RSS | Go heap in use | goroutines with clients | goroutines after they left | target |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	// The last run shows what a soft memory limit does at the size of the
	// RSS target.
	runs := []struct {
		routes, clients int
		memLimit        string
	}{{1000, o.clients, ""}, {10000, 100, ""}, {10000, 100, "128MiB"}}
	heapNote, rssVerdict := "", ""
	for _, run := range runs {
		if run.routes == 10000 && !containsInt(o.sizes, 10000) {
			continue
		}
		var env []string
		limit := "none"
		if run.memLimit != "" {
			env, limit = []string{"GOMEMLIMIT=" + run.memLimit}, run.memLimit
		}
		s, err := loadtest.StartStackEnv(bin, "", run.routes, env)
		if err != nil {
			return err
		}
		var heap string
		const changes = 3
		res, err := loadtest.RunClientsWith(s, run.clients, changes, 300*time.Millisecond, func(change int) {
			// Once the figures are read: building a profile touches memory.
			if change == changes && run.routes == 10000 && run.memLimit == "" {
				heap = heapTop(s.AdminAddr)
			}
		})
		s.Stop()
		if heap != "" {
			heapNote = heap
		}
		if err != nil {
			fmt.Fprintf(b, "| %d | %d | %s | failed: %v | | | | | | | | |\n", run.routes, run.clients, limit, err)
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
			if run.memLimit == "" {
				if res.RSS < 128<<20 {
					rssVerdict = fmt.Sprintf("The RSS target (under 128 MiB with 10,000 routes and 100 clients) is met: %s, %.0f%% of it.\n", mib(res.RSS), 100*res.RSS/(128<<20))
				} else {
					rssVerdict = fmt.Sprintf("The RSS target (under 128 MiB with 10,000 routes and 100 clients) is **missed**: %s, %s over.\n", mib(res.RSS), mib(res.RSS-128<<20))
				}
			}
		}
		fmt.Fprintf(b, "| %d | %d | %s | %s (max %s, %d changes) | %s | %s | %s | %s | %s | %.0f | %.0f | %s |\n", run.routes, run.clients, limit, dur(summarize(acks).median), dur(worst), changes,
			mib(res.RSS), mib(res.RSSAnon), mib(res.RSSFile), mib(res.PeakRSS), mib(res.HeapInuse), res.Goroutines, res.AfterGoroutines, target)
	}
	b.WriteString("\nEach resource is encoded once per change, and every stream is sent those same bytes behind a head of its\n")
	b.WriteString("own (version, type, nonce): a push copies nothing per Envoy. A response carrying every resource of a type\n")
	b.WriteString("shares one buffer with all such responses, built once pushes start and dropped once they are quiet. A stream\n")
	b.WriteString("keeps its subscriptions (pointing to the snapshot's own name index when an Envoy asks for exactly its names,\n")
	b.WriteString("as Envoys do) and, for delta, which snapshot its Envoy is up to date with; a state-of-the-world request is read\n")
	b.WriteString("from its bytes, and its resource names are turned into strings only when they differ from the previous\n")
	b.WriteString("request's. Each resource type has its own version, so a route change does not resend clusters.\n\n")
	b.WriteString(rssVerdict)
	b.WriteString("The Go heap with 100 clients is close to gatewarden's alone: it is what gatewarden holds for any number of\n")
	b.WriteString("Envoys, measured part by part by `BenchmarkRetained` above: in directory mode the parsed manifests, kept so\n")
	b.WriteString("that a change re-reads only the files that changed (equal RBAC rules, namespaces, apiVersions and kinds held\n")
	b.WriteString("once); the encoded snapshot (each type's encodings in one buffer, names and versions in one string each);\n")
	b.WriteString("the statuses (equal ones shared). Between that and RSS: heap fragmentation (mostly among the manifests,\n")
	b.WriteString("whose decoding makes about 30 times their size in garbage), the runtime's own metadata and stacks, and the\n")
	b.WriteString("binary's mapped pages. A change adds the translation until it is encoded and, with state-of-the-world\n")
	b.WriteString("clients, their requests (each repeats every name it wants); once changes and pushes are quiet\n")
	b.WriteString("(`--release-memory-after`, 500 ms) the memory they freed is returned to the system. A soft limit (the last\n")
	b.WriteString("row) bounds the peak of a change, at the cost of CPU.\n")
	if heapNote != "" {
		b.WriteString("\nLive heap with 100 clients at 10,000 routes, taken once the figures above were read (`/debug/pprof/heap?gc=1`,\n`go tool pprof -top -sample_index=inuse_space`):\n\n```\n" + heapNote + "```\n")
	}
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
	_, err = io.Copy(f, resp.Body)
	if err = errors.Join(err, f.Close()); err != nil {
		return ""
	}
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
