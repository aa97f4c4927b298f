package conformance

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCleanupFindsAndKillsGroups checks the machinery TestConformance's last
// cleanup relies on: leftovers finds a process startProc started, and its
// child (which the process's own pid would not reach), until killAll ends
// their process group.
func TestCleanupFindsAndKillsGroups(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 60 & wait")
	done, err := startProc(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killAll() })
	deadline := time.Now().Add(5 * time.Second)
	// (The shell's child is a shell until it has run sleep.)
	for left := leftovers(); len(left) != 2 || !strings.Contains(strings.Join(left, " "), "sleep"); left = leftovers() {
		if time.Now().After(deadline) {
			t.Fatalf("leftovers found %q, want the shell and its sleep", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	killAll()
	<-done
	deadline = time.Now().Add(5 * time.Second)
	for left := leftovers(); len(left) > 0; left = leftovers() {
		if time.Now().After(deadline) {
			t.Fatalf("still running after killAll: %q", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKillOrphans: a marked process whose test binary is gone is killed; one
// whose test binary still runs is left alone.
func TestKillOrphans(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	start := func(owner int) *exec.Cmd {
		cmd := exec.Command("sleep", "60")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d-1", runEnv, owner))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	orphan := start(dead.Process.Pid)
	alive := start(os.Getppid())
	deadline := time.Now().Add(5 * time.Second)
	for {
		gone := killOrphans()
		if strings.Contains(strings.Join(gone, " "), fmt.Sprintf("(pid %d)", orphan.Process.Pid)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killOrphans did not kill pid %d (killed: %q)", orphan.Process.Pid, gone)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := orphan.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("the orphan ended with %v, want killed", err)
	}
	if err := alive.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the process of a live run was killed: %v", err)
	}
}

// TestSweepPodsDirs: the Pods' directory of a run whose test binary died
// is removed; that of a run still going is kept.
func TestSweepPodsDirs(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", podsDirPrefix, dead.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	live, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", podsDirPrefix, os.Getppid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stale); os.RemoveAll(live) })
	if err := sweepPodsDirs(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("%s of a dead run: stat after the sweep: %v, want not found", stale, err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("%s of a live run: %v after the sweep, want kept", live, err)
	}
}
