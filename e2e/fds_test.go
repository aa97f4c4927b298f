package e2e

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// See testenv.CloseInheritedFDsOnExec: the lock of `flock LOCK go test`
// must not outlive the test in a process it started.
func init() { testenv.CloseInheritedFDsOnExec() }

// TestChildrenInheritNoDescriptor: a process the test starts has standard
// input, output and error open, nothing else.
func TestChildrenInheritNoDescriptor(t *testing.T) {
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []string
	for _, e := range ents {
		fds = append(fds, e.Name())
	}
	if strings.Join(fds, " ") != "0 1 2" {
		t.Errorf("a child's open descriptors: %v, want 0 1 2", fds)
	}
}
