package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// These tests run `make run` as a person does on a fresh clone: on a
// terminal (a pseudo-terminal here), the README's walkthrough commands typed
// as written, Ctrl-C at the end. They use the fixed ports of `make run`
// (8000, 8080, 9090, 18000, 19000) and its directory .cache/run.

// walkCommand is one "$ " line of the README's walkthrough and the output
// lines shown under it ("..." stands for lines left out).
type walkCommand struct {
	step string
	cmd  string
	want []string
}

// readWalkthrough reads the commands between the walkthrough markers of
// README.md.
func readWalkthrough(t *testing.T) []walkCommand {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := parseWalkthrough(string(data))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	return cmds
}

func parseWalkthrough(readme string) ([]walkCommand, error) {
	var out []walkCommand
	on, fence, indent, step := false, false, "", ""
	for n, line := range strings.Split(readme, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case strings.HasPrefix(line, "<!-- walkthrough"):
			on = true
			continue
		case strings.HasPrefix(line, "<!-- /walkthrough"):
			if fence {
				return nil, fmt.Errorf("line %d: the walkthrough ends inside a code block", n+1)
			}
			if len(out) == 0 {
				return nil, errors.New("the walkthrough has no command")
			}
			return out, nil
		case !on:
			continue
		case !fence && len(line) > 2 && line[0] >= '0' && line[0] <= '9' && strings.Contains(line[:4], ". "):
			step = line
		case strings.HasPrefix(trimmed, "```"):
			fence = !fence
			indent = line[:len(line)-len(trimmed)]
		case fence && strings.HasPrefix(trimmed, "$ "):
			out = append(out, walkCommand{step: step, cmd: strings.TrimPrefix(trimmed, "$ ")})
		case fence:
			if len(out) == 0 {
				return nil, fmt.Errorf("line %d: output before the first command", n+1)
			}
			c := &out[len(out)-1]
			c.want = append(c.want, strings.TrimPrefix(line, indent))
		}
	}
	return nil, errors.New("no walkthrough markers (<!-- walkthrough ... --> and <!-- /walkthrough -->)")
}

// lineMatches reports whether got is the line want, where "..." within
// want stands for any text (a key, a time).
func lineMatches(want, got string) bool {
	parts := strings.Split(want, "...")
	if len(parts) == 1 {
		return want == got
	}
	if !strings.HasPrefix(got, parts[0]) {
		return false
	}
	rest := got[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return strings.HasSuffix(rest, parts[len(parts)-1])
}

// matchLines says how got differs from want, where a "..." line of want
// stands for any number of lines, and "..." within a line for any text;
// "" when it matches. Trailing spaces and
// carriage returns, and empty lines at the end, do not count.
func matchLines(want, got []string) string {
	norm := func(ls []string) []string {
		var out []string
		for _, l := range ls {
			out = append(out, strings.TrimRight(l, " \r\t"))
		}
		for len(out) > 0 && out[len(out)-1] == "" {
			out = out[:len(out)-1]
		}
		return out
	}
	want, got = norm(want), norm(got)
	// Segments of consecutive lines, between the "..." lines.
	var segs [][]string
	cur := []string{}
	for _, l := range want {
		if strings.TrimSpace(l) == "..." {
			segs = append(segs, cur)
			cur = []string{}
			continue
		}
		cur = append(cur, l)
	}
	segs = append(segs, cur)
	at := func(i int, seg []string) bool {
		if i+len(seg) > len(got) {
			return false
		}
		for k := range seg {
			if !lineMatches(seg[k], got[i+k]) {
				return false
			}
		}
		return true
	}
	pos := 0
	for s, seg := range segs {
		switch {
		case s == 0:
			if !at(0, seg) {
				return fmt.Sprintf("the output does not begin with %q", strings.Join(seg, "\n"))
			}
			pos = len(seg)
		case s == len(segs)-1:
			start := len(got) - len(seg)
			if start < pos || !at(start, seg) {
				return fmt.Sprintf("the output does not end with %q", strings.Join(seg, "\n"))
			}
			pos = len(got)
		default:
			found := false
			for i := pos; i+len(seg) <= len(got); i++ {
				if at(i, seg) {
					pos, found = i+len(seg), true
					break
				}
			}
			if !found {
				return fmt.Sprintf("the output has no lines %q (in this order, after line %d)", strings.Join(seg, "\n"), pos)
			}
		}
	}
	if len(segs) == 1 && pos != len(got) {
		return fmt.Sprintf("the output has more lines than shown: %q", strings.Join(got[pos:], "\n"))
	}
	return ""
}

func TestWalkthroughMatcher(t *testing.T) {
	got := []string{"HTTP/1.1 200 OK", "date: x", "server: envoy", "", "body"}
	for _, c := range []struct {
		want []string
		ok   bool
	}{
		{[]string{"HTTP/1.1 200 OK", "..."}, true},
		{[]string{"HTTP/1.1 403 Forbidden", "..."}, false},
		{[]string{"HTTP/1.1 200 OK", "...", "server: envoy", "", "body"}, true},
		{[]string{"HTTP/1.1 200 OK", "server: envoy", "..."}, false}, // not consecutive
		{[]string{"...", "date: x", "..."}, true},
		{[]string{"HTTP/1.1 200 OK", "...", "body", "..."}, true},
		{[]string{"HTTP/1.1 200 OK", "date: x"}, false}, // lines left out without "..."
		{[]string{"...", "server: envoy"}, false},       // does not end there
		{nil, false},
		{[]string{"HTTP/1.1 ... OK", "date: ...", "..."}, true},
		{[]string{"HTTP/1.1 ... OK", "date: ...y", "..."}, false},
	} {
		if msg := matchLines(c.want, got); (msg == "") != c.ok {
			t.Errorf("matchLines(%q): %q, want ok=%v", c.want, msg, c.ok)
		}
	}
	if msg := matchLines(nil, nil); msg != "" {
		t.Errorf("no output, none shown: %s", msg)
	}
}

// openPTY opens a pseudo-terminal: its master side and the path of its
// slave side.
func openPTY() (*os.File, string, error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, "", err
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		return nil, "", fmt.Errorf("unlock the pseudo-terminal: %w", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		return nil, "", fmt.Errorf("number of the pseudo-terminal: %w", e)
	}
	return m, "/dev/pts/" + strconv.Itoa(int(n)), nil
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sessionProcs lists the processes of session sid still running (zombies
// aside): what a test started and has not stopped.
func sessionProcs(sid int) []string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp session ...: comm may hold spaces.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 4 || f[0] == "Z" {
			continue
		}
		if sess, err := strconv.Atoi(f[3]); err == nil && sess == sid {
			out = append(out, fmt.Sprintf("%s (pid %d)", s[strings.IndexByte(s, '(')+1:i], pid))
		}
	}
	return out
}

// checkSessionEnds fails the test if a process of session sid is still
// running 5 s on (a process winds down in moments once told to).
func checkSessionEnds(t *testing.T, sid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for left := sessionProcs(sid); len(left) > 0; left = sessionProcs(sid) {
		if time.Now().After(deadline) {
			t.Errorf("left running: %s", strings.Join(left, ", "))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killSession kills every process of session sid.
func killSession(sid int) {
	syscall.Kill(-sid, syscall.SIGKILL)
	for _, p := range sessionProcs(sid) {
		if i := strings.LastIndex(p, "(pid "); i >= 0 {
			if pid, err := strconv.Atoi(strings.TrimSuffix(p[i+5:], ")")); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// startMakeRun runs `make run` in a session of its own on a new
// pseudo-terminal, as from a shell; everything of the session is killed when
// the test ends, however it ends.
func startMakeRun(t *testing.T) (cmd *exec.Cmd, term *os.File, out *lockedBuffer, done chan error) {
	t.Helper()
	m, slavePath, err := openPTY()
	if err != nil {
		t.Fatalf("pseudo-terminal: %v", err)
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	cmd = exec.Command("make", "--no-print-directory", "run")
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), "ENVOY_BIN="+testenv.Envoy(t))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		m.Close()
		slave.Close()
		t.Fatalf("start make run: %v", err)
	}
	slave.Close()
	out = &lockedBuffer{}
	copied := make(chan struct{})
	go func() {
		// The master side fails with EIO once no process holds the terminal.
		io.Copy(out, m)
		close(copied)
	}()
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	sid := cmd.Process.Pid
	t.Cleanup(func() {
		killSession(sid)
		m.Close()
		<-copied
		if t.Failed() {
			t.Logf("---- make run's terminal ----\n%s", testenv.Tail(out.String(), 60))
		}
	})
	return cmd, m, out, done
}

// waitFor waits until the output holds s, failing if the process ends first.
func waitFor(t *testing.T, out *lockedBuffer, done chan error, s string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(out.String(), s) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("make run ended (%v) before printing %q", err, s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("make run did not print %q within %s", s, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWalkthrough runs the README's walkthrough from `make run`'s banner to
// its last step, each command as written, and checks every output line the
// README shows; then Ctrl-C must end make with status 0, no error, and no
// process left behind.
func TestWalkthrough(t *testing.T) {
	cmds := readWalkthrough(t)
	root := testenv.RepoRoot()
	cmd, term, out, done := startMakeRun(t)
	sid := cmd.Process.Pid

	// make builds first: a cold build takes a while.
	waitFor(t, out, done, "Ctrl-C stops all three.", 5*time.Minute)
	banner := strings.ReplaceAll(out.String(), "\r\n", "\n")
	if i := strings.Index(banner, "The walkthrough (README.md)"); i >= 0 {
		banner = banner[i:]
	} else {
		t.Fatalf("the banner does not introduce the walkthrough:\n%s", banner)
	}
	// The banner's commands: the README's, after a cd to the checkout.
	var shown []string
	for _, l := range strings.Split(banner, "\n") {
		if strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "  #") && strings.TrimSpace(l) != "" {
			shown = append(shown, strings.TrimPrefix(l, "  "))
		}
	}
	want := []string{"cd " + root}
	for _, c := range cmds {
		want = append(want, c.cmd)
	}
	if strings.Join(shown, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the banner's commands:\n%s\nthe README's:\n%s", strings.Join(shown, "\n"), strings.Join(want, "\n"))
	}

	// Each command in a shell of its own, after the walkthrough's earlier
	// source/export/cd lines, from the repository root. A request is tried
	// again until it gets the answer shown, for up to 10 s: Envoy follows
	// a change within moments, not at once.
	prelude := ""
	for _, c := range cmds {
		start := time.Now()
		var got, msg string
		for {
			sh := exec.Command("bash", "-c", prelude+c.cmd)
			sh.Dir = root
			var stdout, stderr bytes.Buffer
			sh.Stdout, sh.Stderr = &stdout, &stderr
			err := sh.Run()
			got = stdout.String()
			msg = matchLines(c.want, strings.Split(got, "\n"))
			if err != nil {
				msg = fmt.Sprintf("%v: %s", err, strings.TrimSpace(stderr.String()))
			}
			if msg == "" || !strings.HasPrefix(c.cmd, "curl ") || time.Since(start) > 10*time.Second {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if msg != "" {
			t.Fatalf("%s\n$ %s\n%s\n-- the README shows --\n%s\n-- got --\n%s", c.step, c.cmd, msg, strings.Join(c.want, "\n"), got)
		}
		first := "(no output)"
		if len(c.want) > 0 {
			first = c.want[0]
		}
		t.Logf("%-72.72s %-26s %v", c.cmd, first, time.Since(start).Round(time.Millisecond))
		for _, kw := range []string{"source ", "export ", "cd "} {
			if strings.HasPrefix(c.cmd, kw) {
				prelude += c.cmd + "\n"
			}
		}
	}

	// Ctrl-C, typed on the terminal.
	before := len(out.String())
	if _, err := term.Write([]byte{3}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		after := strings.ReplaceAll(out.String()[before:], "\r\n", "\n")
		if err != nil {
			t.Fatalf("make run after Ctrl-C: %v; it printed:\n%s", err, after)
		}
		for _, bad := range []string{"Error", "Interrupt", "***"} {
			if strings.Contains(after, bad) {
				t.Errorf("make run printed %q after Ctrl-C:\n%s", bad, after)
			}
		}
		if !strings.Contains(after, "stopping httpbin, gatewarden and Envoy") {
			t.Errorf("make run did not say it stops the three:\n%s", after)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("make run still running 20 s after Ctrl-C")
	}
	// Nothing is left: no process of the session, no port held.
	checkSessionEnds(t, sid)
	for _, port := range []int{8000, 8080, 9090, 18000, 19000} {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			t.Errorf("port %d still answers after Ctrl-C", port)
		}
	}
}

// TestRunPortBusy: with a port `make run` needs already taken, it fails
// within seconds, naming the port, what it is for and the process holding
// it, and starts nothing. A process that exits while starting (Envoy here)
// ends it as fast, with that process's log.
func TestRunPortBusy(t *testing.T) {
	root := testenv.RepoRoot()
	envoy := testenv.Envoy(t)
	// Built first, so that the time measured is run.sh's.
	build := exec.Command("make", "--no-print-directory", "build")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, b)
	}
	for _, c := range []struct {
		port int
		what string
	}{
		{9090, "gatewarden's admin endpoint"},
		{8080, "Envoy's listener"},
	} {
		t.Run(strconv.Itoa(c.port), func(t *testing.T) {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", c.port))
			if err != nil {
				t.Fatalf("cannot take port %d for the test: %v", c.port, err)
			}
			defer l.Close()
			cmd := exec.Command("make", "--no-print-directory", "run")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "ENVOY_BIN="+envoy)
			var out lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sid := cmd.Process.Pid
			defer killSession(sid)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var runErr error
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("make run still running 30 s after it started, with port %d taken:\n%s", c.port, out.String())
			}
			took := time.Since(start)
			text := out.String()
			t.Logf("make run with port %d taken: %v after %v:\n%s", c.port, runErr, took.Round(time.Millisecond), text)
			if runErr == nil {
				t.Fatal("make run succeeded with a port taken")
			}
			if took > 10*time.Second {
				t.Errorf("make run took %v to fail: not fast", took)
			}
			msg := fmt.Sprintf("port %d (%s) is already in use", c.port, c.what)
			if !strings.Contains(text, msg) {
				t.Errorf("make run does not say %q", msg)
			}
			if _, err := exec.LookPath("ss"); err == nil && os.Geteuid() == 0 {
				if holder := fmt.Sprintf("(pid %d)", os.Getpid()); !strings.Contains(text, holder) {
					t.Errorf("make run does not name the process holding the port, %s", holder)
				}
			}
			if strings.Contains(text, "Ctrl-C stops") {
				t.Error("make run printed its banner")
			}
			checkSessionEnds(t, sid)
			// Nothing was started: httpbin's port is free.
			if conn, err := net.DialTimeout("tcp", "127.0.0.1:8000", time.Second); err == nil {
				conn.Close()
				t.Error("something listens on 8000 (httpbin) after the failed start")
			}
		})
	}
	t.Run("envoy-exits", func(t *testing.T) {
		// An "Envoy" that reports its version (make run's envoy target
		// asks) and otherwise fails at once, as a real one does on a bad
		// flag or a taken address.
		fake := filepath.Join(t.TempDir(), "envoy")
		script := "#!/bin/sh\n[ \"$1\" = --version ] && { echo 'envoy  version: fake/1.40.0/'; exit 0; }\necho 'critical: cannot bind 0.0.0.0:8080 (fake)' >&2\nexit 1\n"
		if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("make", "--no-print-directory", "run")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "ENVOY_BIN="+fake)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		start := time.Now()
		outb, err := cmd.CombinedOutput()
		defer killSession(cmd.Process.Pid)
		took, text := time.Since(start), string(outb)
		t.Logf("make run with an Envoy that exits: %v after %v:\n%s", err, took.Round(time.Millisecond), text)
		if err == nil {
			t.Fatal("make run succeeded with an Envoy that exits")
		}
		if took > 15*time.Second {
			t.Errorf("make run took %v to fail: not fast", took)
		}
		for _, want := range []string{"run.sh: Envoy exited", "cannot bind 0.0.0.0:8080 (fake)"} {
			if !strings.Contains(text, want) {
				t.Errorf("make run does not say %q", want)
			}
		}
		if strings.Contains(text, "Ctrl-C stops") {
			t.Error("make run printed its banner")
		}
		checkSessionEnds(t, cmd.Process.Pid)
	})
}
