// Package loadtest runs gatewarden with a benchmark workload, an upstream
// and optionally Envoy, on loopback, and simulates ADS clients: shared by
// the benchmark and reliability runners.
package loadtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/internal/workload"
	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// Stack is an upstream, gatewarden serving a workload directory, and
// optionally Envoy.
type Stack struct {
	Dir                  string
	GWPort, UpstreamPort int
	XDSAddr, AdminAddr   string
	Gatewarden           *testenv.GatewardenProcess
	Envoy                *testenv.EnvoyProcess
	upstream             *http.Server
	devNull              *os.File
	Key                  *jwt.Key
	client               *http.Client
}

// StartStack serves a workload of n routes with the gatewarden binary bin,
// and starts the Envoy binary envoyBin too unless it is empty.
func StartStack(bin, envoyBin string, n int, serveFlags ...string) (*Stack, error) {
	return StartStackEnv(bin, envoyBin, n, nil, serveFlags...)
}

// StartStackEnv is StartStack with variables added to gatewarden's
// environment (such as GOMEMLIMIT).
func StartStackEnv(bin, envoyBin string, n int, env []string, serveFlags ...string) (*Stack, error) {
	gwPort, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	s := &Stack{GWPort: gwPort, client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	if s.Key, err = jwt.GenerateRSA("bench-1"); err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.UpstreamPort = lis.Addr().(*net.TCPAddr).Port
	// The upstream answers 200 to every path (the workload's routes keep
	// their /svc<i> prefix), cheaply, so that Envoy's share is what is measured.
	s.upstream = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})}
	go func() {
		if err := s.upstream.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "loadtest upstream:", err)
		}
	}()
	if s.Dir, err = os.MkdirTemp("", "bench-stack"); err != nil {
		s.Stop()
		return nil, err
	}
	if err := workload.Write(s.Dir, workload.Options{Routes: n, Port: s.GWPort, Backend: "127.0.0.1", BackendPort: s.UpstreamPort, JWKS: s.Key.JWKS()}); err != nil {
		s.Stop()
		return nil, err
	}
	s.Gatewarden, err = testenv.StartGatewarden(testenv.GatewardenOptions{Bin: bin, Env: env, Log: os.Stderr, ReadyWithin: 60 * time.Second,
		Flags: append([]string{"--resources", s.Dir, "--log-level", "warn"}, serveFlags...)})
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.XDSAddr, s.AdminAddr = s.Gatewarden.XDSAddress, s.Gatewarden.AdminAddress
	if envoyBin != "" {
		// Envoy's access log (a JSON line per request, on its stdout) goes
		// to /dev/null, written by Envoy itself: a copy through this
		// process would take the CPU the measurements are of.
		if s.devNull, err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
			s.Stop()
			return nil, err
		}
		s.Envoy, err = testenv.StartEnvoy(testenv.EnvoyOptions{Bin: envoyBin, Gatewarden: bin, Gateway: "bench/bench", XDSAddress: s.XDSAddr,
			LogLevel: "error", Args: []string{"--concurrency", "1"}, Log: os.Stderr, Stdout: s.devNull}, "")
		if err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Stop stops Envoy, gatewarden and the upstream, and removes the workload.
func (s *Stack) Stop() {
	if s.Envoy != nil {
		s.Envoy.Stop()
	}
	if s.Gatewarden != nil {
		s.Gatewarden.Kill()
	}
	if s.upstream != nil {
		s.upstream.Close()
	}
	if s.devNull != nil {
		s.devNull.Close()
	}
	if s.Dir != "" {
		os.RemoveAll(s.Dir)
	}
}

// Token for route i's RBAC: team-<i%10> of acme.
func (s *Stack) Token(team string) string {
	t, err := jwt.Mint(s.Key, jwt.Claims{"org": map[string]any{"team": team, "name": "acme"}}, jwt.MintOptions{Issuer: "solo.io", TTL: time.Hour})
	if err != nil {
		panic(err)
	}
	return t
}

// Code is Envoy's answer to GET /svc<i>/get on r<i>.example.com.
func (s *Stack) Code(i int, token string) int {
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/svc%d/get", s.GWPort, i), nil)
	req.Host = fmt.Sprintf("r%d.example.com", i)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// SetTeam rewrites route i's RouteOption to require team, atomically.
func (s *Stack) SetTeam(i int, team string) error {
	name := filepath.Join(s.Dir, "routes", fmt.Sprintf("r%05d.yaml", i))
	tmp := filepath.Join(s.Dir, "routes", ".tmp")
	if err := os.WriteFile(tmp, []byte(workload.Route(i, s.UpstreamPort, "IPv4", "127.0.0.1", team)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// Metric sums a Prometheus series of gatewarden's admin endpoint.
func (s *Stack) Metric(name string) float64 {
	resp, err := http.Get("http://" + s.AdminAddr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, name+" ") || strings.HasPrefix(l, name+"{") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// RSS is the resident memory of a process, in bytes.
func RSS(pid int) float64 { return procStatus(pid, "VmRSS") }

// PeakRSS is the most resident memory a process has had, in bytes.
func PeakRSS(pid int) float64 { return procStatus(pid, "VmHWM") }

// procStatus reads a field of /proc/PID/status given in kB, in bytes.
func procStatus(pid int, field string) float64 { return procStatusFields(pid, field)[0] }

// procStatusFields reads fields of /proc/PID/status given in kB, in bytes,
// from one reading (0 for a field that is not there).
func procStatusFields(pid int, fields ...string) []float64 {
	out := make([]float64, len(fields))
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(data), "\n") {
		for i, field := range fields {
			if strings.HasPrefix(l, field+":") {
				f := strings.Fields(l)
				kb, _ := strconv.ParseFloat(f[1], 64)
				out[i] = kb * 1024
			}
		}
	}
	return out
}
