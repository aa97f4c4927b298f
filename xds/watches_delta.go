package xds

import (
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

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
	h := head(nil).str(deltaFields.version, ts.version).str(deltaFields.typeURL, ts.typeURL).str(deltaFields.nonce, w.nonce)
	for _, n := range removed {
		h = h.str(deltaFields.removed, n)
	}
	if len(changed) == len(ts.entries) {
		// Every resource (a first response): the encoding shared by every
		// stream that is sent them all.
		return response(h, ts.deltaAll())
	}
	return response(h, ts.deltaPieces(changed))
}
