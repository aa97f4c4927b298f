package workload_test

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gatewarden/gatewarden/internal/workload"
	"github.com/gatewarden/gatewarden/pkg/explain"
	"github.com/gatewarden/gatewarden/pkg/jwt"
	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/translator"
	"github.com/gatewarden/gatewarden/xds"
)

// sizes are the numbers of routes every benchmark runs at; BENCH_SIZES
// ("100,1000") narrows them.
func sizes() []int {
	if s := os.Getenv("BENCH_SIZES"); s != "" {
		var out []int
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				panic(fmt.Sprintf("BENCH_SIZES=%q: %v", s, err))
			}
			out = append(out, n)
		}
		return out
	}
	return []int{100, 1000, 10000}
}

type loaded struct {
	dir string
	res *resource.Resources
}

// workloads are written and loaded once per size and process: the
// benchmarks run their functions several times (-count, b.N probing).
var workloads = map[int]loaded{}

// eachSize runs bench for each size of sizes(), with that size's workload:
// the directory of its manifests and what loading it read.
func eachSize(b *testing.B, bench func(b *testing.B, n int, dir string, res *resource.Resources)) {
	for _, n := range sizes() {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			d, res := loadDir(b, n)
			bench(b, n, d, res)
		})
	}
}

func loadDir(b *testing.B, n int) (string, *resource.Resources) {
	b.Helper()
	if l, ok := workloads[n]; ok {
		return l.dir, l.res
	}
	d, err := os.MkdirTemp("", "workload")
	if err != nil {
		b.Fatal(err)
	}
	if err := workload.Write(d, workload.Options{Routes: n}); err != nil {
		b.Fatal(err)
	}
	scan := dir.Load(d)
	if len(scan.Problems) > 0 {
		b.Fatal(scan.Problems)
	}
	workloads[n] = loaded{d, scan.Resources}
	return d, scan.Resources
}

// BenchmarkLoad reads N routes' manifests from disk (4 documents a route).
func BenchmarkLoad(b *testing.B) {
	eachSize(b, func(b *testing.B, n int, d string, _ *resource.Resources) {
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if s := dir.Load(d); len(s.Problems) > 0 || len(s.Resources.HTTPRoutes) != n {
				b.Fatal("bad load")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/route")
	})
}

// BenchmarkTranslate translates N routes with JWT and per-route RBAC.
func BenchmarkTranslate(b *testing.B) {
	eachSize(b, func(b *testing.B, n int, _ string, res *resource.Resources) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			r := translator.Translate(res, translator.Options{AllowLoopbackBackends: true})
			if len(r.Gateways) != 1 {
				b.Fatal("no gateway")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/route")
	})
}

// BenchmarkSnapshot builds the consistent, content-hashed snapshot.
func BenchmarkSnapshot(b *testing.B) {
	eachSize(b, func(b *testing.B, n int, _ string, res *resource.Resources) {
		gc := translator.Translate(res, translator.Options{AllowLoopbackBackends: true}).Gateways[0]
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := xds.BuildSnapshot(gc, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMarshal encodes every resource as it goes on the wire.
func BenchmarkMarshal(b *testing.B) {
	eachSize(b, func(b *testing.B, n int, _ string, res *resource.Resources) {
		gc := translator.Translate(res, translator.Options{AllowLoopbackBackends: true}).Gateways[0]
		var msgs []proto.Message
		for _, m := range gc.Listeners {
			msgs = append(msgs, m)
		}
		for _, m := range gc.Routes {
			msgs = append(msgs, m)
		}
		for _, m := range gc.Clusters {
			msgs = append(msgs, m)
		}
		for _, m := range gc.Endpoints {
			msgs = append(msgs, m)
		}
		b.ReportAllocs()
		b.ResetTimer()
		bytes := 0
		for i := 0; i < b.N; i++ {
			bytes = 0
			for _, m := range msgs {
				out, err := proto.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(out)
			}
		}
		b.ReportMetric(float64(bytes), "wire-bytes")
	})
}

// BenchmarkExplain decides one request (JWT + RBAC on the last route) with
// the explainer built once, as `gatewarden explain --server` would use it.
func BenchmarkExplain(b *testing.B) {
	tok := guideBob()
	eachSize(b, func(b *testing.B, n int, _ string, res *resource.Resources) {
		gcs := translator.Translate(res, translator.Options{AllowLoopbackBackends: true}).Gateways
		ex, err := explain.New(gcs)
		if err != nil {
			b.Fatal(err)
		}
		url := fmt.Sprintf("http://r%d.example.com:8080/svc%d/x", n-1, n-1)
		h := http.Header{"Authorization": {"Bearer " + tok}}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			d, err := ex.Explain("", explain.Request{URL: url, Header: h})
			if err != nil || d.Code != 403 {
				b.Fatalf("explain: %v %+v", err, d)
			}
		}
	})
}

// BenchmarkExplainCold is explain end to end from resources: translate,
// index, decide, as one `gatewarden explain --resources` does.
func BenchmarkExplainCold(b *testing.B) {
	tok := guideBob()
	eachSize(b, func(b *testing.B, n int, _ string, res *resource.Resources) {
		url := fmt.Sprintf("http://r%d.example.com:8080/svc%d/x", n-1, n-1)
		h := http.Header{"Authorization": {"Bearer " + tok}}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ex, err := explain.New(translator.Translate(res, translator.Options{AllowLoopbackBackends: true}).Gateways)
			if err != nil {
				b.Fatal(err)
			}
			if d, err := ex.Explain("", explain.Request{URL: url, Header: h}); err != nil || d.Code != 403 {
				b.Fatalf("explain: %v %+v", err, d)
			}
		}
	})
}

// guideBob is the guide's Bob token (team ops): the workload's RBAC denies it.
func guideBob() string {
	data, err := os.ReadFile("../../examples/gateway-jwt/tokens.env")
	if err != nil {
		panic(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if tok, ok := strings.CutPrefix(line, "BOB_TOKEN="); ok && tok != "" {
			if _, err := jwt.Decode(tok); err != nil {
				panic(err)
			}
			return tok
		}
	}
	panic("no BOB_TOKEN")
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, l := range workloads {
		os.RemoveAll(l.dir)
	}
	os.Exit(code)
}

// BenchmarkRetained measures what serving N routes from a directory holds
// once a change is over, part by part: the loader's parsed manifests, the
// statuses of the last translation and the encoded snapshot (the heap in
// use after a collection, before and after each part is built). It is what
// the control plane's memory grows by with the size of the configuration.
func BenchmarkRetained(b *testing.B) {
	eachSize(b, func(b *testing.B, n int, d string, _ *resource.Resources) {
		var manifests, statuses, snapshot float64
		// The first run also pays for what is made once per process
		// (protobuf descriptors, regular expressions): not counted.
		for i := -1; i < b.N; i++ {
			base := liveHeap()
			loader := dir.NewLoader(d)
			scan := loader.Scan()
			if len(scan.Problems) > 0 || len(scan.Resources.HTTPRoutes) != n {
				b.Fatal("bad load")
			}
			afterLoad := liveHeap()
			opts := translator.Options{ScopedRoutesMinHosts: translator.DefaultScopedRoutesMinHosts, AllowLoopbackBackends: true}
			status := translator.Translate(scan.Resources, opts).Status
			afterStatus := liveHeap()
			// Translated again for the configuration alone, which is
			// garbage once encoded.
			res := translator.Translate(scan.Resources, opts)
			if len(res.Gateways) != 1 {
				b.Fatal("no gateway")
			}
			snap, err := xds.BuildSnapshot(res.Gateways[0], nil)
			if err != nil {
				b.Fatal(err)
			}
			res = nil
			afterSnap := liveHeap()
			manifests, statuses, snapshot = afterLoad-base, afterStatus-afterLoad, afterSnap-afterStatus
			runtime.KeepAlive(loader)
			runtime.KeepAlive(status)
			runtime.KeepAlive(snap)
		}
		per := func(v float64) float64 { return v / float64(n) }
		b.ReportMetric(per(manifests), "manifest-B/route")
		b.ReportMetric(per(statuses), "status-B/route")
		b.ReportMetric(per(snapshot), "snapshot-B/route")
		b.ReportMetric(per(manifests+statuses+snapshot), "held-B/route")
	})
}

// liveHeap is the size of the live heap, after collecting twice (so that
// what waited for a cleanup or a weak reference is gone too).
func liveHeap() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc)
}
