package testenv

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BuildGatewarden compiles cmd/gatewarden to out.
func BuildGatewarden(out string) error {
	cmd := exec.Command("go", "build", "-o", out, "./cmd/gatewarden")
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/gatewarden: %v\n%s", err, b)
	}
	return nil
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// GatewardenBinary builds cmd/gatewarden once per test binary, into a
// temporary directory RemoveGatewardenBinary removes.
func GatewardenBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "gatewarden-test-bin"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "gatewarden")
		buildErr = BuildGatewarden(binPath)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// RemoveGatewardenBinary removes what GatewardenBinary built: a package's
// TestMain calls it once its tests have run.
func RemoveGatewardenBinary() error {
	if binDir == "" {
		return nil
	}
	return os.RemoveAll(binDir)
}

// GatewardenOptions say how to run `gatewarden serve`.
type GatewardenOptions struct {
	// Bin is the gatewarden binary.
	Bin string
	// Flags are serve's flags besides --xds-address and --admin-address:
	// the source of resources (--resources or --kubeconfig) first.
	Flags []string
	// XDSAddress and AdminAddress are where xDS and the admin interface
	// are served; each on a free loopback port by default.
	XDSAddress, AdminAddress string
	// Env is added to gatewarden's environment.
	Env []string
	// Log receives gatewarden's output as it comes.
	Log io.Writer
	// ReadyWithin, when set, is how long GET /readyz of the admin address
	// has to answer 200 before the start counts as failed.
	ReadyWithin time.Duration
}

// GatewardenProcess is a running `gatewarden serve`.
type GatewardenProcess struct {
	*Process
	// XDSAddress and AdminAddress are host:port.
	XDSAddress, AdminAddress string
	opts                     GatewardenOptions
	args                     []string
}

// StartGatewarden starts `gatewarden serve` and waits for it to be ready
// if o.ReadyWithin says so.
func StartGatewarden(o GatewardenOptions) (*GatewardenProcess, error) {
	if o.XDSAddress == "" {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		o.XDSAddress = fmt.Sprintf("127.0.0.1:%d", port)
	}
	if o.AdminAddress == "" {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		o.AdminAddress = fmt.Sprintf("127.0.0.1:%d", port)
	}
	g := &GatewardenProcess{XDSAddress: o.XDSAddress, AdminAddress: o.AdminAddress, opts: o}
	g.args = append([]string{"serve", "--xds-address", g.XDSAddress, "--admin-address", g.AdminAddress}, o.Flags...)
	return g, g.start()
}

func (g *GatewardenProcess) start() error {
	p, err := StartProcess(g.opts.Bin, g.args, ProcessOptions{Env: g.opts.Env, Log: g.opts.Log})
	if err != nil {
		return err
	}
	g.Process = p
	if g.opts.ReadyWithin == 0 {
		return nil
	}
	if err := WaitFor(g.opts.ReadyWithin, g.Ready); err != nil {
		g.Kill()
		return fmt.Errorf("gatewarden %v: GET /readyz: %w\n%s", g.args, err, Tail(g.Output(), 40))
	}
	return nil
}

// Restart starts gatewarden again as it was started, once the last one
// has been killed.
func (g *GatewardenProcess) Restart() error { return g.start() }

// AdminURL is the URL of the admin interface.
func (g *GatewardenProcess) AdminURL() string { return "http://" + g.AdminAddress }

// Ready reports whether GET /readyz answers 200.
func (g *GatewardenProcess) Ready() bool {
	resp, err := http.Get(g.AdminURL() + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// RunGatewarden is StartGatewarden for the length of a test: the binary
// is GatewardenBinary's unless o.Bin names one, a failure fails t, and
// the process is killed when the test ends, the tail of its output logged
// if the test failed (after a Restart too).
func RunGatewarden(t testing.TB, o GatewardenOptions) *GatewardenProcess {
	t.Helper()
	if o.Bin == "" {
		o.Bin = GatewardenBinary(t)
	}
	g, err := StartGatewarden(o)
	if err != nil {
		t.Fatal(err)
	}
	// g.Kill and g.Output, not their values now: those of the process
	// running at the end, after a Restart too.
	killAtEnd(t, "gatewarden", func() { g.Kill() }, func() string { return g.Output() })
	return g
}
