package xds

import (
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"

	"github.com/gatewarden/gatewarden/internal/workload"
	"github.com/gatewarden/gatewarden/translator"
)

// TestResponsesShareEncodingsAndDecode checks the hand-assembled wire form
// against the protobuf library, and that two streams are sent the same
// bytes rather than copies.
func TestResponsesShareEncodingsAndDecode(t *testing.T) {
	gc := workload.Translate(t, 20, translator.Options{ScopedRoutesMinHosts: 10}).Gateways[0]
	snap, err := BuildSnapshot(gc, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := snap.types[routeTypeURL]
	if len(ts.entries) != len(gc.Routes) || len(gc.Routes) < 20 {
		t.Fatalf("%d route entries for %d route configurations", len(ts.entries), len(gc.Routes))
	}
	a, b := &stream{}, &stream{}
	wa := &sotwWatch{sub: subscription{shared: ts.names}}
	wb := &sotwWatch{sub: subscription{shared: ts.names}}
	ra, rb := a.sotwResponse(wa, ts), b.sotwResponse(wb, ts)
	if len(ra.bufs) != len(rb.bufs) || len(ra.bufs) != len(gc.Routes)+1 {
		t.Fatalf("responses of %d and %d buffers", len(ra.bufs), len(rb.bufs))
	}
	for i := 1; i < len(ra.bufs); i++ {
		if &ra.bufs[i].ReadOnlyData()[0] != &rb.bufs[i].ReadOnlyData()[0] {
			t.Fatalf("resource %d was encoded for each stream", i)
		}
	}
	var resp discoveryv3.DiscoveryResponse
	if err := proto.Unmarshal(ra.bufs.Materialize(), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.VersionInfo != ts.version || resp.TypeUrl != routeTypeURL || resp.Nonce != wa.nonce || resp.Nonce == "" {
		t.Fatalf("head: version %q type %q nonce %q", resp.VersionInfo, resp.TypeUrl, resp.Nonce)
	}
	for i, r := range gc.Routes {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Resources[i]
		if got.TypeUrl != routeTypeURL || string(got.Value) != string(want) {
			t.Fatalf("resource %d (%s) differs from its protobuf encoding", i, r.Name)
		}
	}

	// Delta: a stream that has nothing is sent every resource with its name
	// and version.
	d := &stream{delta: true}
	dr := d.deltaResponse(&deltaWatch{sub: subscription{shared: ts.names}, extra: map[string]string{}}, ts)
	var delta discoveryv3.DeltaDiscoveryResponse
	if err := proto.Unmarshal(dr.bufs.Materialize(), &delta); err != nil {
		t.Fatal(err)
	}
	if delta.SystemVersionInfo != ts.version || delta.TypeUrl != routeTypeURL || len(delta.Resources) != len(gc.Routes) {
		t.Fatalf("delta: version %q type %q, %d resources", delta.SystemVersionInfo, delta.TypeUrl, len(delta.Resources))
	}
	for i, r := range delta.Resources {
		e := ts.entries[i]
		if r.Name != e.name || r.Version != e.version || r.Resource.TypeUrl != routeTypeURL || string(r.Resource.Value) != string(e.value()) {
			t.Fatalf("delta resource %d: %s@%s, want %s@%s", i, r.Name, r.Version, e.name, e.version)
		}
	}

	// A snapshot of the same configuration reuses every encoding and has no
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
			if e != snap.types[typ].entries[i] {
				t.Fatalf("%s %s re-encoded", shortType(typ), e.name)
			}
		}
	}
}
