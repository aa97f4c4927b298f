package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	"github.com/gatewarden/gatewarden/translator"
)

// Server publishes Results as snapshots and serves them over ADS.
type Server struct {
	log     *slog.Logger
	metrics *Metrics
	cache   *nackGuard
	xds     serverv3.Server

	mu        sync.Mutex
	published map[string]string // gateway -> version
	current   map[string]*translator.GatewayConfig
	streams   map[int64]*stream
	nacks     map[string]Nack // gateway -> last NACK of its current version
	ready     chan struct{}
	readyOnce sync.Once
	onNack    func(gateway string, n Nack)
}

// OnNack sets a function called (outside the server's lock) when an Envoy
// rejects a Gateway's configuration, so that the Gateway's status can say so.
func (s *Server) OnNack(f func(gateway string, n Nack)) { s.onNack = f }

// Nack is the last rejection of a Gateway's configuration by an Envoy.
type Nack struct {
	Node    string    `json:"node"`
	TypeURL string    `json:"typeUrl"`
	Version string    `json:"version"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

type stream struct {
	node *corev3.Node
	sent map[string]sent // by type URL
}

type sent struct{ nonce, version string }

// NewServer returns a Server with an empty cache.
func NewServer(log *slog.Logger, metrics *Metrics) *Server {
	s := &Server{
		log:       log,
		metrics:   metrics,
		cache:     newNackGuard(cachev3.NewSnapshotCache(true, nodeHash{}, nil)),
		published: map[string]string{},
		current:   map[string]*translator.GatewayConfig{},
		streams:   map[int64]*stream{},
		nacks:     map[string]Nack{},
		ready:     make(chan struct{}),
	}
	s.xds = serverv3.NewServer(context.Background(), s.cache, s.callbacks())
	return s
}

// Ready is closed once a first Result has been published.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Publish turns every Gateway of res into a snapshot and hands the changed
// ones to the cache. A Gateway that is gone gets an empty snapshot, so that
// its Envoys drop its listeners rather than serve stale policy. A snapshot
// that is not consistent is not published: the last good one stays.
func (s *Server) Publish(ctx context.Context, res *translator.Result) error {
	var errs []error
	s.mu.Lock()
	defer s.mu.Unlock()
	current := map[string]bool{}
	for _, gc := range res.Gateways {
		current[gc.Key()] = true
		errs = append(errs, s.setLocked(ctx, gc))
	}
	for key := range s.published {
		if !current[key] {
			errs = append(errs, s.setLocked(ctx, &translator.GatewayConfig{Namespace: splitKey(key)[0], Name: splitKey(key)[1]}))
		}
	}
	s.forgetStaleEncodings()
	s.readyOnce.Do(func() { close(s.ready) })
	return errors.Join(errs...)
}

func (s *Server) setLocked(ctx context.Context, gc *translator.GatewayConfig) error {
	snap, err := BuildSnapshot(gc)
	if err != nil {
		s.metrics.SnapshotErrs.Inc()
		s.log.Error("snapshot not published; the last good one stays", "gateway", gc.Key(), "error", err)
		return err
	}
	version := SnapshotVersion(snap)
	if s.published[gc.Key()] == version {
		return nil
	}
	if err := s.cache.SetSnapshot(ctx, gc.Key(), snap); err != nil {
		return fmt.Errorf("set snapshot of %s: %w", gc.Key(), err)
	}
	if len(gc.Listeners) == 0 && len(gc.Clusters) == 0 {
		delete(s.published, gc.Key())
		delete(s.current, gc.Key())
	} else {
		s.published[gc.Key()] = version
		s.current[gc.Key()] = gc
	}
	delete(s.nacks, gc.Key())
	s.metrics.Snapshots.WithLabelValues(gc.Key()).Inc()
	s.log.Info("published configuration", "gateway", gc.Key(), "version", version,
		"listeners", len(gc.Listeners), "routes", len(gc.Routes), "clusters", len(gc.Clusters))
	return nil
}

// forgetStaleEncodings drops the shared encodings of resources that no
// published snapshot holds. Called with s.mu held.
func (s *Server) forgetStaleEncodings() {
	live := map[types.Resource]bool{}
	for _, gc := range s.current {
		for _, r := range gc.Listeners {
			live[r] = true
		}
		for _, r := range gc.Routes {
			live[r] = true
		}
		for _, r := range gc.Clusters {
			live[r] = true
		}
		for _, r := range gc.Endpoints {
			live[r] = true
		}
	}
	s.cache.gate.retain(live)
}

// Versions returns the published version of each Gateway.
func (s *Server) Versions() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.published))
	for k, v := range s.published {
		out[k] = v
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

// Register adds the ADS service to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
}

// Serve serves ADS on lis until ctx ends.
func (s *Server) Serve(ctx context.Context, lis net.Listener, opts ...grpc.ServerOption) error {
	opts = append([]grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 15 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(1 << 20),
	}, opts...)
	g := grpc.NewServer(opts...)
	s.Register(g)
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

func (s *Server) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamOpenFunc: func(_ context.Context, id int64, _ string) error {
			s.openStream(id, "sotw")
			return nil
		},
		StreamClosedFunc: func(id int64, node *corev3.Node) { s.cache.gate.closed(id); s.closeStream(id, "sotw", node) },
		DeltaStreamOpenFunc: func(_ context.Context, id int64, _ string) error {
			s.openStream(id, "delta")
			return nil
		},
		DeltaStreamClosedFunc: func(id int64, node *corev3.Node) { s.cache.gate.closed(id); s.closeStream(id, "delta", node) },
		StreamRequestFunc: func(id int64, req *discoveryv3.DiscoveryRequest) error {
			s.cache.gate.answered(id, req.GetTypeUrl())
			s.onRequest(id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
			return nil
		},
		StreamResponseFunc: func(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
			s.cache.gate.sent(id, resp.GetTypeUrl(), resp)
			s.metrics.BytesSent.WithLabelValues(shortType(resp.GetTypeUrl())).Add(float64(proto.Size(resp)))
			s.onResponse(id, resp.GetTypeUrl(), resp.GetNonce(), resp.GetVersionInfo())
		},
		StreamDeltaRequestFunc: func(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
			s.cache.gate.answered(id, req.GetTypeUrl())
			s.onRequest(id, req.GetNode(), req.GetTypeUrl(), req.GetResponseNonce(), req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
			return nil
		},
		StreamDeltaResponseFunc: func(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
			s.cache.gate.sent(id, resp.GetTypeUrl(), resp)
			s.metrics.BytesSent.WithLabelValues(shortType(resp.GetTypeUrl())).Add(float64(proto.Size(resp)))
			s.onResponse(id, resp.GetTypeUrl(), resp.GetNonce(), resp.GetSystemVersionInfo())
		},
	}
}

func (s *Server) openStream(id int64, protocol string) {
	s.metrics.Streams.WithLabelValues(protocol).Inc()
	s.mu.Lock()
	s.streams[id] = &stream{sent: map[string]sent{}}
	s.mu.Unlock()
}

func (s *Server) closeStream(id int64, protocol string, node *corev3.Node) {
	s.metrics.Streams.WithLabelValues(protocol).Dec()
	s.mu.Lock()
	delete(s.streams, id)
	s.mu.Unlock()
	s.log.Info("xDS stream closed", "stream", id, "protocol", protocol, "node", node.GetId(), "gateway", node.GetCluster())
}

func (s *Server) onRequest(id int64, node *corev3.Node, typeURL, nonce, errMsg string, nack bool) {
	s.mu.Lock()
	st := s.streams[id]
	if st == nil {
		s.mu.Unlock()
		return
	}
	first := st.node == nil
	if node != nil {
		st.node = node
	}
	var version string
	if prev, ok := st.sent[typeURL]; ok && prev.nonce == nonce {
		version = prev.version
	}
	gateway := st.node.GetCluster()
	var nackInfo Nack
	if nack {
		nackInfo = Nack{Node: st.node.GetId(), TypeURL: typeURL, Version: version, Message: errMsg, Time: time.Now()}
		s.nacks[gateway] = nackInfo
	}
	s.mu.Unlock()
	if nack && s.onNack != nil {
		defer s.onNack(gateway, nackInfo)
	}

	if first {
		s.log.Info("xDS stream opened", "stream", id, "node", st.node.GetId(), "gateway", gateway)
		if gateway == "" {
			s.log.Warn("Envoy announced no node cluster; it must be \"namespace/gateway\" to receive configuration (see 'gatewarden bootstrap')", "stream", id, "node", st.node.GetId())
		} else if _, ok := s.Versions()[gateway]; !ok {
			s.log.Warn("no configuration for this gateway yet; the Envoy waits for it", "stream", id, "gateway", gateway)
		}
	}
	switch {
	case nack:
		s.cache.rejected(gateway, typeURL, version)
		s.metrics.Nacks.WithLabelValues(gateway, shortType(typeURL)).Inc()
		s.log.Warn("Envoy rejected configuration; it keeps its last good one and this version will not be re-sent",
			"gateway", gateway, "node", st.node.GetId(), "type", shortType(typeURL), "version", version, "error", errMsg)
	case version != "":
		s.metrics.Acks.WithLabelValues(gateway, shortType(typeURL)).Inc()
		s.log.Debug("Envoy accepted configuration", "gateway", gateway, "node", st.node.GetId(), "type", shortType(typeURL), "version", version)
	}
}

func (s *Server) onResponse(id int64, typeURL, nonce, version string) {
	s.metrics.Pushes.WithLabelValues(shortType(typeURL)).Inc()
	s.mu.Lock()
	if st := s.streams[id]; st != nil {
		st.sent[typeURL] = sent{nonce: nonce, version: version}
	}
	s.mu.Unlock()
}
