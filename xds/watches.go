package xds

import (
	"fmt"
	"slices"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
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
	if hold && w.sub.wildcard && ts.typeURL == resourcev3.ClusterType {
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
	h := head(nil).str(sotwFields.version, version).str(sotwFields.typeURL, ts.typeURL).str(sotwFields.nonce, w.nonce)
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
