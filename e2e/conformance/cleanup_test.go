package conformance

import (
	"os/exec"
	"strings"
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
