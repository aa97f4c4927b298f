package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stop kills the process group of cmd (the process and anything it
// started) and waits for the process.
func stop(cmd *exec.Cmd, done chan struct{}) {
	if cmd != nil && cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// runEnv marks the environment of every process the test starts, with
// runID as its value: the test's last cleanup looks for processes carrying
// it, wherever they have gone (another parent, another group).
const runEnv = "GATEWARDEN_CONFORMANCE_RUN"

var runID = fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())

// started holds every process startProc started, for killAll.
var (
	startedMu sync.Mutex
	started   []startedProc
)

type startedProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc starts cmd in a process group of its own, its environment
// marked with runEnv. The process is also sent SIGKILL should the test
// binary die before its cleanups run (a panic in another goroutine, the
// go test timeout).
func startProc(cmd *exec.Cmd) (chan struct{}, error) {
	done := make(chan struct{})
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, runEnv+"="+runID)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); close(done) }()
	startedMu.Lock()
	started = append(started, startedProc{cmd, done})
	startedMu.Unlock()
	return done, nil
}

// killAll stops every process startProc started and not stopped yet, and
// returns how many it started in all.
func killAll() int {
	startedMu.Lock()
	defer startedMu.Unlock()
	for _, p := range started {
		select {
		case <-p.done: // stopped already: its pid may be another's by now
		default:
			stop(p.cmd, p.done)
		}
	}
	return len(started)
}

// markedProc is a running process whose environment carries runEnv.
type markedProc struct {
	pid  int
	exe  string
	mark string // the value of runEnv: the runID of the test that started it
}

func (p markedProc) String() string { return fmt.Sprintf("%s (pid %d)", p.exe, p.pid) }

// markedProcs lists the running processes (zombies aside) whose environment
// carries runEnv.
func markedProcs() ([]markedProc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	prefix := []byte(runEnv + "=")
	var out []markedProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue // gone meanwhile, or not readable: not started by this user
		}
		mark := ""
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.HasPrefix(kv, prefix) {
				mark = string(kv[len(prefix):])
			}
		}
		if mark == "" {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ...: a zombie is waited for by its parent, and holds nothing.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z")) {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			exe = "?"
		}
		out = append(out, markedProc{pid: pid, exe: filepath.Base(exe), mark: mark})
	}
	return out, nil
}

// leftovers lists the running processes this test started: those carrying
// its runID.
func leftovers() []string { return selectProcs(ours, false) }

// killMarked kills every process carrying this test's runID.
func killMarked() { selectProcs(ours, true) }

// killOrphans kills the marked processes of earlier runs whose test binary
// is gone (killed before its cleanups could run) and returns them; those of
// a run still going are left alone.
func killOrphans() []string { return selectProcs(orphaned, true) }

// ours tells the processes this test started.
func ours(p markedProc) bool { return p.mark == runID }

// orphaned tells a process of an earlier run whose test binary is gone.
func orphaned(p markedProc) bool {
	owner, _, _ := strings.Cut(p.mark, "-")
	pid, err := strconv.Atoi(owner)
	if p.mark == runID || err != nil {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// selectProcs lists the marked processes match selects, first sending each
// SIGKILL when kill is set; when /proc cannot be read, the list is that
// error.
func selectProcs(match func(markedProc) bool, kill bool) []string {
	procs, err := markedProcs()
	if err != nil {
		return []string{"cannot read /proc: " + err.Error()}
	}
	var out []string
	for _, p := range procs {
		if !match(p) {
			continue
		}
		if kill {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
		out = append(out, p.String())
	}
	return out
}
