package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// profileTranslate records where translation spends its time at n routes:
// the pprof top entries, cumulative, of the translator's own functions.
func profileTranslate(n int) (string, error) {
	dir, err := os.MkdirTemp("", "bench-profile")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	prof, bin := filepath.Join(dir, "cpu.out"), filepath.Join(dir, "workload.test")
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", fmt.Sprintf("^BenchmarkTranslate$/routes=%d$", n), "-benchtime", "10x",
		"-cpuprofile", prof, "-o", bin, "-timeout", "30m", "./internal/workload")
	cmd.Env = append(os.Environ(), fmt.Sprintf("BENCH_SIZES=%d", n))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("profile: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=40", "-focus=translator.Translate", bin, prof).Output()
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "gatewarden") || strings.Contains(l, "runtime.gcBgMarkWorker") || strings.Contains(l, "runtime.mallocgc") || strings.Contains(l, "anypb") || strings.HasPrefix(strings.TrimSpace(l), "flat") {
			b.WriteString(l + "\n")
		}
	}
	return b.String(), nil
}
