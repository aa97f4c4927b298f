package testenv

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// EnvoyPath is the Envoy binary: $ENVOY_BIN, else .cache/bin/envoy. When
// there is none it returns that path with an error naming the install
// command.
func EnvoyPath() (string, error) {
	path := os.Getenv("ENVOY_BIN")
	if path == "" {
		path = filepath.Join(RepoRoot(), ".cache", "bin", "envoy")
	}
	if _, err := os.Stat(path); err != nil {
		return path, fmt.Errorf("Envoy not found at %s: install it with %s", path, EnvoyInstallCommand)
	}
	return path, nil
}

// EnvoyOptions say how to run an Envoy served by gatewarden.
type EnvoyOptions struct {
	// Bin is the Envoy binary; Gatewarden the gatewarden binary that
	// writes its bootstrap.
	Bin, Gatewarden string
	// Gateway (namespace/name) is the Gateway the Envoy serves, from the
	// gatewarden at XDSAddress.
	Gateway, XDSAddress string
	// BootstrapFlags are `gatewarden bootstrap`'s flags besides --gateway,
	// --xds-address and --envoy-admin-address (--sotw, --xds-tls-dir, ...).
	BootstrapFlags []string
	// LogLevel is Envoy's; warn by default.
	LogLevel string
	// Args are Envoy's flags besides -c, --log-level and those that let
	// several Envoys run side by side (--concurrency 1, say).
	Args []string
	// Log receives Envoy's output as it comes.
	Log io.Writer
	// Stdout, when set, takes Envoy's standard output (its access logs)
	// instead: see ProcessOptions.Stdout.
	Stdout io.Writer
	// AdminWithin, when set, is how long Envoy's admin interface has to
	// answer before the start counts as failed.
	AdminWithin time.Duration
}

// EnvoyProcess is a running Envoy with a bootstrap `gatewarden bootstrap` wrote.
type EnvoyProcess struct {
	*Process
	// AdminAddress is host:port.
	AdminAddress string
	// dir holds the bootstrap; removed by Stop when StartEnvoy made it.
	dir, bin string
	args     []string
	ownDir   bool
	within   time.Duration
	log      io.Writer
	stdout   io.Writer
}

// StartEnvoy writes the bootstrap of o.Gateway into dir (a temporary
// directory Stop removes when dir is empty) with the admin interface on a
// free loopback port, and starts Envoy with it.
func StartEnvoy(o EnvoyOptions, dir string) (*EnvoyProcess, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	e := &EnvoyProcess{AdminAddress: fmt.Sprintf("127.0.0.1:%d", port), bin: o.Bin, dir: dir, within: o.AdminWithin, log: o.Log, stdout: o.Stdout}
	if e.dir == "" {
		if e.dir, err = os.MkdirTemp("", "gatewarden-envoy"); err != nil {
			return nil, err
		}
		e.ownDir = true
	}
	args := append([]string{"bootstrap", "--gateway", o.Gateway, "--xds-address", o.XDSAddress, "--envoy-admin-address", e.AdminAddress}, o.BootstrapFlags...)
	boot, err := exec.Command(o.Gatewarden, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		e.removeDir()
		return nil, fmt.Errorf("gatewarden %s: %w", strings.Join(args, " "), err)
	}
	path := filepath.Join(e.dir, "envoy.yaml")
	if err := os.WriteFile(path, boot, 0o644); err != nil {
		e.removeDir()
		return nil, err
	}
	level := o.LogLevel
	if level == "" {
		level = "warn"
	}
	e.args = append([]string{"-c", path, "--log-level", level, "--use-dynamic-base-id", "--disable-hot-restart"}, o.Args...)
	if err := e.start(); err != nil {
		e.removeDir()
		return nil, err
	}
	return e, nil
}

func (e *EnvoyProcess) start() error {
	p, err := StartProcess(e.bin, e.args, ProcessOptions{Log: e.log, Stdout: e.stdout})
	if err != nil {
		return err
	}
	e.Process = p
	if e.within == 0 {
		return nil
	}
	if err := WaitFor(e.within, e.AdminUp); err != nil {
		e.Kill()
		return fmt.Errorf("envoy %v: admin interface: %w\n%s", e.args, err, Tail(e.Output(), 40))
	}
	return nil
}

// Restart starts Envoy again with the same bootstrap, once the last one
// has been killed.
func (e *EnvoyProcess) Restart() error { return e.start() }

// AdminUp reports whether Envoy's admin interface answers GET /ready
// (whatever it says: Envoy may not have its configuration yet).
func (e *EnvoyProcess) AdminUp() bool {
	resp, err := http.Get("http://" + e.AdminAddress + "/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// Stop kills Envoy and removes the bootstrap directory StartEnvoy made.
func (e *EnvoyProcess) Stop() {
	e.Kill()
	e.removeDir()
}

func (e *EnvoyProcess) removeDir() {
	if e.ownDir {
		os.RemoveAll(e.dir)
	}
}

// RunEnvoy is StartEnvoy for the length of a test: the binaries are
// Envoy's (failing t with the install command when it is missing) and
// GatewardenBinary's unless o names them, the bootstrap goes to a
// directory of t's, a failure fails t, and Envoy is killed when the test
// ends, the tail of its output logged if the test failed.
func RunEnvoy(t testing.TB, o EnvoyOptions) *EnvoyProcess {
	t.Helper()
	if o.Bin == "" {
		o.Bin = Envoy(t)
	}
	if o.Gatewarden == "" {
		o.Gatewarden = GatewardenBinary(t)
	}
	e, err := StartEnvoy(o, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, "envoy", e.Stop, func() string { return e.Output() })
	return e
}
