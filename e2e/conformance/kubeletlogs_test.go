package conformance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/pkg/pki"
)

// The stand-in kubelet's HTTPS API, of which the API server uses one path:
// GET /containerLogs/{namespace}/{pod}/{container}, behind `kubectl logs`
// (pods/log). The API server finds it as it finds a kubelet: the Pod's
// spec.nodeName names the Node nodeName, whose InternalIP and
// status.daemonEndpoints.kubeletEndpoint.Port the runner writes; it checks
// the kubelet's serving certificate against --kubelet-certificate-authority
// and presents --kubelet-client-certificate, which the stand-in requires.
//
// A container's output is kept as the CRI runtimes keep it, one record a
// line: "<RFC3339Nano time> <stdout|stderr> <F|P> <text>" (P: a part of a
// longer line), in pod-<namespace>-<pod>.log of the test's log directory.

// nodeName is the Node every Pod the runner runs is bound to.
const nodeName = "local"

// criMaxLine is the longest record: a longer line is split into partial
// records, as containerd splits them.
const criMaxLine = 16 * 1024

// criLog writes a container's stdout and stderr in the CRI format.
type criLog struct {
	mu sync.Mutex
	f  *os.File
}

func newCRILog(path string) (*criLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &criLog{f: f}, nil
}

// stream is the writer of one of the container's streams.
func (l *criLog) stream(name string) *criStream { return &criStream{log: l, name: name} }

func (l *criLog) record(stream, tag string, text []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err := fmt.Fprintf(l.f, "%s %s %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), stream, tag, text)
	return err
}

func (l *criLog) Close() error { return l.f.Close() }

type criStream struct {
	log     *criLog
	name    string
	pending []byte // the start of a line not ended yet
}

func (s *criStream) Write(p []byte) (int, error) {
	s.pending = append(s.pending, p...)
	for {
		i := bytes.IndexByte(s.pending, '\n')
		if i < 0 {
			break
		}
		if err := s.emit(s.pending[:i], true); err != nil {
			return 0, err
		}
		s.pending = s.pending[i+1:]
	}
	if err := s.emit(s.pending, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// emit writes line as records of at most criMaxLine bytes, all partial but
// the last when final; when not, the rest (shorter than a record) waits for
// the line's end.
func (s *criStream) emit(line []byte, final bool) error {
	for len(line) > criMaxLine || !final && len(line) == criMaxLine {
		if err := s.log.record(s.name, "P", line[:criMaxLine]); err != nil {
			return err
		}
		line = line[criMaxLine:]
	}
	if final {
		return s.log.record(s.name, "F", line)
	}
	s.pending = line
	return nil
}

// flush writes what is left of an unended last line, once the process has
// exited.
func (s *criStream) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	err := s.log.record(s.name, "F", s.pending)
	s.pending = nil
	return err
}

// logLine is one line of a container's output.
type logLine struct {
	at     time.Time
	stream string
	text   []byte
}

// readCRILog reads a CRI log, joining partial records into their line.
func readCRILog(r io.Reader) ([]logLine, error) {
	var out []logLine
	var part *logLine
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 2*criMaxLine)
	for sc.Scan() {
		f := bytes.SplitN(sc.Bytes(), []byte(" "), 4)
		if len(f) < 3 {
			return nil, fmt.Errorf("CRI log record %q: want <time> <stream> <F|P> <text>", sc.Text())
		}
		at, err := time.Parse(time.RFC3339Nano, string(f[0]))
		if err != nil {
			return nil, fmt.Errorf("CRI log record %q: %w", sc.Text(), err)
		}
		var text []byte
		if len(f) == 4 {
			text = f[3]
		}
		if part == nil {
			part = &logLine{at: at, stream: string(f[1])}
		}
		part.text = append(part.text, text...)
		if string(f[2]) == "F" {
			out = append(out, *part)
			part = nil
		}
	}
	if part != nil {
		out = append(out, *part)
	}
	return out, sc.Err()
}

// logOptions are the query parameters of /containerLogs, as the API server
// passes a PodLogOptions on.
type logOptions struct {
	since      time.Time
	timestamps bool
	tailLines  int64 // -1: all
	limitBytes int64 // -1: no limit
	stream     string
}

func parseLogOptions(q url.Values, now time.Time) (logOptions, error) {
	o := logOptions{tailLines: -1, limitBytes: -1, stream: "All"}
	boolean := func(name string) (bool, error) {
		v := q.Get(name)
		if v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("query %s=%q: %w", name, v, err)
		}
		return b, nil
	}
	integer := func(name string, dst *int64) error {
		v := q.Get(name)
		if v == "" {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("query %s=%q: want a number of 0 or more", name, v)
		}
		*dst = n
		return nil
	}
	var err error
	if o.timestamps, err = boolean("timestamps"); err != nil {
		return o, err
	}
	if follow, err := boolean("follow"); err != nil || follow {
		return o, errors.Join(err, errors.New("query follow=true: the stand-in kubelet serves the logs written so far only"))
	}
	if previous, err := boolean("previous"); err != nil || previous {
		// As a kubelet answers for a container that never restarted.
		return o, errors.Join(err, errors.New("query previous=true: no previous terminated container (the stand-in kubelet never restarts one)"))
	}
	if err := integer("tailLines", &o.tailLines); err != nil {
		return o, err
	}
	if err := integer("limitBytes", &o.limitBytes); err != nil {
		return o, err
	}
	if v := q.Get("sinceTime"); v != "" {
		if o.since, err = time.Parse(time.RFC3339, v); err != nil {
			return o, fmt.Errorf("query sinceTime=%q: %w", v, err)
		}
	}
	var secs int64 = -1
	if err := integer("sinceSeconds", &secs); err != nil {
		return o, err
	}
	if secs >= 0 {
		if !o.since.IsZero() {
			return o, errors.New("query: at most one of sinceTime and sinceSeconds")
		}
		o.since = now.Add(-time.Duration(secs) * time.Second)
	}
	switch v := q.Get("stream"); v {
	case "", "All":
	case "Stdout", "Stderr":
		o.stream = v
	default:
		return o, fmt.Errorf("query stream=%q: want Stdout, Stderr or All", v)
	}
	return o, nil
}

// render writes the lines the options select, as a kubelet does: the last
// tailLines, of those the ones at or after since, at most limitBytes.
func (o logOptions) render(w io.Writer, lines []logLine) error {
	var sel []logLine
	for _, l := range lines {
		if o.stream != "All" && !strings.EqualFold(l.stream, o.stream) {
			continue
		}
		sel = append(sel, l)
	}
	if o.tailLines >= 0 && int64(len(sel)) > o.tailLines {
		sel = sel[int64(len(sel))-o.tailLines:]
	}
	var b bytes.Buffer
	for _, l := range sel {
		if !o.since.IsZero() && l.at.Before(o.since) {
			continue
		}
		if o.timestamps {
			b.WriteString(l.at.Format(time.RFC3339Nano) + " ")
		}
		b.Write(l.text)
		b.WriteByte('\n')
	}
	out := b.Bytes()
	if o.limitBytes >= 0 && int64(len(out)) > o.limitBytes {
		out = out[:o.limitBytes]
	}
	_, err := w.Write(out)
	return err
}

// kubeletAPI is the stand-in kubelet's HTTPS server.
type kubeletAPI struct {
	addr netip.AddrPort
	// Files for the API server's flags.
	caFile, clientCert, clientKey string

	lis    net.Listener
	srv    *http.Server
	served chan error // what Serve returned
}

// newKubeletAPI makes the PKI (a CA, the kubelet's serving certificate for
// ip, the API server's client certificate) in dir and listens on ip.
func newKubeletAPI(ip netip.Addr, dir string) (*kubeletAPI, error) {
	ca, err := pki.NewCA("stand-in kubelet CA", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	srv, err := ca.Issue(&x509.Certificate{Subject: pkix.Name{CommonName: "system:node:" + nodeName},
		IPAddresses: []net.IP{ip.AsSlice()}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	cli, err := ca.Issue(&x509.Certificate{Subject: pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	k := &kubeletAPI{caFile: filepath.Join(dir, "kubelet-ca.crt"), clientCert: filepath.Join(dir, "apiserver-kubelet-client.crt"),
		clientKey: filepath.Join(dir, "apiserver-kubelet-client.key")}
	for path, data := range map[string][]byte{
		k.caFile:     ca.CertPEM,
		k.clientCert: cli.CertPEM, k.clientKey: cli.KeyPEM,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	pair, err := tls.X509KeyPair(srv.CertPEM, srv.KeyPEM)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	lis, err := net.Listen("tcp", netip.AddrPortFrom(ip, uint16(freePort())).String())
	if err != nil {
		return nil, err
	}
	k.lis = tls.NewListener(lis, &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	k.addr = netip.MustParseAddrPort(lis.Addr().String())
	return k, nil
}

// apiServerFlags are the kube-apiserver flags that make it reach the
// stand-in kubelet over verified, mutually authenticated TLS.
func (k *kubeletAPI) apiServerFlags() map[string]string {
	return map[string]string{
		"kubelet-certificate-authority":   k.caFile,
		"kubelet-client-certificate":      k.clientCert,
		"kubelet-client-key":              k.clientKey,
		"kubelet-preferred-address-types": "InternalIP",
	}
}

// serve answers the API server until close, with the logs of r's Pods.
func (k *kubeletAPI) serve(r *runner) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", func(w http.ResponseWriter, req *http.Request) {
		ns, pod, ctr := req.PathValue("namespace"), req.PathValue("pod"), req.PathValue("container")
		opts, err := parseLogOptions(req.URL.Query(), time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		p := r.pods[types.NamespacedName{Namespace: ns, Name: pod}]
		r.mu.Unlock()
		if p == nil || p.logPath == "" {
			http.Error(w, fmt.Sprintf("pod %s/%s: not run by this kubelet", ns, pod), http.StatusNotFound)
			return
		}
		if ctr != p.container {
			http.Error(w, fmt.Sprintf("pod %s/%s: no container %q (it has %q)", ns, pod, ctr, p.container), http.StatusNotFound)
			return
		}
		f, err := os.Open(p.logPath)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		lines, err := readCRILog(f)
		if err != nil {
			http.Error(w, fmt.Sprintf("pod %s/%s: %v", ns, pod, err), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		// A failed write is the API server gone: no one to tell.
		_ = opts.render(w, lines)
	})
	k.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	k.served = make(chan error, 1)
	go func() { k.served <- k.srv.Serve(k.lis) }()
}

func (k *kubeletAPI) close() error {
	if k.srv == nil {
		return k.lis.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := k.srv.Shutdown(ctx)
	if served := <-k.served; !errors.Is(served, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serve: %w", served))
	}
	return err
}

// registerNode writes the Node the Pods are bound to, with where the API
// server reaches its kubelet.
func (k *kubeletAPI) registerNode(ctx context.Context, c client.Client) error {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{corev1.LabelHostname: nodeName}}}
	if err := c.Create(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("node %s: %w", nodeName, err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(n), n); err != nil {
		return err
	}
	now := metav1.Now()
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: k.addr.Addr().String()}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(k.addr.Port())
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "stand-in kubelet", LastHeartbeatTime: now, LastTransitionTime: now}}
	if err := c.Status().Update(ctx, n); err != nil {
		return fmt.Errorf("node %s status: %w", nodeName, err)
	}
	return nil
}
