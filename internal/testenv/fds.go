package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// CloseInheritedFDsOnExec marks close-on-exec every descriptor above 2 the
// process inherited. A test binary run as `flock LOCK go test ...` inherits
// the descriptor its lock is held on; without this, every process the tests
// start would inherit it in turn, and one left running would keep the lock
// held for everyone. Go opens its own descriptors close-on-exec already.
func CloseInheritedFDsOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return // not Linux: nothing to do there
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// CheckChildInheritsNoFD starts a process as the tests start theirs and
// fails t unless it has only standard input, output and error open: the
// check of CloseInheritedFDsOnExec in each package that calls it.
func CheckChildInheritsNoFD(t *testing.T) {
	t.Helper()
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
