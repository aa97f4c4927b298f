package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// readmeCommands are the "$ " lines of README.md's code blocks outside the
// walkthrough (which TestWalkthrough runs against make run), each with the
// output shown under it.
func readmeCommands(t *testing.T) []walkCommand {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []walkCommand
	walk, fence, heading := false, false, ""
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "<!-- walkthrough"):
			walk = true
		case strings.HasPrefix(line, "<!-- /walkthrough"):
			walk = false
		case walk:
		case strings.HasPrefix(line, "#"):
			heading = line
		case strings.HasPrefix(line, "```"):
			fence = !fence
		case fence && strings.HasPrefix(line, "$ "):
			out = append(out, walkCommand{step: heading, cmd: strings.TrimPrefix(line, "$ ")})
		case fence && len(out) > 0 && out[len(out)-1].step == heading:
			c := &out[len(out)-1]
			c.want = append(c.want, line)
		}
	}
	return out
}

// TestREADMECommands runs every command README.md shows outside the
// walkthrough as a reader of a fresh clone would: `gatewarden` installed
// with make install (into a directory put first on the PATH), from a
// directory of its own holding the examples, in order; each must print what
// the README shows ("..." marks what varies).
func TestREADMECommands(t *testing.T) {
	root := testenv.RepoRoot()
	cmds := readmeCommands(t)
	if len(cmds) < 5 {
		t.Fatalf("only %d commands found in README.md", len(cmds))
	}
	gobin := t.TempDir()
	install := exec.Command("make", "--no-print-directory", "install")
	install.Dir = root
	install.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(gobin, "gatewarden")); err != nil {
		t.Fatalf("make install did not install gatewarden into GOBIN: %v", err)
	}
	work := t.TempDir()
	if err := os.Symlink(filepath.Join(root, "examples"), filepath.Join(work, "examples")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+gobin+string(os.PathListSeparator)+os.Getenv("PATH"))
	prelude := ""
	for _, c := range cmds {
		sh := exec.Command("bash", "-c", prelude+c.cmd)
		sh.Dir, sh.Env = work, env
		outb, err := sh.CombinedOutput()
		out := string(outb)
		if code := sh.ProcessState.ExitCode(); code == 126 || code == 127 || code == 2 {
			t.Errorf("%s\n$ %s\nexit %d (%v):\n%s", c.step, c.cmd, code, err, out)
			continue
		}
		if msg := matchLines(c.want, strings.Split(out, "\n")); msg != "" {
			t.Errorf("%s\n$ %s\n%s\n-- the README shows --\n%s\n-- got --\n%s", c.step, c.cmd, msg, strings.Join(c.want, "\n"), out)
			continue
		}
		t.Logf("%-90.90s ok", c.cmd)
		if strings.HasPrefix(c.cmd, "source ") || strings.HasPrefix(c.cmd, "export ") || isAssignment(c.cmd) {
			prelude += c.cmd + "\n"
		}
	}
}

// isAssignment reports whether a command line only sets a shell variable.
func isAssignment(cmd string) bool {
	name, _, ok := strings.Cut(cmd, "=")
	if !ok || name == "" {
		return false
	}
	for _, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
