package xds

import (
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/gatewarden/gatewarden/internal/workload"
	"github.com/gatewarden/gatewarden/translator"
)

// TestResponsesShareEncodingsAndDecode checks the hand-assembled wire form
// against the protobuf library, and that two streams are sent the same
// bytes rather than copies.
func TestResponsesShareEncodingsAndDecode(t *testing.T) {
	gc := workload.Translate(t, 20, translator.Options{ScopedRoutesMinHosts: 10, AllowLoopbackBackends: true}).Gateways[0]
	snap, err := BuildSnapshot(gc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := snap.types[resourcev3.RouteType]
	if len(ts.entries) != len(gc.Routes) || len(gc.Routes) < 20 {
		t.Fatalf("%d route entries for %d route configurations", len(ts.entries), len(gc.Routes))
	}
	a, b := &stream{}, &stream{}
	wa := &sotwWatch{sub: subscription{shared: ts.names}}
	wb := &sotwWatch{sub: subscription{shared: ts.names}}
	ra, rb := a.sotwResponse(wa, ts, false), b.sotwResponse(wb, ts, false)
	// The head, then every resource in one buffer that both share.
	if len(ra.bufs) != 2 || len(rb.bufs) != 2 || &ra.bufs[1].ReadOnlyData()[0] != &rb.bufs[1].ReadOnlyData()[0] {
		t.Fatalf("responses of %d and %d buffers, not sharing the resources", len(ra.bufs), len(rb.bufs))
	}
	var resp discoveryv3.DiscoveryResponse
	if err := proto.Unmarshal(ra.bufs.Materialize(), &resp); err != nil {
		t.Fatal(err)
	}
	// Once dropped, the encoding of every resource is built again, alike.
	ts.sotwBufs.drop()
	if ts.sotwBufs.bufs != nil {
		t.Fatal("the list was not dropped")
	}
	rc := (&stream{}).sotwResponse(&sotwWatch{sub: subscription{shared: ts.names}}, ts, false)
	if len(rc.bufs) != 2 || &rc.bufs[1].ReadOnlyData()[0] == &ra.bufs[1].ReadOnlyData()[0] ||
		string(rc.bufs[1].ReadOnlyData()) != string(ra.bufs[1].ReadOnlyData()) {
		t.Fatal("the encoding of every resource was not built again alike")
	}
	// An Envoy subscribed to a few is sent those, each its head and the
	// message's bytes the snapshot holds.
	few := []string{ts.names.list[2], ts.names.list[5]}
	rf := (&stream{}).sotwResponse(&sotwWatch{sub: subscription{own: map[string]struct{}{few[0]: {}, few[1]: {}}}}, ts, false)
	if len(rf.bufs) != 5 || &rf.bufs[2].ReadOnlyData()[0] != &ts.entries[2].value[0] || &rf.bufs[4].ReadOnlyData()[0] != &ts.entries[5].value[0] {
		t.Fatalf("a response for two resources has %d buffers, or copies them", len(rf.bufs))
	}
	var few2 discoveryv3.DiscoveryResponse
	if err := proto.Unmarshal(rf.bufs.Materialize(), &few2); err != nil {
		t.Fatal(err)
	}
	if len(few2.Resources) != 2 || string(few2.Resources[1].Value) != string(ts.entries[5].value) || few2.Resources[0].TypeUrl != resourcev3.RouteType {
		t.Fatalf("a response for two resources decodes to %d resources", len(few2.Resources))
	}
	if resp.VersionInfo != ts.version || resp.TypeUrl != resourcev3.RouteType || resp.Nonce != wa.nonce || resp.Nonce == "" {
		t.Fatalf("head: version %q type %q nonce %q", resp.VersionInfo, resp.TypeUrl, resp.Nonce)
	}
	for i, r := range gc.Routes {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Resources[i]
		if got.TypeUrl != resourcev3.RouteType || string(got.Value) != string(want) {
			t.Fatalf("resource %d (%s) differs from its protobuf encoding", i, r.Name)
		}
	}

	// Delta: a stream that has nothing is sent every resource with its name
	// and version.
	d := &stream{delta: true}
	dr := d.deltaResponse(&deltaWatch{sub: subscription{shared: ts.names}, extra: map[string]string{}}, ts, false)
	var delta discoveryv3.DeltaDiscoveryResponse
	if err := proto.Unmarshal(dr.bufs.Materialize(), &delta); err != nil {
		t.Fatal(err)
	}
	if delta.SystemVersionInfo != ts.version || delta.TypeUrl != resourcev3.RouteType || len(delta.Resources) != len(gc.Routes) {
		t.Fatalf("delta: version %q type %q, %d resources", delta.SystemVersionInfo, delta.TypeUrl, len(delta.Resources))
	}
	for i, r := range delta.Resources {
		e := ts.entries[i]
		if r.Name != e.name || r.Version != e.version || r.Resource.TypeUrl != resourcev3.RouteType || string(r.Resource.Value) != string(e.value) {
			t.Fatalf("delta resource %d: %s@%s, want %s@%s", i, r.Name, r.Version, e.name, e.version)
		}
	}

	// A snapshot of the same configuration has the same versions and no
	// difference from the first.
	again, err := BuildSnapshot(gc, snap)
	if err != nil {
		t.Fatal(err)
	}
	if again.version != snap.version {
		t.Fatal("the same configuration got another version")
	}
	for typ, ts := range again.types {
		if len(ts.changed) != 0 || len(ts.removed) != 0 || ts.names != snap.types[typ].names {
			t.Fatalf("%s: %d changed, %d removed against an identical snapshot", shortType(typ), len(ts.changed), len(ts.removed))
		}
		for i, e := range ts.entries {
			if was := snap.types[typ].entries[i]; e.name != was.name || e.version != was.version || string(e.value) != string(was.value) {
				t.Fatalf("%s %s encoded otherwise", shortType(typ), e.name)
			}
		}
	}
}
