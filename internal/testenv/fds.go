package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
	// The child's own start (the dynamic loader opening its libraries)
	// holds a descriptor for a moment: an inherited one stays, so the check
	// passes once only 0, 1 and 2 are seen, and fails if that never comes.
	var fds []string
	for range 40 {
		ents, err := os.ReadDir("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd")
		if err != nil {
			t.Fatal(err)
		}
		fds = fds[:0]
		for _, e := range ents {
			target, _ := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd/" + e.Name())
			fds = append(fds, e.Name()+"->"+target)
		}
		if len(ents) == 3 && ents[0].Name() == "0" && ents[1].Name() == "1" && ents[2].Name() == "2" {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Errorf("a child's open descriptors: %v, want 0 1 2", strings.Join(fds, " "))
}
