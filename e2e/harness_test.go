// Package e2e runs gatewarden as built against the real Envoy and a real
// httpbin, the way a user does, and checks every answer Envoy gives.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mccutchen/go-httpbin/v2/httpbin"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// TestMain removes the gatewarden binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := testenv.RemoveGatewardenBinary(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startHTTPBin serves go-httpbin on a loopback port.
func startHTTPBin(t *testing.T) int {
	t.Helper()
	srv := httptest.NewServer(httpbin.New())
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

// answer is what Envoy said to one request.
type answer struct {
	code   int
	body   string
	header http.Header
}

func (a answer) String() string {
	return fmt.Sprintf("%d %q", a.code, strings.TrimSpace(firstLine(a.body)))
}

func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	if sc.Scan() {
		return sc.Text()
	}
	return ""
}

// expectRefused checks the answer to attack name: one of the codes want,
// its body holding message, and no backend's x-backend header on it.
func expectRefused(t *testing.T, name string, got answer, message string, want ...int) {
	t.Helper()
	if !slices.Contains(want, got.code) || !strings.Contains(got.body, message) {
		t.Errorf("%s: Envoy answered %v, want one of %v %q", name, got, want, message)
	} else {
		t.Logf("%-70s %v", name, got)
	}
	if b := got.header.Get("x-backend"); b != "" {
		t.Errorf("%s: answered by backend %q", name, b)
	}
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get sends GET url with Host host and the headers given as "K: V".
func get(t *testing.T, url, host string, headers ...string) answer {
	t.Helper()
	return do(t, http.MethodGet, url, host, headers...)
}

// do sends a request with Host host and the headers given as "K: V".
func do(t *testing.T, method, url, host string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	return readAnswer(t, resp, err)
}

// readAnswer reads a response: an error getting it is an answer of code 0
// saying what went wrong.
func readAnswer(t *testing.T, resp *http.Response, err error) answer {
	t.Helper()
	if err != nil {
		return answer{code: 0, body: err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{code: resp.StatusCode, body: string(body), header: resp.Header}
}

// eventually polls check until it returns "" (success) or the deadline
// passes, and returns how long it took.
func eventually(t *testing.T, deadline time.Duration, what string, check func() string) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < deadline {
		if last = check(); last == "" {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %s", what, deadline, last)
	return 0
}

// readEnv reads KEY=VALUE lines of a file, skipping comments.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok {
			out[k] = v
		}
	}
	return out
}
