package testenv

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// maxKept bounds the output a Process keeps in memory: past it the older
// half is dropped, so that a long load run cannot grow without bound.
const maxKept = 16 << 20

// Process is a program started by a test or a load run, in a process group
// of its own, its output kept for searches and for the report of a failure.
type Process struct {
	name string
	cmd  *exec.Cmd
	log  io.Writer
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

// ProcessOptions are what StartProcess adds to a plain exec.
type ProcessOptions struct {
	// Env is added to this process's environment.
	Env []string
	// Log receives the output as it comes, besides the copy kept.
	Log io.Writer
	// Stdout, when set, takes the standard output instead (neither kept
	// nor sent to Log): an Envoy's access log under load, say, which an
	// *os.File of /dev/null lets the process write with no copy made here.
	Stdout io.Writer
}

// StartProcess starts name with args in a process group of its own, which
// Kill ends whole. The process is also sent SIGKILL should the starting
// program die before it stops it.
func StartProcess(name string, args []string, o ProcessOptions) (*Process, error) {
	p := &Process{name: filepath.Base(name), log: o.Log, done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	if len(o.Env) > 0 {
		p.cmd.Env = append(os.Environ(), o.Env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if o.Stdout != nil {
		p.cmd.Stdout = o.Stdout
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	return p, nil
}

// RunProcess is StartProcess for the length of a test: it fails t when the
// process cannot start, and kills the process when the test ends, logging
// the tail of its output if the test failed.
func RunProcess(t testing.TB, name string, args []string, o ProcessOptions) *Process {
	t.Helper()
	p, err := StartProcess(name, args, o)
	if err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, p.name, p.Kill, p.Output)
	return p
}

// killAtEnd has kill called when t ends, and then, if t failed, the tail
// of output logged under name.
func killAtEnd(t testing.TB, name string, kill func(), output func() string) {
	t.Cleanup(func() {
		kill()
		if t.Failed() {
			t.Logf("---- output of %s ----\n%s", name, Tail(output(), 80))
		}
	})
}

func (p *Process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log != nil {
		_, _ = p.log.Write(b) // a log that fails must not stop the process
	}
	if p.out.Len()+len(b) > maxKept {
		p.out.Next(p.out.Len() / 2)
	}
	return p.out.Write(b)
}

// Output is everything the process printed so far (the last 16 MiB at most).
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Running reports whether the process has not exited.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to the process's group, if the process still runs,
// and waits for the process to exit.
func (p *Process) Kill() {
	if p.Running() { // once it has exited, its pid may be another's
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	<-p.done
}

// Tail is the last lines of s.
func Tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// WaitFor polls ok every 20 ms until it returns true, or fails after d.
func WaitFor(d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not within %s", d)
}
