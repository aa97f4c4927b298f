package xds

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// rawMessage receives a request's bytes as they came (see codec). A
// state-of-the-world Envoy repeats every resource name it wants in every
// request, ACKs included (10,000 route configurations are about 300 kB):
// kept as bytes, a request is one allocation without pointers, where
// decoding it would make a string per name.
type rawMessage struct{ buf []byte }

// sotwRequest is a DiscoveryRequest read from its bytes. The resource
// names stay in raw until they are needed: most requests repeat the names
// of the one before, which their hash shows without making a string.
type sotwRequest struct {
	raw            []byte
	typeURL, nonce string
	node           []byte // Node, nil when absent
	errorDetail    []byte // google.rpc.Status, nil when absent
	nameCount      int
	namesHash      uint64
}

var namesSeed = maphash.MakeSeed()

// DiscoveryRequest field numbers.
var (
	reqNodeField        = fieldNumber(&discoveryv3.DiscoveryRequest{}, "node")
	reqNamesField       = fieldNumber(&discoveryv3.DiscoveryRequest{}, "resource_names")
	reqTypeURLField     = fieldNumber(&discoveryv3.DiscoveryRequest{}, "type_url")
	reqNonceField       = fieldNumber(&discoveryv3.DiscoveryRequest{}, "response_nonce")
	reqErrorDetailField = fieldNumber(&discoveryv3.DiscoveryRequest{}, "error_detail")
)

func parseSotWRequest(b []byte) (*sotwRequest, error) {
	r := &sotwRequest{raw: b}
	var h maphash.Hash
	h.SetSeed(namesSeed)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("malformed DiscoveryRequest: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return nil, fmt.Errorf("malformed DiscoveryRequest: %w", protowire.ParseError(m))
			}
			b = b[m:]
			continue
		}
		v, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return nil, fmt.Errorf("malformed DiscoveryRequest: %w", protowire.ParseError(m))
		}
		b = b[m:]
		switch num {
		case reqNodeField:
			r.node = v
		case reqNamesField:
			r.nameCount++
			var l [binary.MaxVarintLen64]byte
			h.Write(protowire.AppendVarint(l[:0], uint64(len(v))))
			h.Write(v)
		case reqTypeURLField:
			r.typeURL = string(v)
		case reqNonceField:
			r.nonce = string(v)
		case reqErrorDetailField:
			r.errorDetail = v
		}
	}
	r.namesHash = h.Sum64()
	return r, nil
}

// names calls f with each resource name, as a view of the request's bytes.
func (r *sotwRequest) names(f func([]byte)) {
	b := r.raw
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		b = b[n:]
		if typ != protowire.BytesType {
			b = b[protowire.ConsumeFieldValue(num, typ, b):]
			continue
		}
		v, m := protowire.ConsumeBytes(b)
		b = b[m:]
		if num == reqNamesField {
			f(v)
		}
	}
}

// decodeNode decodes the request's node, if it carries one.
func (r *sotwRequest) decodeNode() (*corev3.Node, error) {
	if r.node == nil {
		return nil, nil
	}
	n := &corev3.Node{}
	if err := proto.Unmarshal(r.node, n); err != nil {
		return nil, fmt.Errorf("malformed node: %w", err)
	}
	return n, nil
}

// nack returns the message of the request's error detail, if it is a NACK.
func (r *sotwRequest) nack() (string, bool) {
	if r.errorDetail == nil {
		return "", false
	}
	st := &rpcstatus.Status{}
	if err := proto.Unmarshal(r.errorDetail, st); err != nil {
		return "(an error detail that could not be read: " + err.Error() + ")", true
	}
	return st.GetMessage(), true
}
