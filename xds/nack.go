package xds

import (
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// nodeHash keys the snapshot cache by the node cluster, "namespace/name" of
// the Gateway an Envoy serves: every Envoy of a Gateway shares its snapshot.
type nodeHash struct{}

func (nodeHash) ID(node *corev3.Node) string { return node.GetCluster() }

// nackGuard wraps the snapshot cache so that a rejected version is not sent
// again. On a state-of-the-world NACK, Envoy repeats the version it last
// accepted; the plain cache sees that it differs from the snapshot and sends
// the same rejected snapshot at once, and Envoy rejects it again, in a loop.
// The guard answers such a request as if the client were up to date, so the
// watch waits for the next snapshot. (Delta streams track each resource's
// version and do not have the problem.)
type nackGuard struct {
	cachev3.SnapshotCache
	gate   *pushGate
	mu     sync.Mutex
	nacked map[nackKey]string // version rejected, by gateway and type
}

type nackKey struct{ gateway, typeURL string }

func newNackGuard(c cachev3.SnapshotCache) *nackGuard {
	return &nackGuard{SnapshotCache: c, gate: newPushGate(), nacked: map[nackKey]string{}}
}

func (g *nackGuard) rejected(gateway, typeURL, version string) {
	g.mu.Lock()
	g.nacked[nackKey{gateway, typeURL}] = version
	g.mu.Unlock()
}

func (g *nackGuard) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, ch chan cachev3.Response) (func(), error) {
	if req.GetErrorDetail() != nil {
		g.mu.Lock()
		v, ok := g.nacked[nackKey{nodeHash{}.ID(req.GetNode()), req.GetTypeUrl()}]
		g.mu.Unlock()
		if ok {
			req = proto.Clone(req).(*cachev3.Request)
			req.VersionInfo = v
		}
	}
	inner := make(chan cachev3.Response, 1)
	cancel, err := g.SnapshotCache.CreateWatch(req, sub, inner)
	if err != nil {
		return cancel, err
	}
	done := make(chan struct{})
	go forward(g.gate, inner, ch, done, func(r cachev3.Response, release func()) cachev3.Response {
		if raw, ok := r.(*cachev3.RawResponse); ok {
			return &gatedResponse{RawResponse: raw, gate: g.gate, release: release}
		}
		release() // not ours to encode: not gated
		return r
	})
	return stopper(done, cancel), nil
}

// CreateDeltaWatch gates delta responses like state-of-the-world ones.
func (g *nackGuard) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, ch chan cachev3.DeltaResponse) (func(), error) {
	inner := make(chan cachev3.DeltaResponse, 1)
	cancel, err := g.SnapshotCache.CreateDeltaWatch(req, sub, inner)
	if err != nil {
		return cancel, err
	}
	done := make(chan struct{})
	go forward(g.gate, inner, ch, done, func(r cachev3.DeltaResponse, release func()) cachev3.DeltaResponse {
		return &gatedDeltaResponse{DeltaResponse: r, gate: g.gate, release: release}
	})
	return stopper(done, cancel), nil
}

// forward hands the cache's response to the stream once it has a push
// slot, wrapped to hold it; a watch cancelled first drops it.
func forward[R any](gate *pushGate, inner <-chan R, out chan<- R, done <-chan struct{}, wrap func(R, func()) R) {
	var r R
	select {
	case r = <-inner:
	case <-done:
		return
	}
	release, ok := gate.acquire(done)
	if !ok {
		return
	}
	select {
	case out <- wrap(r, release):
	case <-done:
		release()
	}
}

// stopper closes done once and cancels the inner watch.
func stopper(done chan struct{}, cancel func()) func() {
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		if cancel != nil {
			cancel()
		}
	}
}
