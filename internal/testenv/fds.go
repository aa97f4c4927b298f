package testenv

import (
	"os"
	"strconv"
	"syscall"
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
