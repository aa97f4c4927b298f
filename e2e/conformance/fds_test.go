package conformance

import (
	"testing"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// See testenv.CloseInheritedFDsOnExec: the lock of `flock LOCK go test`
// must not outlive the test in a process it started.
func init() { testenv.CloseInheritedFDsOnExec() }

// TestChildrenInheritNoDescriptor: a process the test starts has standard
// input, output and error open, nothing else.
func TestChildrenInheritNoDescriptor(t *testing.T) { testenv.CheckChildInheritsNoFD(t) }
