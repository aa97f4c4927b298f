package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/gatewarden/gatewarden/internal/workload"
)

// egctlSeconds are Envoy Gateway's `egctl x translate` times quoted in the
// performance issue for the same workload sizes.
var egctlSeconds = map[int]float64{100: 18.7, 1000: 167, 5000: 891}

// translateEndToEnd times `gatewarden translate --resources DIR` from files
// to printed xDS.
func translateEndToEnd(b *strings.Builder, o options, bin string) error {
	b.WriteString("`gatewarden translate --resources DIR > /dev/null`, wall time and peak RSS of the process.\n\n")
	b.WriteString("| routes | wall time (median, min, max) | peak RSS | egctl x translate | ratio |\n|---:|---|---:|---:|---:|\n")
	var at5000 float64
	for _, n := range []int{100, 1000, 5000} {
		dir, err := os.MkdirTemp("", "bench-translate")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if err := workload.Write(dir, workload.Options{Routes: n}); err != nil {
			return err
		}
		var times, rss []float64
		for i := 0; i < o.count; i++ {
			cmd := exec.Command(bin, "translate", "--resources", dir)
			var stderr strings.Builder
			cmd.Stdout, cmd.Stderr = io.Discard, &stderr
			start := time.Now()
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("translate %d routes: %v\n%s", n, err, stderr.String())
			}
			times = append(times, float64(time.Since(start)))
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				rss = append(rss, float64(ru.Maxrss)*1024)
			}
		}
		s := summarize(times)
		eg := egctlSeconds[n]
		fmt.Fprintf(b, "| %d | %s | %s | %.1f s | %.0fx |\n", n, s.durations(), mib(summarize(rss).median), eg, eg*1e9/s.median)
		if n == 5000 {
			at5000 = s.median
		}
	}
	fmt.Fprintf(b, "\nTargets: 5,000 routes under 5 s: %s (%s); at least 100x faster than egctl (891 s): %.0fx: %s.\n",
		dur(at5000), verdict(at5000 < 5e9), 891e9/at5000, verdict(891e9/at5000 >= 100))
	return nil
}
