package xds

import (
	"errors"
	"fmt"
	"io"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

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
		if st.node != nil {
			if s.gwStreams[st.gateway]--; s.gwStreams[st.gateway] <= 0 {
				delete(s.gwStreams, st.gateway)
			}
		}
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
	if s.gwStreams == nil {
		s.gwStreams = map[string]int{}
	}
	if n := s.gwStreams[node.GetCluster()]; s.limits.MaxStreamsPerGateway > 0 && n >= s.limits.MaxStreamsPerGateway {
		s.mu.Unlock()
		s.metrics.Refused.WithLabelValues("streams_per_gateway").Inc()
		s.log.Warn("xDS stream refused: its Gateway has as many streams as gatewarden allows one", "stream", st.id,
			"gateway", node.GetCluster(), "node", node.GetId(), "streams", n)
		return status.Errorf(codes.ResourceExhausted, "Gateway %q has %d streams open, gatewarden's limit", node.GetCluster(), n)
	}
	s.gwStreams[node.GetCluster()]++
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
	eds := snap.types[resourcev3.EndpointType]
	if eds == nil || len(eds.entries) == 0 {
		return true
	}
	var sub *subscription
	clustersTaken := false
	if st.delta {
		c, w := st.deltas[resourcev3.ClusterType], st.deltas[resourcev3.EndpointType]
		clustersTaken = c != nil && !c.nacked
		if w != nil {
			sub = &w.sub
		}
	} else {
		c, w := st.sotw[resourcev3.ClusterType], st.sotw[resourcev3.EndpointType]
		clustersTaken = c != nil && !c.nacked
		if w != nil {
			sub = &w.sub
		}
	}
	if !clustersTaken || sub == nil {
		return true
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
