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
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
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
	// published is when the server made it current, for the push latency.
	published time.Time
}

// Version changes when the content of any type does.
func (s *Snapshot) Version() string { return s.version }

// typeSnapshot holds the resources of one type, sorted by name.
type typeSnapshot struct {
	typeURL string
	version string
	entries []entry
	names   *nameIndex
	// size is the bytes of every resource's message, together.
	size int
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
// the responses assembled until it is dropped (Server.DropResponseLists):
// it costs memory while streams are being sent every resource of a type
// (Envoys connecting, state-of-the-world pushes), not once they are quiet.
type bufCache struct {
	mu   sync.Mutex
	bufs []mem.Buffer
}

func (c *bufCache) get(build func() []mem.Buffer) []mem.Buffer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bufs == nil {
		c.bufs = build()
	}
	return c.bufs
}

func (c *bufCache) drop() {
	c.mu.Lock()
	c.bufs = nil
	c.mu.Unlock()
}

// deltaAll returns every entry as field 2 of a DeltaDiscoveryResponse.
func (ts *typeSnapshot) deltaAll() []mem.Buffer {
	return ts.deltaBufs.get(func() []mem.Buffer { return ts.allBytes((*entry).appendDeltaHead) })
}

// deltaPieces lists the entries at idx as field 2 of a
// DeltaDiscoveryResponse.
func (ts *typeSnapshot) deltaPieces(idx []int32) []mem.Buffer {
	return ts.pieces(idx, (*entry).appendDeltaHead)
}

// sotwPieces is the same for a DiscoveryResponse.
func (ts *typeSnapshot) sotwPieces(idx []int32) []mem.Buffer {
	return ts.pieces(idx, (*entry).appendSotWHead)
}

// pieces lists the entries at idx as they go on the wire: each its head
// (written by appendHead, in one allocation for all of them), then its
// message's bytes, shared by every response.
func (ts *typeSnapshot) pieces(idx []int32, appendHead func(*entry, []byte, string) []byte) []mem.Buffer {
	var heads []byte
	ends := make([]int, len(idx))
	for k, i := range idx {
		heads = appendHead(&ts.entries[i], heads, ts.typeURL)
		ends[k] = len(heads)
	}
	bufs := make([]mem.Buffer, 0, 2*len(idx))
	start := 0
	for k, i := range idx {
		bufs = append(bufs, mem.SliceBuffer(heads[start:ends[k]]), mem.SliceBuffer(ts.entries[i].value))
		start = ends[k]
	}
	return bufs
}

// entryPieces lists entries of typeURL (of any snapshot) as field 2 of a
// DiscoveryResponse.
func entryPieces(typeURL string, es []*entry) []mem.Buffer {
	bufs := make([]mem.Buffer, 0, 2*len(es))
	for _, e := range es {
		bufs = append(bufs, mem.SliceBuffer(e.appendSotWHead(nil, typeURL)), mem.SliceBuffer(e.value))
	}
	return bufs
}

// allBytes encodes every entry (each its head, written by appendHead, then
// its message) in one buffer: the part of a response carrying every
// resource, shared by all such responses. One buffer rather than two per
// resource, because gRPC writes a response piece by piece and thousands of
// small pieces cost more to write than copying them once.
func (ts *typeSnapshot) allBytes(appendHead func(*entry, []byte, string) []byte) []mem.Buffer {
	size := 0
	for _, e := range ts.entries {
		size += len(e.value) + len(e.name) + len(e.version) + len(ts.typeURL) + 32
	}
	b := make([]byte, 0, size)
	for i := range ts.entries {
		e := &ts.entries[i]
		b = appendHead(e, b, ts.typeURL)
		b = append(b, e.value...)
	}
	return []mem.Buffer{mem.SliceBuffer(b)}
}

// sotwAll returns every entry as field 2 of a DiscoveryResponse.
func (ts *typeSnapshot) sotwAll() []mem.Buffer {
	return ts.sotwBufs.get(func() []mem.Buffer { return ts.allBytes((*entry).appendSotWHead) })
}

// nameIndex lists the names of a type's resources in order, which is
// also the order of its entries. It is shared by consecutive snapshots with
// the same names, and streams whose subscription is exactly these names
// point to it instead of holding a set of their own.
type nameIndex struct {
	list []string
}

// find returns the position of name.
func (n *nameIndex) find(name string) (int32, bool) {
	i, ok := slices.BinarySearch(n.list, name)
	return int32(i), ok
}

// findBytes is find for a name as bytes (comparisons with a converted
// []byte do not copy it).
func (n *nameIndex) findBytes(name []byte) (int32, bool) {
	lo, hi := 0, len(n.list)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.list[m] < string(name) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return int32(lo), lo < len(n.list) && n.list[lo] == string(name)
}

func (n *nameIndex) has(name string) bool { _, ok := n.find(name); return ok }

// equals reports whether names are exactly the index's, in any order.
func (n *nameIndex) equals(names []string) bool {
	if len(names) != len(n.list) {
		return false
	}
	seen := make([]bool, len(n.list))
	for _, name := range names {
		i, ok := n.find(name)
		if !ok || seen[i] {
			return false
		}
		seen[i] = true
	}
	return true
}

// entry is one encoded resource. Its type URL is its snapshot's: the
// Any around it is written by the heads of a response.
type entry struct {
	name    string
	version string
	// value is the resource message's bytes.
	value []byte
}

// appendAny appends the opening of a google.protobuf.Any of typeURL whose
// value is e's, up to the value's bytes, which follow it.
func (e *entry) appendAny(b []byte, typeURL string) []byte {
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, typeURL)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(len(e.value)))
}

// anyLen is the size of that Any.
func (e *entry) anyLen(typeURL string) int {
	return protowire.SizeTag(1) + protowire.SizeBytes(len(typeURL)) + protowire.SizeTag(2) + protowire.SizeBytes(len(e.value))
}

// appendSotWHead appends the opening of the resource as field 2
// (resources) of a DiscoveryResponse: the Any, up to the value.
func (e *entry) appendSotWHead(b []byte, typeURL string) []byte {
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(e.anyLen(typeURL)))
	return e.appendAny(b, typeURL)
}

// appendDeltaHead appends the opening of the resource as field 2 of a
// DeltaDiscoveryResponse (a Resource with its name and version, then the
// Any), up to the value.
func (e *entry) appendDeltaHead(b []byte, typeURL string) []byte {
	anyLen := e.anyLen(typeURL)
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
	b = protowire.AppendVarint(b, uint64(anyLen))
	return e.appendAny(b, typeURL)
}

var typeSeq atomic.Uint64

// BuildSnapshot turns one Gateway's configuration into a consistent
// snapshot. Resources whose bytes are unchanged since prev (which may be
// nil) keep prev's encoding. Versions are hashes of content: an unchanged
// configuration is never pushed again, every replica names the same
// content alike, and a state-of-the-world Envoy is sent again only the
// types that changed.
func BuildSnapshot(gc *xdsconfig.GatewayConfig, prev *Snapshot) (*Snapshot, error) {
	resources := make(map[resourcev3.Type][]types.Resource, len(resourceTypes))
	for _, t := range resourceTypes {
		resources[t.url] = t.of(gc)
	}
	// The types are encoded on every core (the route configurations are
	// most of the work) while the consistency is checked.
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0) + 1)
	g.Go(func() error {
		// Consistency is what lets Envoy converge: every route configuration
		// a listener names and every cluster's endpoints must be in the
		// snapshot.
		check, err := cachev3.NewSnapshot("", resources)
		if err != nil {
			return fmt.Errorf("snapshot of %s: %w", gc.Key(), err)
		}
		if err := check.Consistent(); err != nil {
			return fmt.Errorf("snapshot of %s is not consistent: %w", gc.Key(), err)
		}
		return nil
	})
	encoded := make([]*typeSnapshot, len(typeOrder))
	clustersDone := make(chan struct{})
	for i, typ := range typeOrder {
		var before *typeSnapshot
		if prev != nil {
			before = prev.types[typ]
		}
		g.Go(func() error {
			var salt *versionSalt
			switch typ {
			case resourcev3.ClusterType:
				defer close(clustersDone)
			case resourcev3.EndpointType:
				// An assignment's version includes its cluster's: Envoy
				// warms a changed cluster until it receives its endpoints
				// again (or its initial fetch times out, 15 s), so a new
				// cluster must come with its assignment even when the
				// endpoints are the same. The clusters are encoded before.
				<-clustersDone
				salt = &versionSalt{now: encoded[slices.Index(typeOrder, resourcev3.ClusterType)]}
				if prev != nil {
					salt.before = prev.types[resourcev3.ClusterType]
				}
			}
			ts, err := encodeType(typ, resources[typ], before, salt)
			if err != nil {
				return fmt.Errorf("snapshot of %s: %w", gc.Key(), err)
			}
			encoded[i] = ts
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	snap := &Snapshot{types: map[string]*typeSnapshot{}, empty: len(gc.Listeners) == 0 && len(gc.Clusters) == 0}
	overall := sha256.New()
	for i, typ := range typeOrder {
		snap.types[typ] = encoded[i]
		fmt.Fprintf(overall, "%s\x00%s\x00", typ, encoded[i].version)
	}
	snap.version = hex.EncodeToString(overall.Sum(nil))[:16]
	return snap, nil
}

// encodeType encodes the resources of one type, sorted by name. A
// resource whose bytes did not change since prev keeps its version; every
// resource of the type is written into one buffer (its names and versions
// into one string each), so that a snapshot holds a few allocations per
// type rather than several per resource, and nothing of prev once prev is
// no longer served.
func encodeType(typeURL string, resources []types.Resource, prev *typeSnapshot, salt *versionSalt) (*typeSnapshot, error) {
	ts := &typeSnapshot{typeURL: typeURL, seq: typeSeq.Add(1)}
	type encoded struct {
		name       string
		start, end int
	}
	encs := make([]encoded, len(resources))
	opts := proto.MarshalOptions{Deterministic: true}
	var buf []byte
	if prev != nil {
		// Most changes leave the size about the same.
		buf = make([]byte, 0, prev.size+prev.size/16+1024)
	}
	for i, r := range resources {
		name := cachev3.GetResourceName(r)
		start := len(buf)
		var err error
		if buf, err = opts.MarshalAppend(buf, r); err != nil {
			return nil, fmt.Errorf("encode %s %q: %w", shortType(typeURL), name, err)
		}
		encs[i] = encoded{name: name, start: start, end: len(buf)}
	}
	slices.SortStableFunc(encs, func(a, b encoded) int { return strings.Compare(a.name, b.name) })
	list := make([]string, len(encs))
	for i, e := range encs {
		if i > 0 && e.name == encs[i-1].name {
			return nil, fmt.Errorf("two %s resources are named %q", shortType(typeURL), e.name)
		}
		list[i] = e.name
	}
	if prev != nil && slices.Equal(prev.names.list, list) {
		ts.names = prev.names
	} else {
		ts.names = &nameIndex{list: packStrings(list)}
	}
	if cap(buf) > len(buf)+len(buf)/8 {
		buf = bytes.Clone(buf)
	}
	ts.size = len(buf)
	var versions strings.Builder
	versions.Grow(16 * len(encs))
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", typeURL, len(encs))
	ts.entries = make([]entry, len(encs))
	j := 0 // prev's entries are sorted alike: walk them along
	for i, e := range encs {
		value := buf[e.start:e.end:e.end]
		var same *entry
		if prev != nil {
			for j < len(prev.entries) && prev.entries[j].name < e.name {
				j++
			}
			if j < len(prev.entries) && prev.entries[j].name == e.name && bytes.Equal(prev.entries[j].value, value) &&
				salt.same(e.name) {
				same = &prev.entries[j]
			}
		}
		if same != nil {
			versions.WriteString(same.version)
		} else {
			var sum [sha256.Size]byte
			if v, ok := salt.of(e.name); ok {
				sh := sha256.New()
				sh.Write(value)
				sh.Write([]byte{0})
				sh.Write([]byte(v))
				sh.Sum(sum[:0])
			} else {
				sum = sha256.Sum256(value)
			}
			var hexed [16]byte
			hex.Encode(hexed[:], sum[:8])
			versions.Write(hexed[:])
			if prev != nil {
				ts.changed = append(ts.changed, int32(i))
			}
		}
		ts.entries[i] = entry{name: ts.names.list[i], value: value}
	}
	vs := versions.String()
	var line []byte
	for i := range ts.entries {
		e := &ts.entries[i]
		e.version = vs[16*i : 16*i+16]
		line = append(append(append(append(line[:0], e.name...), 0), e.version...), 0)
		h.Write(line)
	}
	ts.version = hex.EncodeToString(h.Sum(nil))[:16]
	if prev != nil {
		ts.prevSeq = prev.seq
		for _, n := range prev.names.list {
			if !ts.names.has(n) {
				ts.removed = append(ts.removed, n)
			}
		}
	}
	return ts, nil
}

// versionSalt is what else a type's resource versions depend on: an
// endpoint assignment's, on its cluster's version (nil: nothing else).
type versionSalt struct{ now, before *typeSnapshot }

// of returns the version name's resource version depends on, if any.
func (v *versionSalt) of(name string) (string, bool) {
	if v == nil || v.now == nil {
		return "", false
	}
	if i, ok := v.now.names.find(name); ok {
		return v.now.entries[i].version, true
	}
	return "", false
}

// same reports whether that version is unchanged since the previous
// snapshot, so that the resource's previous version still holds.
func (v *versionSalt) same(name string) bool {
	if v == nil {
		return true
	}
	now, okNow := v.of(name)
	var before string
	okBefore := false
	if v.before != nil {
		if i, ok := v.before.names.find(name); ok {
			before, okBefore = v.before.entries[i].version, true
		}
	}
	return okNow == okBefore && now == before
}

// packStrings copies ss into one string, as substrings of it.
func packStrings(ss []string) []string {
	var b strings.Builder
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	b.Grow(n)
	for _, s := range ss {
		b.WriteString(s)
	}
	all := b.String()
	out := make([]string, len(ss))
	at := 0
	for i, s := range ss {
		out[i] = all[at : at+len(s)]
		at += len(s)
	}
	return out
}
