// Command bench runs gatewarden's benchmarks and writes BENCHMARKS.md: the
// Go benchmarks (load, translate, snapshot, marshal, explain) at each size,
// `gatewarden translate` end to end, propagation of a change to a real
// Envoy, fan-out to many simulated ADS clients, and data-plane throughput
// through Envoy with wrk. Figures are medians with min and max; every load
// goes to loopback addresses and is bounded in time.
//
//	go run ./hack/bench -sizes 100,1000,10000 -out BENCHMARKS.md
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

type options struct {
	sizes      []int
	out        string
	count      int
	changes    int
	clients    int
	wrkSeconds int
	skip       map[string]bool
}

func main() {
	var o options
	sizes := flag.String("sizes", "100,1000,10000", "numbers of routes")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "report to write")
	flag.IntVar(&o.count, "count", 5, "repetitions of each Go benchmark and timed command")
	flag.IntVar(&o.changes, "changes", 50, "changes timed by the propagation benchmark")
	flag.IntVar(&o.clients, "clients", 1000, "simulated ADS clients of the fan-out benchmark")
	flag.IntVar(&o.wrkSeconds, "wrk-seconds", 10, "duration of each wrk run")
	skip := flag.String("skip", "", "parts to skip: go,translate,propagation,fanout,dataplane")
	flag.Parse()
	for _, s := range strings.Split(*sizes, ",") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(s), "%d", &n); err != nil || n <= 0 {
			fatal("bad -sizes %q", *sizes)
		}
		o.sizes = append(o.sizes, n)
	}
	o.skip = map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		o.skip[strings.TrimSpace(s)] = true
	}
	if err := os.Chdir(testenv.RepoRoot()); err != nil {
		fatal("%v", err)
	}
	var r report
	r.machine = machine()
	r.command = "go run ./hack/bench " + strings.Join(os.Args[1:], " ")
	bin, err := build()
	if err != nil {
		fatal("build: %v", err)
	}
	// The build's directory goes when the runs are done (fatal exits
	// before: what it names is left to look at).
	defer os.RemoveAll(filepath.Dir(bin))
	// Each part writes the body of its section of the report: the section
	// is added when the part succeeds, and listed among the parts that did
	// not run when it fails.
	step := func(name, title string, part func(b *strings.Builder, o options, bin string) error) {
		if o.skip[name] {
			fmt.Fprintf(os.Stderr, "bench: skipping %s\n", name)
			return
		}
		fmt.Fprintf(os.Stderr, "bench: %s\n", name)
		var b strings.Builder
		if err := part(&b, o, bin); err != nil {
			r.failures = append(r.failures, fmt.Sprintf("%s: %v", name, err))
			fmt.Fprintf(os.Stderr, "bench: %s failed: %v\n", name, err)
			return
		}
		r.section(title, b.String())
	}
	step("go", "Go benchmarks", goBenchmarks)
	step("translate", "translate, end to end", translateEndToEnd)
	step("propagation", "Propagation to a real Envoy", propagation)
	step("fanout", "Fan-out to many Envoys", fanout)
	step("dataplane", "Data plane", dataplane)
	if err := os.WriteFile(o.out, []byte(r.markdown()), 0o644); err != nil {
		fatal("%v", err)
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s\n", o.out)
	if len(r.failures) > 0 {
		_ = os.RemoveAll(filepath.Dir(bin))
		os.Exit(1)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

// build compiles gatewarden into a temporary directory.
func build() (string, error) {
	dir, err := os.MkdirTemp("", "gatewarden-bench")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gatewarden")
	return bin, testenv.BuildGatewarden(bin)
}

func machine() string {
	var b strings.Builder
	cpu := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.TrimSpace(strings.SplitN(strings.SplitN(string(data), "\n", 2)[0], ":", 2)[1])
	}
	envoy, _ := exec.Command(envoyBin(), "--version").Output()
	fmt.Fprintf(&b, "- CPU: %s, %d cores (GOMAXPROCS %d)\n", cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "- Memory: %s\n", mem)
	fmt.Fprintf(&b, "- Go: %s; Envoy: %s\n", runtime.Version(), strings.TrimSpace(lastField(string(bytes.TrimSpace(envoy)))))
	fmt.Fprintf(&b, "- Date: %s\n", time.Now().UTC().Format("2006-01-02"))
	return b.String()
}

func lastField(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return s
	}
	return f[len(f)-1]
}

// envoyBin is the Envoy binary: $ENVOY_BIN, else .cache/bin/envoy.
func envoyBin() string {
	path, err := testenv.EnvoyPath()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v: the parts that run Envoy will fail\n", err)
	}
	return path
}
