// Package admin is gatewarden's admin HTTP endpoint: liveness, readiness,
// Prometheus metrics and a view of the configuration being served.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the admin endpoint.
type Server struct {
	mux   *http.ServeMux
	ready func() bool
	debug func() any
}

// New returns an admin Server. ready reports readiness; debug returns the
// document served at /debug/config; xds the one at /debug/xds (the served
// xDS resources, which `gatewarden explain --server` reads).
func New(reg prometheus.Gatherer, ready func() bool, debug func() any, xds func() any) *Server {
	s := &Server{mux: http.NewServeMux(), ready: ready, debug: debug}
	s.mux.HandleFunc("GET /debug/xds", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, xds(), "")
	})
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready() {
			http.Error(w, "not ready: no configuration published yet", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	// The page is about 10 kB: compressing it would keep a compressor of
	// about 1 MiB for each scraper (in a pool) to save 8 kB a scrape.
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{DisableCompression: true}))
	// Go's profiles, for finding where time and memory go in production.
	s.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	s.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	s.mux.HandleFunc("GET /debug/config", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.debug(), "  ")
	})
	return s
}

// writeJSON answers v as JSON (indented by indent unless it is empty), or
// 500 naming the error when v cannot be encoded: a reader never gets half
// a document.
func writeJSON(w http.ResponseWriter, v any, indent string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encode the document: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Bytes())
}

// Serve serves on lis until ctx ends: every page, for a loopback address
// (or the --debug-address an operator chose), behind localHostsOnly.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	return ServeHandler(ctx, lis, localHostsOnly(s.mux))
}

// localHostsOnly refuses requests whose Host is a DNS name other than
// localhost: a web page the operator opens elsewhere can make its own name
// resolve to 127.0.0.1 (DNS rebinding) and read the debug pages, which
// show every Gateway's configuration, from the operator's browser. A
// browser sends that page's name as Host; curl, kubectl port-forward,
// probes and scrapers send an IP address or localhost.
func localHostsOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		if net.ParseIP(strings.Trim(host, "[]")) == nil && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
			http.Error(w, "Host "+strconv.Quote(r.Host)+" refused: the admin endpoint answers requests to an IP address or localhost only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
