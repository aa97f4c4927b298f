// Package xds serves translated configuration to Envoys over ADS (state of
// the world and delta), one snapshot per Gateway, selected by the node
// cluster an Envoy announces ("namespace/name"). It also writes the Envoy
// bootstrap that points an Envoy at it.
package xds

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"weak"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gatewarden/gatewarden/translator"
)

// Snapshot is one Gateway's configuration as it goes on the wire: every
// resource encoded once, with a version of its own (a hash of its bytes),
// and shared by every stream that is sent it. A Snapshot is never modified.
type Snapshot struct {
	version string
	// empty: the Gateway has no listeners and no clusters (it is gone, or
	// serves nothing yet).
	empty bool
	types map[string]*typeSnapshot // by type URL
}

// Version changes when the content of any type does.
func (s *Snapshot) Version() string { return s.version }

// typeSnapshot holds the resources of one type, sorted by name.
type typeSnapshot struct {
	typeURL string
	version string
	entries []*entry
	names   *nameIndex
	// seq identifies this typeSnapshot; changed and removed tell what
	// differs from the one numbered prevSeq (0: none), so that a delta
	// stream that was up to date with that one needs no comparison.
	seq, prevSeq uint64
	changed      []int32
	removed      []string
	// sotwBufs lists every entry as field 2 of a DiscoveryResponse, for
	// the state-of-the-world responses carrying every resource; deltaBufs
	// is the same for delta responses.
	sotwBufs, deltaBufs bufCache
}

// bufCache holds a list of buffers built when first needed and shared by
// the responses assembled while it is in use, weakly: it costs memory only
// while streams are being sent every resource of a type (Envoys
// connecting), and is built again when needed after a collection.
type bufCache struct {
	mu sync.Mutex
	p  weak.Pointer[bufList]
}

type bufList struct{ bufs []mem.Buffer }

func (c *bufCache) get(build func() []mem.Buffer) []mem.Buffer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.p.Value(); l != nil {
		return l.bufs
	}
	l := &bufList{bufs: build()}
	c.p = weak.Make(l)
	return l.bufs
}

// deltaAll returns every entry as field 2 of a DeltaDiscoveryResponse.
func (ts *typeSnapshot) deltaAll() []mem.Buffer {
	return ts.deltaBufs.get(func() []mem.Buffer { return ts.deltaPieces(nil) })
}

// deltaPieces lists the entries at idx (every entry when idx is nil) as
// field 2 of a DeltaDiscoveryResponse: each its head, in one allocation for
// all of them, then its Any.
func (ts *typeSnapshot) deltaPieces(idx []int32) []mem.Buffer {
	n := len(idx)
	if idx == nil {
		n = len(ts.entries)
	}
	at := func(k int) *entry {
		if idx == nil {
			return ts.entries[k]
		}
		return ts.entries[idx[k]]
	}
	var heads []byte
	ends := make([]int, n)
	for k := range n {
		heads = at(k).appendDeltaHead(heads)
		ends[k] = len(heads)
	}
	bufs := make([]mem.Buffer, 0, 2*n)
	start := 0
	for k := range n {
		bufs = append(bufs, mem.SliceBuffer(heads[start:ends[k]]), mem.SliceBuffer(at(k).anyBytes()))
		start = ends[k]
	}
	return bufs
}

// sotwAll returns every entry as field 2 of a DiscoveryResponse.
func (ts *typeSnapshot) sotwAll() []mem.Buffer {
	return ts.sotwBufs.get(func() []mem.Buffer {
		all := make([]mem.Buffer, len(ts.entries))
		for i, e := range ts.entries {
			all[i] = mem.SliceBuffer(e.sotw)
		}
		return all
	})
}

// nameIndex maps the names of a type's resources to their position. It is
// shared by consecutive snapshots with the same names, and streams whose
// subscription is exactly these names point to it instead of holding a set
// of their own.
type nameIndex struct {
	pos  map[string]int32
	list []string
}

func (n *nameIndex) has(name string) bool { _, ok := n.pos[name]; return ok }

// equals reports whether names are exactly the index's, in any order.
func (n *nameIndex) equals(names []string) bool {
	if len(names) != len(n.list) {
		return false
	}
	seen := make([]bool, len(n.list))
	for _, name := range names {
		i, ok := n.pos[name]
		if !ok || seen[i] {
			return false
		}
		seen[i] = true
	}
	return true
}

// entry is one encoded resource.
type entry struct {
	name    string
	version string
	// sotw is the resource as field 2 (resources) of a DiscoveryResponse:
	// tag, length and the google.protobuf.Any, which begins at anyAt.
	sotw  []byte
	anyAt int32
}

func (e *entry) anyBytes() []byte { return e.sotw[e.anyAt:] }

// appendDeltaHead appends the opening of the resource as field 2 of a
// DeltaDiscoveryResponse (a Resource with its name and version) up to the
// Any, which follows it.
func (e *entry) appendDeltaHead(b []byte) []byte {
	anyLen := len(e.sotw) - int(e.anyAt)
	// Resource: version (1), resource (2), name (3).
	inner := protowire.SizeTag(3) + protowire.SizeBytes(len(e.name)) +
		protowire.SizeTag(1) + protowire.SizeBytes(len(e.version)) +
		protowire.SizeTag(2) + protowire.SizeBytes(anyLen)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(inner))
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, e.name)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, e.version)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(anyLen))
}

var typeSeq atomic.Uint64

// typeOrder lists every type a snapshot holds, in the order they enter the
// overall version.
var typeOrder = []resourcev3.Type{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ScopedRouteType,
	resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType}

// BuildSnapshot turns one Gateway's configuration into a consistent
// snapshot. Resources whose bytes are unchanged since prev (which may be
// nil) keep prev's encoding. Versions are hashes of content: an unchanged
// configuration is never pushed again, every replica names the same
// content alike, and a state-of-the-world Envoy is sent again only the
// types that changed.
func BuildSnapshot(gc *translator.GatewayConfig, prev *Snapshot) (*Snapshot, error) {
	resources := map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType:    toResources(gc.Listeners),
		resourcev3.RouteType:       toResources(gc.Routes),
		resourcev3.ScopedRouteType: toResources(gc.ScopedRoutes),
		resourcev3.ClusterType:     toResources(gc.Clusters),
		resourcev3.EndpointType:    toResources(gc.Endpoints),
		resourcev3.SecretType:      toResources(gc.Secrets),
	}
	// Consistency is what lets Envoy converge: every route configuration a
	// listener names and every cluster's endpoints must be in the snapshot.
	check, err := cachev3.NewSnapshot("", resources)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", gc.Key(), err)
	}
	if err := check.Consistent(); err != nil {
		return nil, fmt.Errorf("snapshot of %s is not consistent: %w", gc.Key(), err)
	}
	snap := &Snapshot{types: map[string]*typeSnapshot{}, empty: len(gc.Listeners) == 0 && len(gc.Clusters) == 0}
	overall := sha256.New()
	for _, typ := range typeOrder {
		var before *typeSnapshot
		if prev != nil {
			before = prev.types[typ]
		}
		ts, err := encodeType(typ, resources[typ], before)
		if err != nil {
			return nil, fmt.Errorf("snapshot of %s: %w", gc.Key(), err)
		}
		snap.types[typ] = ts
		fmt.Fprintf(overall, "%s\x00%s\x00", typ, ts.version)
	}
	snap.version = hex.EncodeToString(overall.Sum(nil))[:16]
	return snap, nil
}

func toResources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

// encodeType encodes the resources of one type, sorted by name, reusing
// prev's entries for the resources whose bytes did not change.
func encodeType(typeURL string, resources []types.Resource, prev *typeSnapshot) (*typeSnapshot, error) {
	ts := &typeSnapshot{typeURL: typeURL, seq: typeSeq.Add(1), entries: make([]*entry, 0, len(resources))}
	opts := proto.MarshalOptions{Deterministic: true}
	var buf []byte
	for _, r := range resources {
		name := cachev3.GetResourceName(r)
		var err error
		buf, err = opts.MarshalAppend(buf[:0], r)
		if err != nil {
			return nil, fmt.Errorf("encode %s %q: %w", shortType(typeURL), name, err)
		}
		if prev != nil {
			if i, ok := prev.names.pos[name]; ok && prev.entries[i].valueEquals(typeURL, buf) {
				ts.entries = append(ts.entries, prev.entries[i])
				continue
			}
		}
		ts.entries = append(ts.entries, newEntry(name, typeURL, buf))
	}
	sortEntries(ts.entries)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", typeURL, len(ts.entries))
	list := make([]string, len(ts.entries))
	for i, e := range ts.entries {
		if i > 0 && e.name == ts.entries[i-1].name {
			return nil, fmt.Errorf("two %s resources are named %q", shortType(typeURL), e.name)
		}
		list[i] = e.name
		fmt.Fprintf(h, "%s\x00%s\x00", e.name, e.version)
	}
	ts.version = hex.EncodeToString(h.Sum(nil))[:16]
	if prev != nil && equalNames(prev.names.list, list) {
		ts.names = prev.names
	} else {
		ts.names = &nameIndex{pos: make(map[string]int32, len(list)), list: list}
		for i, n := range list {
			ts.names.pos[n] = int32(i)
		}
	}
	if prev != nil {
		ts.prevSeq = prev.seq
		for i, e := range ts.entries {
			if j, ok := prev.names.pos[e.name]; !ok || prev.entries[j] != e {
				ts.changed = append(ts.changed, int32(i))
			}
		}
		for _, n := range prev.names.list {
			if !ts.names.has(n) {
				ts.removed = append(ts.removed, n)
			}
		}
	}
	return ts, nil
}

// newEntry encodes a resource whose value (its message's bytes) is value.
func newEntry(name, typeURL string, value []byte) *entry {
	sum := sha256.Sum256(value)
	e := &entry{name: name, version: hex.EncodeToString(sum[:8])}
	// Any: type_url (1), value (2).
	anyLen := protowire.SizeTag(1) + protowire.SizeBytes(len(typeURL)) + protowire.SizeTag(2) + protowire.SizeBytes(len(value))
	sotw := make([]byte, 0, protowire.SizeTag(2)+protowire.SizeBytes(anyLen))
	sotw = protowire.AppendTag(sotw, 2, protowire.BytesType)
	sotw = protowire.AppendVarint(sotw, uint64(anyLen))
	e.anyAt = int32(len(sotw))
	sotw = protowire.AppendTag(sotw, 1, protowire.BytesType)
	sotw = protowire.AppendString(sotw, typeURL)
	sotw = protowire.AppendTag(sotw, 2, protowire.BytesType)
	e.sotw = protowire.AppendBytes(sotw, value)
	return e
}

// valueEquals reports whether e encodes value as typeURL.
func (e *entry) valueEquals(typeURL string, value []byte) bool {
	want := protowire.SizeTag(1) + protowire.SizeBytes(len(typeURL)) + protowire.SizeTag(2) + protowire.SizeBytes(len(value))
	return len(e.sotw)-int(e.anyAt) == want && bytes.HasSuffix(e.sotw, value)
}

// value is the encoded resource message inside the Any.
func (e *entry) value() []byte {
	b := e.anyBytes()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			return v
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil
		}
		b = b[m:]
	}
	return nil
}

func sortEntries(entries []*entry) {
	slices.SortFunc(entries, func(a, b *entry) int { return strings.Compare(a.name, b.name) })
}

func equalNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Configs decodes the configuration served to each Gateway, for the debug
// endpoints: gatewarden keeps only the encoded form once it is published.
func (s *Server) Configs() ([]*translator.GatewayConfig, error) {
	s.mu.Lock()
	snaps := map[string]*Snapshot{}
	for key, snap := range s.snapshots {
		if !snap.empty {
			snaps[key] = snap
		}
	}
	s.mu.Unlock()
	keys := make([]string, 0, len(snaps))
	for k := range snaps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*translator.GatewayConfig, 0, len(keys))
	for _, key := range keys {
		k := splitKey(key)
		gc := &translator.GatewayConfig{Namespace: k[0], Name: k[1]}
		snap := snaps[key]
		var err error
		if gc.Listeners, err = decodeAll[*listenerv3.Listener](snap, listenerTypeURL); err != nil {
			return nil, err
		}
		if gc.Routes, err = decodeAll[*routev3.RouteConfiguration](snap, routeTypeURL); err != nil {
			return nil, err
		}
		if gc.ScopedRoutes, err = decodeAll[*routev3.ScopedRouteConfiguration](snap, scopedRouteTypeURL); err != nil {
			return nil, err
		}
		if gc.Clusters, err = decodeAll[*clusterv3.Cluster](snap, clusterTypeURL); err != nil {
			return nil, err
		}
		if gc.Endpoints, err = decodeAll[*endpointv3.ClusterLoadAssignment](snap, endpointTypeURL); err != nil {
			return nil, err
		}
		if gc.Secrets, err = decodeAll[*tlsv3.Secret](snap, secretTypeURL); err != nil {
			return nil, err
		}
		out = append(out, gc)
	}
	return out, nil
}

func decodeAll[T proto.Message](snap *Snapshot, typeURL string) ([]T, error) {
	ts := snap.types[typeURL]
	if ts == nil {
		return nil, nil
	}
	out := make([]T, 0, len(ts.entries))
	for _, e := range ts.entries {
		var zero T
		m := zero.ProtoReflect().New().Interface().(T)
		if err := proto.Unmarshal(e.value(), m); err != nil {
			return nil, fmt.Errorf("decode %s %q: %w", shortType(typeURL), e.name, err)
		}
		out = append(out, m)
	}
	return out, nil
}
