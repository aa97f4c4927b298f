package loadtest

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.CloseInheritedFDsOnExec()
	code := m.Run()
	if err := testenv.RemoveGatewardenBinary(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// TestStackServesThroughEnvoy starts the stack the benchmarks use, with
// Envoy: route 3 answers the token of its team, refuses another team's,
// follows SetTeam, and Stop leaves no process and no directory behind.
func TestStackServesThroughEnvoy(t *testing.T) {
	s, err := StartStack(testenv.GatewardenBinary(t), testenv.Envoy(t), 5)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			s.Stop()
		}
	}()
	own, other := s.Token("team-3"), s.Token("team-4")
	if err := testenv.WaitFor(30*time.Second, func() bool { return s.Code(3, own) == 200 }); err != nil {
		t.Fatalf("route 3 with its team's token: %d, want 200 (%v)\n%s", s.Code(3, own), err, testenv.Tail(s.Envoy.Output(), 20))
	}
	if got := s.Code(3, other); got != 403 {
		t.Errorf("route 3 with another team's token: %d, want 403", got)
	}
	if got := s.Code(3, ""); got != 401 {
		t.Errorf("route 3 without a token: %d, want 401", got)
	}
	if err := s.SetTeam(3, "team-4"); err != nil {
		t.Fatal(err)
	}
	if err := testenv.WaitFor(10*time.Second, func() bool { return s.Code(3, other) == 200 && s.Code(3, own) == 403 }); err != nil {
		t.Fatalf("after SetTeam(3, team-4): own %d, other %d (%v)", s.Code(3, own), s.Code(3, other), err)
	}
	if s.Metric("gatewarden_xds_pushes_total") <= 0 {
		t.Error("gatewarden's metrics count no xDS push")
	}
	pids, dir := []int{s.Gatewarden.Pid(), s.Envoy.Pid()}, s.Dir
	s.Stop()
	stopped = true
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still there after Stop (%v)", pid, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the workload directory %s is still there after Stop (%v)", dir, err)
	}
}
