package xds

import (
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// clusterSnapshot encodes clusters of the given names (each a version of
// its own that changes with gen) after prev.
func clusterSnapshot(t *testing.T, prev *typeSnapshot, gen map[string]int, names ...string) *typeSnapshot {
	t.Helper()
	var rs []types.Resource
	for _, n := range names {
		rs = append(rs, &clusterv3.Cluster{Name: n, AltStatName: string(rune('a' + gen[n]))})
	}
	ts, err := encodeType(resourcev3.ClusterType, rs, prev, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// decodeDelta reads the names sent and removed by a delta response.
func decodeDelta(t *testing.T, r *encodedResponse) (sent, removed []string) {
	t.Helper()
	var b []byte
	for _, buf := range r.bufs {
		b = append(b, buf.ReadOnlyData()...)
	}
	m := &discoveryv3.DeltaDiscoveryResponse{}
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	for _, res := range m.Resources {
		sent = append(sent, res.Name)
	}
	slices.Sort(sent)
	removed = slices.Sorted(slices.Values(m.RemovedResources))
	return sent, removed
}

// TestDeltaSubscriptionRules steps a delta watch through the subscription
// rules of the xDS protocol, each step a request (the first one opens the
// stream) and, optionally, a new set of served resources, and checks the
// response due: the names sent and those reported removed (nil: no
// response at all).
func TestDeltaSubscriptionRules(t *testing.T) {
	type step struct {
		serve                    []string // served names from this step (nil: unchanged)
		change                   string   // a served name whose content changes
		subscribe, unsubscribe   []string
		initial                  map[string]string
		wantSent, wantRemoved    []string
		wantNone                 bool
		wantWildcard, wantLegacy bool
	}
	abc := []string{"a", "b", "c"}
	cases := []struct {
		name  string
		steps []step
	}{
		{"legacy wildcard: an empty first request is sent everything", []step{
			{serve: abc, wantSent: abc, wantWildcard: true, wantLegacy: true},
			{wantNone: true, wantWildcard: true, wantLegacy: true},
		}},
		{"legacy wildcard stays a wildcard when it names resources", []step{
			{serve: abc, wantSent: abc, wantWildcard: true, wantLegacy: true},
			{subscribe: []string{"a"}, wantSent: []string{"a"}, wantWildcard: true},
			{serve: []string{"a", "b", "c", "d"}, wantSent: []string{"d"}, wantWildcard: true},
		}},
		{"explicit wildcard", []step{
			{serve: abc, subscribe: []string{"*"}, wantSent: abc, wantWildcard: true},
		}},
		{"* after named subscriptions sends the others at once", []step{
			{serve: abc, subscribe: []string{"a"}, wantSent: []string{"a"}},
			{subscribe: []string{"*"}, wantSent: []string{"b", "c"}, wantWildcard: true},
			{wantNone: true, wantWildcard: true},
		}},
		{"named subscriptions are sent only their names", []step{
			{serve: abc, subscribe: []string{"a", "b"}, wantSent: []string{"a", "b"}},
			{serve: []string{"a", "b", "c", "d"}, wantNone: true},
			{change: "a", wantSent: []string{"a"}},
		}},
		{"a name subscribed again is sent again", []step{
			{serve: abc, subscribe: []string{"a"}, wantSent: []string{"a"}},
			{subscribe: []string{"a"}, wantSent: []string{"a"}},
		}},
		{"a wildcard stream subscribing a name it has is sent it again", []step{
			{serve: abc, subscribe: []string{"*"}, wantSent: abc, wantWildcard: true},
			{subscribe: []string{"b"}, wantSent: []string{"b"}, wantWildcard: true},
		}},
		{"a subscribed name that does not exist is reported removed, once", []step{
			{serve: abc, subscribe: []string{"a", "x"}, wantSent: []string{"a"}, wantRemoved: []string{"x"}},
			{subscribe: []string{"y"}, wantRemoved: []string{"y"}},
			{change: "b", wantNone: true},
			{serve: []string{"a", "b", "c", "y"}, wantSent: []string{"y"}},
		}},
		{"unsubscribing a name: nothing to send, no longer sent", []step{
			{serve: abc, subscribe: []string{"a", "b"}, wantSent: []string{"a", "b"}},
			{unsubscribe: []string{"a"}, wantNone: true},
			{change: "a", wantNone: true},
		}},
		{"a wildcard stream unsubscribing a name is sent it again", []step{
			{serve: abc, subscribe: []string{"*", "b"}, wantSent: abc, wantWildcard: true},
			{unsubscribe: []string{"b"}, wantSent: []string{"b"}, wantWildcard: true},
		}},
		{"a wildcard stream unsubscribing a name that is gone is told it is removed", []step{
			{serve: abc, subscribe: []string{"*", "x"}, wantSent: abc, wantRemoved: []string{"x"}, wantWildcard: true},
			{unsubscribe: []string{"x"}, wantRemoved: []string{"x"}, wantWildcard: true},
		}},
		{"unsubscribing * leaves the names", []step{
			{serve: abc, subscribe: []string{"*", "a"}, wantSent: abc, wantWildcard: true},
			{unsubscribe: []string{"*"}, wantNone: true},
			{change: "b", wantNone: true},
			{change: "a", wantSent: []string{"a"}},
		}},
		{"a removed resource is reported to the streams that had it", []step{
			{serve: abc, subscribe: []string{"a", "b"}, wantSent: []string{"a", "b"}},
			{serve: []string{"a"}, wantRemoved: []string{"b"}},
		}},
		{"reconnect: initial versions say what the Envoy has", []step{
			{serve: abc, subscribe: []string{"a", "b", "c", "z"}, initial: map[string]string{"a": "@a", "b": "old", "z": "old"},
				wantSent: []string{"b", "c"}, wantRemoved: []string{"z"}},
		}},
		{"reconnect as a legacy wildcard", []step{
			{serve: abc, initial: map[string]string{"a": "@a", "b": "@b", "gone": "old"},
				wantSent: []string{"c"}, wantRemoved: []string{"gone"}, wantWildcard: true, wantLegacy: true},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ts *typeSnapshot
			gen := map[string]int{}
			var served []string
			w := (*deltaWatch)(nil)
			st := &stream{delta: true}
			for i, s := range tc.steps {
				if s.serve != nil || s.change != "" {
					if s.serve != nil {
						served = s.serve
					}
					if s.change != "" {
						gen[s.change]++
					}
					ts = clusterSnapshot(t, ts, gen, served...)
				}
				// "@name" in initial versions is the served version of name.
				initial := map[string]string{}
				for n, v := range s.initial {
					if v == "@"+n {
						i, _ := ts.names.find(n)
						v = ts.entries[i].version
					}
					initial[n] = v
				}
				first := w == nil
				if first {
					w = &deltaWatch{sub: subscription{legacy: true, wildcard: len(s.subscribe) == 0}}
				}
				w.apply(first, s.subscribe, s.unsubscribe, initial, ts.names)
				if w.sub.wildcard != s.wantWildcard || w.sub.legacy != s.wantLegacy {
					t.Fatalf("step %d: wildcard %v legacy %v, want %v and %v", i, w.sub.wildcard, w.sub.legacy, s.wantWildcard, s.wantLegacy)
				}
				r := st.deltaResponse(w, ts, false)
				if s.wantNone {
					if r != nil {
						sent, removed := decodeDelta(t, r)
						t.Fatalf("step %d: a response (sent %v, removed %v), want none", i, sent, removed)
					}
					continue
				}
				if r == nil {
					t.Fatalf("step %d: no response, want sent %v removed %v", i, s.wantSent, s.wantRemoved)
				}
				sent, removed := decodeDelta(t, r)
				if !slices.Equal(sent, s.wantSent) || !slices.Equal(removed, s.wantRemoved) {
					t.Fatalf("step %d: sent %v removed %v, want sent %v removed %v", i, sent, removed, s.wantSent, s.wantRemoved)
				}
			}
		})
	}
}

// TestDeltaHeldRemovals: with hold, a removal is not sent (the Envoy keeps
// the resource) and the next response without hold sends it.
func TestDeltaHeldRemovals(t *testing.T) {
	gen := map[string]int{}
	ts := clusterSnapshot(t, nil, gen, "a", "b", "c")
	st := &stream{delta: true}
	w := &deltaWatch{sub: subscription{legacy: true, wildcard: true}}
	w.apply(true, nil, nil, nil, ts.names)
	st.deltaResponse(w, ts, false)
	gen["a"]++
	next := clusterSnapshot(t, ts, gen, "a", "b")
	sent, removed := decodeDelta(t, st.deltaResponse(w, next, true))
	if !slices.Equal(sent, []string{"a"}) || len(removed) > 0 {
		t.Fatalf("held: sent %v removed %v, want [a] and nothing removed", sent, removed)
	}
	if r := st.deltaResponse(w, next, true); r != nil {
		t.Fatal("held again: a response, want none")
	}
	sent, removed = decodeDelta(t, st.deltaResponse(w, next, false))
	if len(sent) > 0 || !slices.Equal(removed, []string{"c"}) {
		t.Fatalf("released: sent %v removed %v, want [c] removed", sent, removed)
	}
	if r := st.deltaResponse(w, next, false); r != nil {
		t.Fatal("released again: a response, want none")
	}
}
