package xds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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

// ads is the gRPC service.
type ads struct{ s *Server }

func (a ads) StreamAggregatedResources(st discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	return serveStream(a.s, st, false, func() (*rawMessage, error) {
		m := &rawMessage{}
		if err := st.RecvMsg(m); err != nil {
			return nil, err
		}
		return m, nil
	})
}

func (a ads) DeltaAggregatedResources(st discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesServer) error {
	return serveStream(a.s, st, true, st.Recv)
}

// stream is one Envoy's ADS stream. Only the stream's goroutine touches its
// watches; node and gateway are set once, under the server's lock.
type stream struct {
	id      int64
	delta   bool
	send    grpc.ServerStream
	wake    chan struct{}
	node    *corev3.Node
	gateway string
	nonce   uint64
	sotw    map[string]*sotwWatch
	deltas  map[string]*deltaWatch
	// helloAt is when the node announced itself; timed is the snapshot
	// whose push latency was last observed.
	helloAt time.Time
	timed   *Snapshot
	charged map[string]int64 // type -> bytes its subscription is charged (limits.go)
}

func (st *stream) notify() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

func (st *stream) protocol() string {
	if st.delta {
		return "delta"
	}
	return "sotw"
}

// serveStream reads requests on their own goroutine and answers them, and
// pushes each new snapshot of the stream's Gateway.
func serveStream[R any](s *Server, gs grpc.ServerStream, delta bool, recv func() (R, error)) error {
	st := &stream{id: s.nextID.Add(1), delta: delta, send: gs, wake: make(chan struct{}, 1),
		sotw: map[string]*sotwWatch{}, deltas: map[string]*deltaWatch{}}
	s.metrics.Streams.WithLabelValues(st.protocol()).Inc()
	s.mu.Lock()
	s.streams[st.id] = st
	s.mu.Unlock()
	defer func() {
		s.metrics.Streams.WithLabelValues(st.protocol()).Dec()
		if st.node != nil {
			s.metrics.Connected.WithLabelValues(st.gateway).Dec()
		}
		s.mu.Lock()
		delete(s.streams, st.id)
		s.mu.Unlock()
		s.release(st)
		s.log.Info("xDS stream closed", "stream", st.id, "protocol", st.protocol(), "node", st.node.GetId(), "gateway", st.gateway)
	}()

	ctx := gs.Context()
	reqs := make(chan R)
	errc := make(chan error, 1)
	go func() {
		for {
			req, err := recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		case req := <-reqs:
			var err error
			switch r := any(req).(type) {
			case *rawMessage:
				var parsed *sotwRequest
				if parsed, err = parseSotWRequest(r.buf); err == nil {
					err = s.checkedSotW(st, parsed)
				} else {
					err = status.Error(codes.InvalidArgument, err.Error())
				}
			case *discoveryv3.DeltaDiscoveryRequest:
				err = s.checkedDelta(st, r)
			}
			if err != nil {
				return err
			}
		case <-st.wake:
		}
		if err := s.push(st); err != nil {
			return err
		}
		if s.onBusy != nil {
			s.onBusy()
		}
	}
}

// hello records the node of a stream's first request.
func (s *Server) hello(st *stream, node *corev3.Node) error {
	if st.node != nil {
		return nil
	}
	if node == nil {
		return status.Error(codes.InvalidArgument, "the first request of a stream must carry the node")
	}
	if err := s.authorize(st, node.GetId(), node.GetCluster()); err != nil {
		return err
	}
	s.mu.Lock()
	st.node, st.gateway, st.helloAt = node, node.GetCluster(), time.Now()
	s.metrics.Connected.WithLabelValues(st.gateway).Inc()
	configured := s.snapshots[st.gateway] != nil && !s.snapshots[st.gateway].empty
	s.mu.Unlock()
	s.log.Info("xDS stream opened", "stream", st.id, "protocol", st.protocol(), "node", node.GetId(), "gateway", st.gateway)
	if st.gateway == "" {
		s.log.Warn("Envoy announced no node cluster; it must be \"namespace/gateway\" to receive configuration (see 'gatewarden bootstrap')", "stream", st.id, "node", node.GetId())
	} else if !configured {
		s.log.Warn("no configuration for this gateway yet; the Envoy waits for it", "stream", st.id, "gateway", st.gateway)
	}
	return nil
}

// answered counts and logs an Envoy's answer to a response: a NACK is
// recorded for the Gateway's status, and the rejected version is not sent
// again (the stream waits for the next snapshot).
func (s *Server) answered(st *stream, typeURL, version, errMsg string, nack bool) {
	if !nack {
		s.metrics.Acks.WithLabelValues(st.gateway, shortType(typeURL)).Inc()
		// The NACK series exists from the first answer, at 0, so that
		// rate() and alerts see it before the first rejection.
		s.metrics.Nacks.WithLabelValues(st.gateway, shortType(typeURL)).Add(0)
		s.log.Debug("Envoy accepted configuration", "gateway", st.gateway, "node", st.node.GetId(), "type", shortType(typeURL), "version", version)
		return
	}
	errMsg = boundMessage(errMsg, s.limits.NackMessageBytes)
	n := Nack{Node: st.node.GetId(), TypeURL: typeURL, Version: version, Message: errMsg, Time: time.Now()}
	s.mu.Lock()
	s.nacks[st.gateway] = n
	s.mu.Unlock()
	s.metrics.Nacks.WithLabelValues(st.gateway, shortType(typeURL)).Inc()
	s.log.Warn("Envoy rejected configuration; it keeps its last good one and this version will not be re-sent",
		"gateway", st.gateway, "node", st.node.GetId(), "type", shortType(typeURL), "version", version, "error", errMsg)
	if s.onNack != nil && s.nackLimit.allow(st.gateway, n.Time, s.limits.NackStatusInterval) {
		s.onNack(st.gateway, n)
	}
}

// The push order is make-before-break, as the xDS protocol's "Eventual
// consistency considerations" has it, for each stream on its own (one slow
// Envoy delays only itself):
//
//  1. clusters, their endpoints and secrets, without removing any (the
//     Envoy's routes may still use them);
//  2. once the Envoy has answered those and subscribed to the endpoints of
//     every cluster (its new clusters are warm), listeners and routes;
//  3. once it has answered those, the removal of the clusters, endpoints
//     and secrets that are gone.
//
// The stages are those of the types' table (types.go).

// push sends every response the stream's Envoy is due, in that order.
func (s *Server) push(st *stream) error {
	if st.node == nil {
		return nil
	}
	snap := s.snapshot(st.gateway)
	if snap == nil {
		return nil
	}
	if err := s.pushTypes(st, snap, warmTypes, true); err != nil {
		return err
	}
	if st.waiting(warmTypes) || !st.warm(snap) {
		return nil
	}
	if err := s.pushTypes(st, snap, routeTypes, false); err != nil {
		return err
	}
	if st.waiting(routeTypes) {
		return nil
	}
	return s.pushTypes(st, snap, warmTypes, false)
}

func (s *Server) pushTypes(st *stream, snap *Snapshot, typeURLs []string, hold bool) error {
	for _, typeURL := range typeURLs {
		ts := snap.types[typeURL]
		var resp *encodedResponse
		if st.delta {
			if w := st.deltas[typeURL]; w != nil {
				resp = st.deltaResponse(w, ts, hold)
			}
		} else if w := st.sotw[typeURL]; w != nil {
			resp = st.sotwResponse(w, ts, hold)
		}
		if resp == nil {
			continue
		}
		if err := st.send.SendMsg(resp); err != nil {
			return err
		}
		s.metrics.Pushes.WithLabelValues(shortType(typeURL)).Inc()
		s.metrics.BytesSent.WithLabelValues(shortType(typeURL)).Add(float64(resp.size))
		if st.timed != snap && snap.published.After(st.helloAt) {
			// A connecting Envoy's first configuration is not a push
			// latency: the snapshot may be hours old.
			st.timed = snap
			s.metrics.PushLatency.Observe(time.Since(snap.published).Seconds())
		}
	}
	return nil
}

// waiting reports whether the Envoy has not answered the last response of
// one of the types.
func (st *stream) waiting(typeURLs []string) bool {
	for _, typeURL := range typeURLs {
		if st.delta {
			if w := st.deltas[typeURL]; w != nil && w.pending {
				return true
			}
		} else if w := st.sotw[typeURL]; w != nil && w.pending {
			return true
		}
	}
	return false
}

// warm reports whether the Envoy has subscribed to the endpoints of every
// cluster of snap that has some: a cluster warms until its endpoints come,
// and a route to a warming cluster answers 503. An Envoy that rejected the
// clusters never subscribes to theirs: it is not waited for, nor is one
// that has not asked for endpoints yet (Envoy asks for listeners only once
// its first clusters are warm).
func (st *stream) warm(snap *Snapshot) bool {
	eds := snap.types[endpointTypeURL]
	if eds == nil || len(eds.entries) == 0 {
		return true
	}
	var sub *subscription
	if st.delta {
		w := st.deltas[endpointTypeURL]
		if c := st.deltas[clusterTypeURL]; c == nil || c.nacked {
			return true
		}
		if w == nil {
			return true
		}
		sub = &w.sub
	} else {
		w := st.sotw[endpointTypeURL]
		if c := st.sotw[clusterTypeURL]; c == nil || c.nacked {
			return true
		}
		if w == nil {
			return true
		}
		sub = &w.sub
	}
	if sub.wildcard || sub.shared == eds.names {
		return true
	}
	for _, n := range eds.names.list {
		if !sub.has(n) {
			return false
		}
	}
	return true
}

func (st *stream) nextNonce() string {
	st.nonce++
	return fmt.Sprintf("%d", st.nonce)
}
