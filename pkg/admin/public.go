package admin

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Public is the part of the admin endpoint that probes and scrapers need
// (/healthz, /readyz, /metrics), for an address reachable from the
// network. The /debug pages show every Gateway's configuration (JWKS,
// topology) and pprof can stall the process: they belong on a loopback
// address (reached with `kubectl port-forward`).
func (s *Server) Public() http.Handler {
	// An allow-list: whatever else is added to the admin endpoint stays
	// off the network until it is listed here.
	pub := http.NewServeMux()
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		pub.Handle("GET "+p, s.mux)
	}
	return pub
}

// ServeHandler serves h on lis until ctx ends.
func ServeHandler(ctx context.Context, lis net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	case err := <-errc:
		return err
	}
}
