package xds

import (
	"fmt"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const explicitWildcard = "*"

// subscription is the set of resource names an Envoy asked for on one type.
// When it is exactly the names of the served snapshot, which is the common
// case (an Envoy asks for every cluster's endpoints and every route
// configuration its listeners name), it points to the snapshot's name index
// rather than holding a set of its own.
type subscription struct {
	wildcard bool
	// legacy: the first request named nothing, which asks for everything
	// until a request names resources.
	legacy bool
	shared *nameIndex
	own    map[string]struct{}
}

func (s *subscription) has(name string) bool {
	return s.wildcard || s.listed(name)
}

// listed reports whether name is subscribed by name.
func (s *subscription) listed(name string) bool {
	if s.shared != nil {
		return s.shared.has(name)
	}
	_, ok := s.own[name]
	return ok
}

func (s *subscription) size() int {
	if s.shared != nil {
		return len(s.shared.list)
	}
	return len(s.own)
}

// names calls f for every subscribed name (not for a wildcard).
func (s *subscription) names(f func(string)) {
	if s.shared != nil {
		for _, n := range s.shared.list {
			f(n)
		}
		return
	}
	for n := range s.own {
		f(n)
	}
}

// equal reports whether s and o select the same names.
func (s *subscription) equal(o *subscription) bool {
	if s.wildcard || o.wildcard {
		return s.wildcard == o.wildcard
	}
	if s.shared != nil && s.shared == o.shared {
		return true
	}
	if s.size() != o.size() {
		return false
	}
	same := true
	s.names(func(n string) {
		if same && !o.has(n) {
			same = false
		}
	})
	return same
}

// compact points the subscription to idx when it selects exactly its names.
func (s *subscription) compact(idx *nameIndex) {
	if s.wildcard || s.shared == idx || s.size() != len(idx.list) {
		return
	}
	for _, n := range idx.list {
		if !s.has(n) {
			return
		}
	}
	s.shared, s.own = idx, nil
}

// owned makes the set the subscription's own, to change it.
func (s *subscription) owned() map[string]struct{} {
	if s.own == nil {
		s.own = make(map[string]struct{}, s.size())
		if s.shared != nil {
			for _, n := range s.shared.list {
				s.own[n] = struct{}{}
			}
		}
		s.shared = nil
	}
	return s.own
}

// setSotW replaces the names with the request's, as every
// state-of-the-world request does.
func (s *subscription) setSotW(req *sotwRequest, idx *nameIndex) {
	if s.legacy && req.nameCount == 0 {
		return
	}
	s.legacy = false
	s.wildcard = false
	req.names(func(n []byte) {
		if string(n) == explicitWildcard {
			s.wildcard = true
		}
	})
	s.shared, s.own = nil, nil
	if s.wildcard {
		return
	}
	if idx != nil && req.nameCount == len(idx.list) {
		seen := make([]bool, len(idx.list))
		all := true
		req.names(func(n []byte) {
			if !all {
				return
			}
			i, ok := idx.findBytes(n)
			if !ok || seen[i] {
				all = false
				return
			}
			seen[i] = true
		})
		if all {
			s.shared = idx
			return
		}
	}
	s.own = make(map[string]struct{}, req.nameCount)
	req.names(func(n []byte) { s.own[string(n)] = struct{}{} })
}

// sotwWatch is what a state-of-the-world stream remembers of one type.
type sotwWatch struct {
	sub subscription
	// asked, nameCount and namesHash tell the names of the last request.
	asked     bool
	nameCount int
	namesHash uint64
	sent      bool
	version   string // of the last response
	nonce     string
	dirty     bool // the subscription changed since the last response
	// pending: the last response is not answered yet; nacked: its answer
	// was a NACK.
	pending, nacked bool
	// last is the snapshot of the type last sent; kept, the resources of
	// older ones that response also carried (held back removals).
	last *typeSnapshot
	kept []*entry
}

// stillHeld lists the resources the Envoy has that ts no longer holds:
// those of the snapshot last sent and those kept with it.
func (w *sotwWatch) stillHeld(ts *typeSnapshot) []*entry {
	var out []*entry
	if w.last != nil && w.last != ts && w.last.names != ts.names {
		if ts.prevSeq == w.last.seq {
			// The snapshot after the one sent: its removals are known.
			for _, n := range ts.removed {
				if i, ok := w.last.names.find(n); ok {
					out = append(out, &w.last.entries[i])
				}
			}
		} else {
			for i := range w.last.entries {
				if !ts.names.has(w.last.entries[i].name) {
					out = append(out, &w.last.entries[i])
				}
			}
		}
	}
	for _, e := range w.kept {
		if !ts.names.has(e.name) && !slices.ContainsFunc(out, func(o *entry) bool { return o.name == e.name }) {
			out = append(out, e)
		}
	}
	return out
}

func (s *Server) sotwRequest(st *stream, req *sotwRequest) error {
	if st.node == nil {
		node, err := req.decodeNode()
		if err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		if err := s.hello(st, node); err != nil {
			return err
		}
	}
	typeURL := req.typeURL
	if typeURL == "" {
		return status.Error(codes.InvalidArgument, "a request on an ADS stream must carry its type URL")
	}
	w := st.sotw[typeURL]
	if w == nil {
		w = &sotwWatch{sub: subscription{legacy: true, wildcard: req.nameCount == 0}}
		st.sotw[typeURL] = w
	} else if w.nonce != "" && req.nonce != w.nonce {
		// An answer to an older response: the protocol says to ignore it,
		// its Envoy answers the latest one next.
		return nil
	}
	// Most requests repeat the names of the one before (every ACK does).
	if !w.asked || req.nameCount != w.nameCount || req.namesHash != w.namesHash {
		w.asked, w.nameCount, w.namesHash = true, req.nameCount, req.namesHash
		before := w.sub
		var idx *nameIndex
		if snap := s.snapshot(st.gateway); snap != nil && snap.types[typeURL] != nil {
			idx = snap.types[typeURL].names
		}
		w.sub.setSotW(req, idx)
		if !w.sub.equal(&before) {
			w.dirty = true
		}
	}
	if w.nonce != "" && req.nonce == w.nonce {
		msg, nack := req.nack()
		w.pending, w.nacked = false, nack
		s.answered(st, typeURL, w.version, msg, nack)
	}
	return nil
}

// sotwResponse is the response a state-of-the-world watch is due, if any:
// when the type's version or the subscription changed since the last one.
//
// With hold, a cluster the Envoy has and ts no longer holds is sent along
// (in the state of the world, a cluster left out is a cluster removed):
// its Envoy's routes may still use it. A later response without hold
// removes it. Listeners and clusters are the only types whose absence
// from a response removes them; endpoints, route configurations and
// secrets are kept until no resource names them.
func (st *stream) sotwResponse(w *sotwWatch, ts *typeSnapshot, hold bool) *encodedResponse {
	if ts == nil {
		return nil
	}
	var keep []*entry
	if hold && w.sub.wildcard && ts.typeURL == clusterTypeURL {
		keep = w.stillHeld(ts)
	}
	version := ts.version
	if len(keep) > 0 {
		version = fmt.Sprintf("%s+%d", ts.version, len(keep))
	}
	if w.sent && !w.dirty && w.version == version {
		return nil
	}
	w.sent, w.dirty, w.pending, w.version, w.nonce = true, false, true, version, st.nextNonce()
	w.last, w.kept = ts, keep
	h := head(nil).str(sotwVersionField, version).str(sotwTypeURLField, ts.typeURL).str(sotwNonceField, w.nonce)
	if len(keep) > 0 {
		bufs := slices.Clone(ts.sotwAll())
		return response(h, append(bufs, entryPieces(ts.typeURL, keep)...))
	}
	if w.sub.wildcard || w.sub.shared == ts.names {
		return response(h, ts.sotwAll())
	}
	var idx []int32
	if w.sub.size() < len(ts.entries)/4 {
		w.sub.names(func(n string) {
			if i, ok := ts.names.find(n); ok {
				idx = append(idx, i)
			}
		})
		slices.Sort(idx)
	} else {
		for i, e := range ts.entries {
			if w.sub.has(e.name) {
				idx = append(idx, int32(i))
			}
		}
	}
	return response(h, ts.sotwPieces(idx))
}

// deltaWatch is what a delta stream remembers of one type: its
// subscription, and the versions its Envoy has. Those are base's versions
// of the names subscribed when base was sent, except where extra says
// otherwise ("" for a resource the Envoy does not have); after each
// response the Envoy is up to date with the snapshot sent and extra is
// empty again.
type deltaWatch struct {
	sub     subscription
	base    *typeSnapshot
	extra   map[string]string
	sent    bool
	version string // of the last response
	nonce   string
	// pending: the last response is not answered yet; nacked: its answer
	// was a NACK.
	pending, nacked bool
}

func (w *deltaWatch) known(name string) string {
	if v, ok := w.extra[name]; ok {
		return v
	}
	if w.base != nil {
		if i, ok := w.base.names.find(name); ok {
			return w.base.entries[i].version
		}
	}
	return ""
}

// holdsOnly reports whether what extra records, against ts, are only
// removals held back.
func (w *deltaWatch) holdsOnly(ts *typeSnapshot) bool {
	for n, v := range w.extra {
		if v == "" || v == notTold || ts.names.has(n) {
			return false
		}
	}
	return true
}

func (w *deltaWatch) setKnown(name, version string) {
	if w.extra == nil {
		w.extra = map[string]string{}
	}
	w.extra[name] = version
}

// notTold is the version a delta watch records for a resource its Envoy
// must be told about whatever its state: sent if it exists, named in
// removed_resources if it does not. No version of a resource is empty or
// this.
const notTold = "\x00"

// apply applies a delta request's subscription changes, as the xDS
// protocol ("How the client specifies what resources to return", delta
// variant) has them:
//
//   - A first request naming nothing is a (legacy) wildcard; it stays one
//     when later requests name resources, until it unsubscribes "*".
//     "*" subscribes to everything explicitly, at any time: everything the
//     Envoy was not subscribed to is then sent at once.
//   - A subscribed name is sent, even when it was subscribed already (the
//     Envoy may have dropped it); a name that does not exist is named in
//     removed_resources, so that its Envoy does not wait for it.
//   - An unsubscribed name is forgotten; on a wildcard stream the Envoy
//     dropped it, so it is sent again (or reported removed).
//   - A first request's initial_resource_versions (a reconnecting Envoy)
//     say what it already has: only what differs is sent.
//
// idx, on a first request, is the served names of the type: a subscription
// to exactly those shares the snapshot's index.
func (w *deltaWatch) apply(first bool, subscribe, unsubscribe []string, initial map[string]string, idx *nameIndex) {
	if len(subscribe) > 0 {
		w.sub.legacy = false
	}
	if first && len(unsubscribe) == 0 && len(initial) == 0 && idx != nil && idx.equals(subscribe) {
		// An Envoy's first request usually names every resource of the
		// type (every cluster's endpoints, every route configuration).
		w.sub.shared = idx
		subscribe = nil
	}
	for _, n := range subscribe {
		if n == explicitWildcard {
			if !w.sub.wildcard && w.base != nil {
				// What it was not subscribed to, its Envoy does not have.
				for _, b := range w.base.names.list {
					if !w.sub.listed(b) {
						w.setKnown(b, "")
					}
				}
			}
			w.sub.wildcard = true
			continue
		}
		if !w.sub.listed(n) {
			w.sub.owned()[n] = struct{}{}
		}
		w.setKnown(n, notTold)
	}
	for _, n := range unsubscribe {
		if n == explicitWildcard {
			w.sub.wildcard = false
			continue
		}
		if w.sub.listed(n) {
			delete(w.sub.owned(), n)
		}
		if w.sub.wildcard {
			w.setKnown(n, notTold)
		} else {
			delete(w.extra, n)
		}
	}
	if first {
		for n, v := range initial {
			w.setKnown(n, v)
		}
	}
}

func (s *Server) deltaRequest(st *stream, req *discoveryv3.DeltaDiscoveryRequest) error {
	if err := s.hello(st, req.GetNode()); err != nil {
		return err
	}
	typeURL := req.GetTypeUrl()
	if typeURL == "" {
		return status.Error(codes.InvalidArgument, "a request on an ADS stream must carry its type URL")
	}
	w := st.deltas[typeURL]
	first := w == nil
	if first {
		w = &deltaWatch{sub: subscription{legacy: true, wildcard: len(req.GetResourceNamesSubscribe()) == 0}}
		st.deltas[typeURL] = w
	}
	var idx *nameIndex
	if first {
		if snap := s.snapshot(st.gateway); snap != nil && snap.types[typeURL] != nil {
			idx = snap.types[typeURL].names
		}
	}
	w.apply(first, req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe(), req.GetInitialResourceVersions(), idx)
	if req.GetResponseNonce() != "" && req.GetResponseNonce() == w.nonce {
		w.pending, w.nacked = false, req.GetErrorDetail() != nil
		s.answered(st, typeURL, w.version, req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
	}
	return nil
}

// deltaResponse is the response a delta watch is due, if any: the
// resources whose version differs from what the Envoy has, and the names
// of those it has that are gone.
//
// With hold, removals are held back: the Envoy keeps the resources that
// are gone (its routes may still use them) and is told of them by a later
// response without hold.
func (st *stream) deltaResponse(w *deltaWatch, ts *typeSnapshot, hold bool) *encodedResponse {
	if ts == nil || (w.base == ts && (w.extra == nil || (hold && w.holdsOnly(ts)))) {
		return nil
	}
	var changed []int32
	var removed []string
	switch {
	case w.extra == nil && w.base != nil && ts.prevSeq == w.base.seq &&
		(w.sub.wildcard || (w.sub.shared == w.base.names && ts.names == w.base.names)):
		// Up to date with the previous snapshot and subscribed to all of
		// it: the difference is computed once for every such stream.
		changed, removed = ts.changed, ts.removed
	case w.sub.wildcard:
		for i, e := range ts.entries {
			if w.known(e.name) != e.version {
				changed = append(changed, int32(i))
			}
		}
		gone := func(n string) bool { return !ts.names.has(n) && w.known(n) != "" }
		if w.base != nil {
			for _, n := range w.base.names.list {
				if gone(n) {
					removed = append(removed, n)
				}
			}
		}
		for n := range w.extra {
			if (w.base == nil || !w.base.names.has(n)) && gone(n) {
				removed = append(removed, n)
			}
		}
		slices.Sort(removed)
	default:
		w.sub.names(func(n string) {
			have := w.known(n)
			if i, ok := ts.names.find(n); ok {
				if ts.entries[i].version != have {
					changed = append(changed, i)
				}
			} else if have != "" {
				removed = append(removed, n)
			}
		})
		slices.Sort(changed)
		slices.Sort(removed)
	}
	var held map[string]string
	if hold && len(removed) > 0 {
		held = make(map[string]string, len(removed))
		for _, n := range removed {
			held[n] = w.known(n)
		}
		removed = nil
	}
	w.base, w.extra = ts, held
	w.sub.compact(ts.names)
	if len(changed) == 0 && len(removed) == 0 && (w.sent || !w.sub.wildcard) {
		return nil
	}
	w.sent, w.pending, w.version, w.nonce = true, true, ts.version, st.nextNonce()
	h := head(nil).str(deltaVersionField, ts.version).str(deltaTypeURLField, ts.typeURL).str(deltaNonceField, w.nonce)
	for _, n := range removed {
		h = h.str(deltaRemovedField, n)
	}
	if len(changed) == len(ts.entries) {
		// Every resource (a first response): the encoding shared by every
		// stream that is sent them all.
		return response(h, ts.deltaAll())
	}
	return response(h, ts.deltaPieces(changed))
}
