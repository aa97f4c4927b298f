package conformance

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// TestCRILog: lines of both streams come back whole and in order, a line
// longer than a record is split and joined again, and an unended last line
// is kept once flushed.
func TestCRILog(t *testing.T) {
	long := strings.Repeat("x", criMaxLine+10)
	path := writeCRILog(t, []logWrite{{"stdout", "one\ntw"}, {"stderr", "oops\n"}, {"stdout", "o\n" + long + "\n"}, {"stdout", "last, unended"}})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, err := readCRILog(f)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ln := range lines {
		got = append(got, ln.stream+":"+string(ln.text))
	}
	want := []string{"stdout:one", "stderr:oops", "stdout:two", "stdout:" + long, "stdout:last, unended"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lines read back:\n%.200q\nwant\n%.200q", got, want)
	}
}

// logWrite is what a container writes to one of its streams at once.
type logWrite struct {
	stream, text string
}

// writeCRILog writes a container's log as the runner does, in a file of
// the test's temporary directory, and returns its path: each write to its
// stream in turn, then each stream's unended last line flushed, as when
// the container has exited, and the log closed.
func writeCRILog(t *testing.T, writes []logWrite) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pod.log")
	l, err := newCRILog(path)
	if err != nil {
		t.Fatal(err)
	}
	var streams []*criStream
	for _, w := range writes {
		i := slices.IndexFunc(streams, func(s *criStream) bool { return s.name == w.stream })
		if i < 0 {
			i = len(streams)
			streams = append(streams, l.stream(w.stream))
		}
		if _, err := streams[i].Write([]byte(w.text)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range streams {
		if err := s.flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLogOptions: the query parameters the API server passes select the
// lines as a kubelet's would.
func TestLogOptions(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	lines := []logLine{
		{at: t0.Add(-1500 * time.Millisecond), stream: "stdout", text: []byte("a")},
		{at: t0.Add(-500 * time.Millisecond), stream: "stderr", text: []byte("b")},
		{at: t0, stream: "stdout", text: []byte("c")},
		{at: t0.Add(1500 * time.Millisecond), stream: "stdout", text: []byte("d")},
	}
	for name, tc := range map[string]struct {
		query   string
		want    string
		wantErr string
	}{
		"all":                  {query: "", want: "a\nb\nc\nd\n"},
		"sinceTime, inclusive": {query: "sinceTime=" + url.QueryEscape(t0.Format(time.RFC3339)), want: "c\nd\n"},
		"sinceSeconds":         {query: "sinceSeconds=1", want: "b\nc\nd\n"},
		"timestamps":           {query: "timestamps=true&tailLines=1", want: t0.Add(1500*time.Millisecond).Format(time.RFC3339Nano) + " d\n"},
		"tailLines":            {query: "tailLines=2", want: "c\nd\n"},
		"limitBytes":           {query: "limitBytes=3", want: "a\nb"},
		"stderr only":          {query: "stream=Stderr", want: "b\n"},
		"follow":               {query: "follow=true", wantErr: "follow"},
		"previous":             {query: "previous=true", wantErr: "no previous terminated container"},
		"both since":           {query: "sinceSeconds=1&sinceTime=" + url.QueryEscape(t0.Format(time.RFC3339)), wantErr: "at most one"},
		"bad number":           {query: "tailLines=-1", wantErr: "tailLines"},
		"bad stream":           {query: "stream=stdin", wantErr: "stream"},
	} {
		t.Run(name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			o, err := parseLogOptions(q, t0)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseLogOptions(%q) = %v, want an error naming %q", tc.query, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := o.render(&b, lines); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("logs for %q = %q, want %q", tc.query, b.String(), tc.want)
			}
		})
	}
}

// TestKubeletAPI: the API server (holding the client certificate) reads a
// Pod's container logs; a client without the certificate is refused at the
// handshake, and an unknown Pod or container is not found.
func TestKubeletAPI(t *testing.T) {
	dir := t.TempDir()
	k, err := newKubeletAPI(netip.MustParseAddr("127.0.0.1"), dir)
	if err != nil {
		t.Fatal(err)
	}
	logPath := writeCRILog(t, []logWrite{{"stdout", "Echoing back request made to /mirror to client (100.72.0.9:4242)\n"}})
	r := &runner{pods: map[types.NamespacedName]*podProc{
		{Namespace: "ns", Name: "echo-1"}: {namespace: "ns", name: "echo-1", container: "echo", logPath: logPath},
	}}
	k.serve(r)
	t.Cleanup(func() {
		if err := k.close(); err != nil {
			t.Error(err)
		}
	})
	caPEM, err := os.ReadFile(k.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(k.clientCert, k.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	apiServer := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
	stranger := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + k.addr.String()
	get := func(c *http.Client, path string) (int, string, error) {
		resp, err := c.Get(base + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	since := url.QueryEscape(time.Now().Add(-time.Minute).Format(time.RFC3339))
	code, body, err := get(apiServer, "/containerLogs/ns/echo-1/echo?sinceTime="+since)
	if err != nil || code != http.StatusOK || !strings.Contains(body, "Echoing back request made to /mirror") {
		t.Errorf("logs with the API server's certificate: %d %q %v, want 200 with the echoed line", code, body, err)
	}
	future := url.QueryEscape(time.Now().Add(time.Minute).Format(time.RFC3339))
	if code, body, err := get(apiServer, "/containerLogs/ns/echo-1/echo?sinceTime="+future); err != nil || code != http.StatusOK || body != "" {
		t.Errorf("logs since a minute ahead: %d %q %v, want 200 and nothing", code, body, err)
	}
	for path, want := range map[string]int{
		"/containerLogs/ns/echo-1/other":            http.StatusNotFound,
		"/containerLogs/ns/echo-2/echo":             http.StatusNotFound,
		"/containerLogs/other/echo-1/echo":          http.StatusNotFound,
		"/containerLogs/ns/echo-1/echo?follow=true": http.StatusBadRequest,
	} {
		if code, body, err := get(apiServer, path); err != nil || code != want {
			t.Errorf("GET %s: %d %q %v, want %d", path, code, body, err, want)
		}
	}
	if code, body, err := get(stranger, "/containerLogs/ns/echo-1/echo"); err == nil {
		t.Errorf("GET without a client certificate: %d %q, want the handshake refused", code, body)
	}
}
