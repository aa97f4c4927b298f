package xds

import (
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
)

// TestParseSotWRequest reads requests encoded by the protobuf library, as
// an Envoy sends them.
func TestParseSotWRequest(t *testing.T) {
	encode := func(r *discoveryv3.DiscoveryRequest) []byte {
		b, err := proto.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	names := []string{"a", "bench/svc1/80", "", "ünïcode"}
	full := &discoveryv3.DiscoveryRequest{
		VersionInfo: "v1", Node: &corev3.Node{Id: "envoy-1", Cluster: "ns/gw"}, ResourceNames: names,
		TypeUrl: resourcev3.RouteType, ResponseNonce: "7", ErrorDetail: &rpcstatus.Status{Code: 3, Message: "rejected"},
	}
	r, err := parseSotWRequest(encode(full))
	if err != nil {
		t.Fatal(err)
	}
	node, err := r.decodeNode()
	if err != nil || node.GetCluster() != "ns/gw" || node.GetId() != "envoy-1" {
		t.Fatalf("node %v, %v", node, err)
	}
	if r.typeURL != resourcev3.RouteType || r.nonce != "7" || r.nameCount != len(names) {
		t.Fatalf("type %q nonce %q, %d names", r.typeURL, r.nonce, r.nameCount)
	}
	if msg, nack := r.nack(); !nack || msg != "rejected" {
		t.Fatalf("nack = %q, %v", msg, nack)
	}
	var got []string
	r.names(func(b []byte) { got = append(got, string(b)) })
	if !slices.Equal(got, names) {
		t.Fatalf("names %q, want %q", got, names)
	}

	ack, err := parseSotWRequest(encode(&discoveryv3.DiscoveryRequest{ResourceNames: names, TypeUrl: resourcev3.RouteType, ResponseNonce: "8"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, nack := ack.nack(); nack || ack.node != nil {
		t.Fatal("an ACK without node read as a NACK or with a node")
	}
	if ack.namesHash != r.namesHash {
		t.Fatal("the same names hash differently")
	}
	for _, other := range [][]string{{"a", "bench/svc1/80", "ünïcode", ""}, {"a", "bench/svc1/80", "", "ünïcod"}, {"ab", "ench/svc1/80", "", "ünïcode"}} {
		o, err := parseSotWRequest(encode(&discoveryv3.DiscoveryRequest{ResourceNames: other}))
		if err != nil {
			t.Fatal(err)
		}
		if o.namesHash == r.namesHash {
			t.Fatalf("names %q hash like %q", other, names)
		}
	}
	if _, err := parseSotWRequest([]byte{0x1a, 0x05, 'a'}); err == nil {
		t.Fatal("a truncated request was read")
	}
}

// FuzzParseSotWRequest feeds the request reader arbitrary bytes, as any
// client of the xDS port may send: it refuses or reads them, never panics,
// and what it reads agrees with the protobuf library.
func FuzzParseSotWRequest(f *testing.F) {
	for _, r := range []*discoveryv3.DiscoveryRequest{
		{},
		{TypeUrl: resourcev3.RouteType, ResourceNames: []string{"a", "b"}, ResponseNonce: "1"},
		{Node: &corev3.Node{Cluster: "ns/gw"}, ErrorDetail: &rpcstatus.Status{Message: "no"}, ResourceNames: []string{"*"}},
	} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseSotWRequest(b)
		if err != nil {
			return
		}
		var names []string
		r.names(func(n []byte) { names = append(names, string(n)) })
		if len(names) != r.nameCount {
			t.Fatalf("%d names read, %d counted", len(names), r.nameCount)
		}
		r.nack()
		if _, err := r.decodeNode(); err != nil {
			return
		}
		var want discoveryv3.DiscoveryRequest
		if proto.Unmarshal(b, &want) != nil {
			return // invalid UTF-8 and the like, which only the library checks
		}
		if !slices.Equal(names, want.ResourceNames) || r.typeURL != want.TypeUrl || r.nonce != want.ResponseNonce {
			t.Fatalf("read %q %q %q, the library %q %q %q", names, r.typeURL, r.nonce, want.ResourceNames, want.TypeUrl, want.ResponseNonce)
		}
	})
}
