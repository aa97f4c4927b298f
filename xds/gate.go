package xds

import (
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// pushGate bounds the responses in flight to Envoys. go-control-plane
// encodes a response for each stream, and gRPC holds each encoded message
// until it is written: pushing a configuration of several MiB to a thousand
// Envoys at once would hold a thousand copies. A response takes a slot
// before it reaches its stream and gives it back when that stream's Envoy
// answers for the type (its ACK or NACK), when the stream closes, or after
// slotTimeout at the latest.
type pushGate struct {
	slots chan struct{}

	mu      sync.Mutex
	byResp  map[any]func()        // encoded response -> release
	pending map[streamType]func() // sent, awaiting the Envoy's answer
	encoded map[types.Resource]*anypb.Any
}

type streamType struct {
	stream  int64
	typeURL string
}

const (
	pushSlots   = 32
	slotTimeout = 10 * time.Second
)

func newPushGate() *pushGate {
	return &pushGate{
		slots:   make(chan struct{}, pushSlots),
		byResp:  map[any]func(){},
		pending: map[streamType]func(){},
		encoded: map[types.Resource]*anypb.Any{},
	}
}

// acquire takes a slot, unless done closes first; it returns the release.
func (g *pushGate) acquire(done <-chan struct{}) (func(), bool) {
	select {
	case g.slots <- struct{}{}:
	case <-done:
		return nil, false
	}
	var once sync.Once
	release := func() { once.Do(func() { <-g.slots }) }
	time.AfterFunc(slotTimeout, release)
	return release, true
}

// sent moves the release of an encoded response to its stream, to wait for
// the Envoy's answer.
func (g *pushGate) sent(stream int64, typeURL string, resp any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	release, ok := g.byResp[resp]
	if !ok {
		return
	}
	delete(g.byResp, resp)
	key := streamType{stream, typeURL}
	if prev := g.pending[key]; prev != nil {
		prev()
	}
	g.pending[key] = release
}

// answered releases the slot of the stream's last response of the type.
func (g *pushGate) answered(stream int64, typeURL string) {
	g.mu.Lock()
	key := streamType{stream, typeURL}
	release := g.pending[key]
	delete(g.pending, key)
	g.mu.Unlock()
	if release != nil {
		release()
	}
}

// closed releases every slot a stream holds.
func (g *pushGate) closed(stream int64) {
	g.mu.Lock()
	var releases []func()
	for k, r := range g.pending {
		if k.stream == stream {
			releases = append(releases, r)
			delete(g.pending, k)
		}
	}
	g.mu.Unlock()
	for _, r := range releases {
		r()
	}
}

func (g *pushGate) register(resp any, release func()) {
	g.mu.Lock()
	g.byResp[resp] = release
	g.mu.Unlock()
}

// encode packs a resource once for every stream that is sent it.
func (g *pushGate) encode(r types.Resource, typeURL string) (*anypb.Any, error) {
	g.mu.Lock()
	a, ok := g.encoded[r]
	g.mu.Unlock()
	if ok {
		return a, nil
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		return nil, err
	}
	a = &anypb.Any{TypeUrl: typeURL, Value: b}
	g.mu.Lock()
	g.encoded[r] = a
	g.mu.Unlock()
	return a, nil
}

// retain forgets the encodings of resources no snapshot holds any more.
func (g *pushGate) retain(live map[types.Resource]bool) {
	g.mu.Lock()
	for r := range g.encoded {
		if !live[r] {
			delete(g.encoded, r)
		}
	}
	g.mu.Unlock()
}

// gatedResponse is a state-of-the-world response whose resources are
// encoded once for all streams, and which holds a push slot.
type gatedResponse struct {
	*cachev3.RawResponse
	gate    *pushGate
	release func()
	once    sync.Once
	resp    *discoveryv3.DiscoveryResponse
	err     error
}

func (r *gatedResponse) GetDiscoveryResponse() (*discoveryv3.DiscoveryResponse, error) {
	r.once.Do(func() {
		typeURL := r.GetRequest().GetTypeUrl()
		raw := r.GetRawResources()
		out := &discoveryv3.DiscoveryResponse{VersionInfo: r.RawResponse.Version, TypeUrl: typeURL, Resources: make([]*anypb.Any, 0, len(raw))}
		for _, res := range raw {
			a, err := r.gate.encode(res.Resource, typeURL)
			if err != nil {
				r.err = err
				return
			}
			out.Resources = append(out.Resources, a)
		}
		r.resp = out
		r.gate.register(out, r.release)
	})
	return r.resp, r.err
}

// gatedDeltaResponse holds a push slot for a delta response.
type gatedDeltaResponse struct {
	cachev3.DeltaResponse
	gate    *pushGate
	release func()
	once    sync.Once
}

func (r *gatedDeltaResponse) GetDeltaDiscoveryResponse() (*discoveryv3.DeltaDiscoveryResponse, error) {
	resp, err := r.DeltaResponse.GetDeltaDiscoveryResponse()
	if err == nil {
		r.once.Do(func() { r.gate.register(resp, r.release) })
	}
	return resp, err
}
