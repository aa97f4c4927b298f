package testenv

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcessKillsItsGroup: Kill ends the process and what it started,
// and the output was kept and copied to the log as it came.
func TestProcessKillsItsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	var log bytes.Buffer
	p, err := StartProcess("sh", []string{"-c", "echo started; echo $MARK; sleep 60 & echo $! > " + pidFile + "; wait"},
		ProcessOptions{Env: []string{"MARK=marked"}, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	var child int
	if err := WaitFor(5*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && child > 0
	}); err != nil {
		p.Kill()
		t.Fatalf("the child's pid: %v", err)
	}
	if !p.Running() {
		t.Fatal("the process exited on its own")
	}
	p.Kill()
	if p.Running() {
		t.Fatal("running after Kill")
	}
	if err := WaitFor(5*time.Second, func() bool { return errors.Is(syscall.Kill(child, 0), syscall.ESRCH) || zombie(child) }); err != nil {
		syscall.Kill(child, syscall.SIGKILL)
		t.Fatalf("the process's child (pid %d) outlived Kill", child)
	}
	if got := p.Output(); got != "started\nmarked\n" {
		t.Errorf("Output() = %q, want the two lines printed", got)
	}
	if log.String() != p.Output() {
		t.Errorf("the log got %q, Output() %q", log.String(), p.Output())
	}
}

// zombie reports whether pid has exited and waits for a parent that is
// gone too (reaped by init soon).
func zombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z"))
}

// TestProcessOutputBounded: past maxKept, the oldest output is dropped and
// the newest kept.
func TestProcessOutputBounded(t *testing.T) {
	p := &Process{}
	line := bytes.Repeat([]byte("x"), 1<<20)
	for range 40 {
		if _, err := p.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Write([]byte("last\n")); err != nil {
		t.Fatal(err)
	}
	out := p.Output()
	if len(out) > maxKept {
		t.Errorf("kept %d bytes, more than %d", len(out), maxKept)
	}
	if !strings.HasSuffix(out, "last\n") {
		t.Error("the newest output was dropped")
	}
}

func TestTail(t *testing.T) {
	for in, want := range map[string]string{"a\nb\nc\n": "b\nc", "a": "a", "": ""} {
		if got := Tail(in, 2); got != want {
			t.Errorf("Tail(%q, 2) = %q, want %q", in, got, want)
		}
	}
}

// TestEnvoyPathNamesTheInstallCommand: a missing Envoy is an error naming
// where it was looked for and how to install it.
func TestEnvoyPathNamesTheInstallCommand(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "envoy")
	t.Setenv("ENVOY_BIN", missing)
	path, err := EnvoyPath()
	if err == nil || path != missing || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), EnvoyInstallCommand) {
		t.Fatalf("EnvoyPath() = %q, %v; want %s and an error naming it and %s", path, err, missing, EnvoyInstallCommand)
	}
}
