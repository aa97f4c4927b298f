package xds

import (
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Limits bound what one xDS client can make gatewarden hold. Even an
// authenticated client is not trusted with the control plane's memory: a
// proxy whose Gateway's tenant is hostile, or a stolen certificate, must
// not be able to take down the configuration of every other Gateway.
type Limits struct {
	// MaxRecvMsgSize is the largest request accepted. A state-of-the-world
	// Envoy names every route configuration it wants in every request:
	// under scoped RDS, one per hostname. 100,000 hosts named
	// "listener_443/<host>" average 40-60 bytes a name, 5-7 MB a request;
	// 8 MiB leaves room for names of 80 bytes on average.
	MaxRecvMsgSize int
	// MaxNames caps the resource names of one subscription (a type of
	// one stream): 100,000 scoped hosts, with room.
	MaxNames int
	// MaxStreamsPerConnection caps concurrent streams on one connection
	// (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). Envoy opens one ADS stream
	// per connection.
	MaxStreamsPerConnection uint32
	// MaxStreamsPerGateway caps the streams of one Gateway (one xDS
	// identity) over all its connections: each Envoy replica holds one, so
	// a Gateway's certificate, stolen or in a hostile tenant's hands,
	// cannot open streams (each with its goroutines and buffers) without
	// bound. A stream over it ends with ResourceExhausted; 0 sets no cap.
	MaxStreamsPerGateway int
	// MaxConnectionIdle closes a connection that has had no stream for
	// this long: an Envoy always holds its ADS stream open, so a
	// connection without one is kept by nothing gatewarden serves.
	MaxConnectionIdle time.Duration
	// SubscriptionBytes caps the memory held by subscriptions that are not
	// the served names (those cost nothing: they point to the snapshot's
	// index), per Gateway and over all streams. A request that would go
	// beyond ends its stream with ResourceExhausted.
	SubscriptionBytesPerGateway, SubscriptionBytes int64
	// MaxConnectionAge closes connections after this long (with a grace
	// period for the stream in flight), so that Envoys spread over new
	// replicas after a scale-up or a rollout; Envoy reconnects at once.
	MaxConnectionAge, MaxConnectionAgeGrace time.Duration
	// NackMessageBytes cuts the error an Envoy sends with a NACK before it
	// becomes a Gateway's status message.
	NackMessageBytes int
	// NackStatusInterval is the least time between two status changes of
	// a Gateway caused by NACKs.
	NackStatusInterval time.Duration
}

// DefaultLimits are the limits of a Server that was given none.
func DefaultLimits() Limits {
	return Limits{
		MaxRecvMsgSize:              8 << 20,
		MaxNames:                    150_000,
		MaxStreamsPerConnection:     16,
		MaxStreamsPerGateway:        1024,
		MaxConnectionIdle:           5 * time.Minute,
		SubscriptionBytesPerGateway: 64 << 20,
		SubscriptionBytes:           128 << 20,
		MaxConnectionAge:            30 * time.Minute,
		MaxConnectionAgeGrace:       time.Minute,
		NackMessageBytes:            1024,
		NackStatusInterval:          10 * time.Second,
	}
}

// keepaliveTime is how often the server pings an idle connection, and
// keepaliveMinTime the most often a client may ping: the bootstrap's
// HTTP/2 keepalive (BootstrapKeepalive) stays above it, so that gRPC does
// not close Envoy's connection for pinging too often.
const (
	keepaliveTime    = 30 * time.Second
	keepaliveTimeout = 5 * time.Second
	keepaliveMinTime = 10 * time.Second
)

// serverOptions are the gRPC options that enforce the limits.
func (s *Server) serverOptions() []grpc.ServerOption {
	l := s.limits
	return []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time: keepaliveTime, Timeout: keepaliveTimeout,
			MaxConnectionAge: l.MaxConnectionAge, MaxConnectionAgeGrace: l.MaxConnectionAgeGrace,
			MaxConnectionIdle: l.MaxConnectionIdle,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(l.MaxStreamsPerConnection),
		grpc.MaxRecvMsgSize(l.MaxRecvMsgSize),
	}
}

// checkType refuses a type gatewarden never serves: answering nothing
// would leave the client's subscription (and whatever names it lists)
// held for the life of the stream.
func (s *Server) checkType(st *stream, typeURL string) error {
	if slices.Contains(typeOrder, typeURL) {
		return nil
	}
	s.metrics.Refused.WithLabelValues("unknown_type").Inc()
	s.log.Warn("xDS stream refused: it asked for a resource type gatewarden does not serve", "stream", st.id, "gateway", st.gateway, "type", typeURL)
	return status.Errorf(codes.InvalidArgument, "resource type %q is not served (gatewarden serves %v)", typeURL, typeOrder)
}

// checkedSotW and checkedDelta apply the type and size limits around a
// request, and account for the memory of its subscription.
func (s *Server) checkedSotW(st *stream, req *sotwRequest) error {
	if err := s.checkType(st, req.typeURL); err != nil {
		return err
	}
	if req.nameCount > s.limits.MaxNames {
		return s.exhausted(st, req.typeURL, "names", req.nameCount)
	}
	w := st.sotw[req.typeURL]
	var count int
	var hash uint64
	if w != nil {
		count, hash = w.nameCount, w.namesHash
	}
	if w == nil || w.nameCount != req.nameCount || w.namesHash != req.namesHash {
		// New names: refuse before holding them what would be refused after.
		if err := s.precheck(st, req.typeURL, int64(len(req.raw))+int64(req.nameCount)*perName); err != nil {
			return err
		}
	}
	if err := s.sotwRequest(st, req); err != nil {
		return err
	}
	if w = st.sotw[req.typeURL]; w == nil || (w.nameCount == count && w.namesHash == hash) {
		return nil
	}
	return s.charge(st, req.typeURL, &w.sub)
}

func (s *Server) checkedDelta(st *stream, req *discoveryv3.DeltaDiscoveryRequest) error {
	if err := s.checkType(st, req.GetTypeUrl()); err != nil {
		return err
	}
	if n := len(req.GetResourceNamesSubscribe()) + len(req.GetInitialResourceVersions()); n > s.limits.MaxNames {
		return s.exhausted(st, req.GetTypeUrl(), "names", n)
	}
	var adding int64
	for _, n := range req.GetResourceNamesSubscribe() {
		adding += int64(len(n)) + perName
	}
	if err := s.precheck(st, req.GetTypeUrl(), st.charged[req.GetTypeUrl()]+adding); err != nil {
		return err
	}
	if err := s.deltaRequest(st, req); err != nil {
		return err
	}
	w := st.deltas[req.GetTypeUrl()]
	if w == nil {
		return nil
	}
	if w.sub.size() > s.limits.MaxNames || len(w.extra) > s.limits.MaxNames {
		return s.exhausted(st, req.GetTypeUrl(), "names", max(w.sub.size(), len(w.extra)))
	}
	if len(req.GetResourceNamesSubscribe())+len(req.GetResourceNamesUnsubscribe())+len(req.GetInitialResourceVersions()) == 0 {
		return nil
	}
	return s.charge(st, req.GetTypeUrl(), &w.sub)
}

// perName is what a name held in a subscription's set costs besides its
// bytes (string header, map entry).
const perName = 64

// charge accounts for the memory of a stream's subscription to typeURL.
func (s *Server) charge(st *stream, typeURL string, sub *subscription) error {
	var cost int64
	if sub.shared == nil && !sub.wildcard {
		for n := range sub.own {
			cost += int64(len(n)) + perName
		}
	}
	if st.charged == nil {
		st.charged = map[string]int64{}
	}
	delta := cost - st.charged[typeURL]
	s.mu.Lock()
	if s.subBytes == nil {
		s.subBytes = map[string]int64{}
	}
	gw, total := s.subBytes[st.gateway]+delta, s.subTotal+delta
	over := delta > 0 && (gw > s.limits.SubscriptionBytesPerGateway || total > s.limits.SubscriptionBytes)
	if !over {
		s.subBytes[st.gateway], s.subTotal = gw, total
		st.charged[typeURL] = cost
	}
	s.mu.Unlock()
	if over {
		return s.exhausted(st, typeURL, "subscription_bytes", int(cost))
	}
	return nil
}

// precheck refuses a request whose names alone, held as the stream's
// subscription to typeURL (cost, an upper estimate), would go over the
// budget: the set is not built only to be refused.
func (s *Server) precheck(st *stream, typeURL string, cost int64) error {
	if cost <= st.charged[typeURL] || st.node == nil && cost < s.limits.SubscriptionBytesPerGateway {
		return nil
	}
	delta := cost - st.charged[typeURL]
	s.mu.Lock()
	over := s.subBytes[st.gateway]+delta > s.limits.SubscriptionBytesPerGateway || s.subTotal+delta > s.limits.SubscriptionBytes
	s.mu.Unlock()
	if over {
		return s.exhausted(st, typeURL, "subscription_bytes", int(cost))
	}
	return nil
}

// release gives back what a closing stream's subscriptions were charged.
func (s *Server) release(st *stream) {
	var sum int64
	for _, c := range st.charged {
		sum += c
	}
	if sum == 0 {
		return
	}
	s.mu.Lock()
	s.subBytes[st.gateway] -= sum
	if s.subBytes[st.gateway] <= 0 {
		delete(s.subBytes, st.gateway)
	}
	s.subTotal -= sum
	s.mu.Unlock()
}

func (s *Server) exhausted(st *stream, typeURL, what string, n int) error {
	s.metrics.Refused.WithLabelValues(what).Inc()
	s.log.Warn("xDS stream refused: over a limit", "stream", st.id, "gateway", st.gateway, "node", st.node.GetId(),
		"type", shortType(typeURL), "limit", what, "value", n)
	return status.Errorf(codes.ResourceExhausted, "%s %s: %d is over gatewarden's limit", shortType(typeURL), what, n)
}

// nackLimiter spaces the status changes NACKs cause, per Gateway: a
// proxy that NACKs in a loop (or lies) cannot turn gatewarden into a
// stream of writes to the API server.
type nackLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (l *nackLimiter) allow(gateway string, now time.Time, every time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[gateway]; ok && now.Sub(t) < every {
		return false
	}
	if l.last == nil {
		l.last = map[string]time.Time{}
	}
	l.last[gateway] = now
	return true
}

// boundMessage cuts an Envoy's error message to n bytes, on a rune
// boundary, so that it fits a status condition.
func boundMessage(msg string, n int) string {
	if len(msg) <= n {
		return msg
	}
	cut := n - len(" [truncated]")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + " [truncated]"
}
