package xds

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"

	"github.com/gatewarden/gatewarden/pkg/pki"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// Server publishes Results as snapshots and serves them over ADS, state of
// the world and delta.
//
// Every resource is encoded once per change and the same bytes go to every
// stream; a stream keeps only what it needs to answer its Envoy (its
// subscriptions and, for delta, which snapshot its Envoy is up to date
// with), so memory grows with the configuration, not with the
// configuration times the number of Envoys.
type Server struct {
	log     *slog.Logger
	metrics *Metrics

	mu        sync.Mutex
	snapshots map[string]*Snapshot // gateway -> served snapshot (empty for a Gateway that is gone)
	streams   map[int64]*stream
	nacks     map[string]Nack // gateway -> last NACK of its current version
	ready     chan struct{}
	readyOnce sync.Once
	onNack    func(gateway string, n Nack)
	onBusy    func()
	nextID    atomic.Int64

	// Security: see identity.go and limits.go.
	trustDomain string
	limits      Limits
	nackLimit   nackLimiter
	subBytes    map[string]int64 // gateway -> bytes its streams' subscriptions hold
	subTotal    int64
	gwStreams   map[string]int // gateway -> its streams past hello
}

// ServerOptions configure a Server; they are fixed at construction.
type ServerOptions struct {
	Log     *slog.Logger
	Metrics *Metrics
	// Limits bound what clients can make the server hold; nil means
	// DefaultLimits().
	Limits *Limits
	// RequireIdentity binds every stream to the Gateway its client
	// certificate names, in TrustDomain (pki.DefaultTrustDomain when
	// empty): see identity.go.
	RequireIdentity bool
	TrustDomain     string
	// OnBusy, if set, is called after each request read and each response
	// sent, so that work that waits for quiet (returning memory) knows of it.
	OnBusy func()
	// OnNack, if set, is called (outside the server's lock) when a bound
	// Envoy rejects a Gateway's configuration, so that the Gateway's status
	// can say so.
	OnNack func(gateway string, n Nack)
}

// Nack is the last rejection of a Gateway's configuration by an Envoy.
type Nack struct {
	Node    string    `json:"node"`
	TypeURL string    `json:"typeUrl"`
	Version string    `json:"version"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// NewServer returns a Server with no configuration.
func NewServer(o ServerOptions) *Server {
	s := &Server{
		log:       o.Log,
		metrics:   o.Metrics,
		snapshots: map[string]*Snapshot{},
		streams:   map[int64]*stream{},
		nacks:     map[string]Nack{},
		ready:     make(chan struct{}),
		limits:    DefaultLimits(),
		onBusy:    o.OnBusy,
		onNack:    o.OnNack,
	}
	if o.Limits != nil {
		s.limits = *o.Limits
	}
	if o.RequireIdentity {
		s.trustDomain = o.TrustDomain
		if s.trustDomain == "" {
			s.trustDomain = pki.DefaultTrustDomain
		}
	}
	return s
}

// Ready is closed once a first set of Gateways has been published.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Publish turns every Gateway of gateways into a snapshot and serves the changed
// ones. A Gateway that is gone gets an empty snapshot, so that its Envoys
// drop its listeners rather than serve stale policy. A snapshot that is not
// consistent is not published: the last good one stays.
func (s *Server) Publish(_ context.Context, gateways []*xdsconfig.GatewayConfig) error {
	var errs []error
	current := map[string]bool{}
	for _, gc := range gateways {
		current[gc.Key()] = true
		errs = append(errs, s.set(gc))
	}
	s.mu.Lock()
	var gone []string
	for key, snap := range s.snapshots {
		if !snap.empty && !current[key] {
			gone = append(gone, key)
		}
	}
	s.mu.Unlock()
	for _, key := range gone {
		k := splitKey(key)
		errs = append(errs, s.set(&xdsconfig.GatewayConfig{Namespace: k[0], Name: k[1]}))
	}
	s.readyOnce.Do(func() { close(s.ready) })
	return errors.Join(errs...)
}

func (s *Server) set(gc *xdsconfig.GatewayConfig) error {
	key := gc.Key()
	s.mu.Lock()
	prev := s.snapshots[key]
	s.mu.Unlock()
	// Publish runs on one goroutine at a time (each source calls it from
	// one); encoding happens outside the lock so that streams keep going.
	snap, err := BuildSnapshot(gc, prev)
	if err != nil {
		s.metrics.SnapshotErrs.Inc()
		s.log.Error("snapshot not published; the last good one stays", "gateway", key, "error", err)
		return err
	}
	s.mu.Lock()
	if prev != nil && prev.version == snap.version {
		s.mu.Unlock()
		return nil
	}
	snap.published = time.Now()
	s.snapshots[key] = snap
	delete(s.nacks, key)
	var wake []*stream
	for _, st := range s.streams {
		if st.gateway == key {
			wake = append(wake, st)
		}
	}
	s.mu.Unlock()
	for _, st := range wake {
		st.notify()
	}
	s.metrics.Snapshots.WithLabelValues(key).Inc()
	s.log.Info("published configuration", "gateway", key, "version", snap.version,
		"listeners", len(gc.Listeners), "routes", len(gc.Routes), "clusters", len(gc.Clusters), "streams", len(wake))
	return nil
}

// DropResponseLists lets go of the lists of every resource of a type that
// responses carrying all of them share; they are built again when needed.
// Called once pushes are quiet, it returns their memory (for 10,000 routes,
// a few MiB a type) until Envoys connect again.
func (s *Server) DropResponseLists() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, snap := range s.snapshots {
		for _, ts := range snap.types {
			ts.sotwBufs.drop()
			ts.deltaBufs.drop()
		}
	}
}

// Versions returns the published version of each Gateway.
func (s *Server) Versions() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, snap := range s.snapshots {
		if !snap.empty {
			out[k] = snap.version
		}
	}
	return out
}

// Nacks returns the rejections of each Gateway's current configuration.
func (s *Server) Nacks() map[string]Nack {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Nack, len(s.nacks))
	for k, v := range s.nacks {
		out[k] = v
	}
	return out
}

func (s *Server) snapshot(gateway string) *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshots[gateway]
}

// Serve serves ADS on lis until ctx ends.
func (s *Server) Serve(ctx context.Context, lis net.Listener, opts ...grpc.ServerOption) error {
	opts = append(append(s.serverOptions(),
		// Responses are sent as the shared bytes of their resources.
		grpc.ForceServerCodecV2(codec{}),
	), opts...)
	g := grpc.NewServer(opts...)
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, ads{s})
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	select {
	case <-ctx.Done():
		stopped := make(chan struct{})
		go func() { g.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			g.Stop()
		}
		return nil
	case err := <-errc:
		return err
	}
}
