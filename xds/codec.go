package xds

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// encodedResponse is a DiscoveryResponse or DeltaDiscoveryResponse as
// bytes: a small head of its own (version, type, nonce, removed names) and
// the shared encodings of its resources. Protobuf fields may come in any
// order on the wire, so the concatenation is the message.
type encodedResponse struct {
	bufs mem.BufferSlice
	size int
}

// codec sends encodedResponses as they are, receives rawMessages as they
// are, and leaves every other message to gRPC's protobuf codec.
type codec struct{}

var protoCodec = encoding.GetCodecV2(proto.Name)

func (codec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*encodedResponse); ok {
		// SliceBuffers are not reference counted: freeing them is a no-op,
		// which is what lets every stream send the same bytes.
		return r.bufs, nil
	}
	return protoCodec.Marshal(v)
}

func (codec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*rawMessage); ok {
		// data is freed when this returns: the bytes are copied.
		r.buf = data.Materialize()
		return nil
	}
	return protoCodec.Unmarshal(data, v)
}

func (codec) Name() string { return proto.Name }

// head encodes the fields of a response that are its own.
type head []byte

func (h head) str(field protowire.Number, s string) head {
	if s == "" {
		return h
	}
	h = protowire.AppendTag(h, field, protowire.BytesType)
	return protowire.AppendString(h, s)
}

// Field numbers of DiscoveryResponse and DeltaDiscoveryResponse.
const (
	sotwVersionField  protowire.Number = 1 // version_info
	sotwTypeURLField  protowire.Number = 4 // type_url
	sotwNonceField    protowire.Number = 5 // nonce
	deltaVersionField protowire.Number = 1 // system_version_info
	deltaTypeURLField protowire.Number = 4 // type_url
	deltaRemovedField protowire.Number = 6 // removed_resources
	deltaNonceField   protowire.Number = 5 // nonce
)

// response assembles a head and resource encodings.
func response(h head, resources []mem.Buffer) *encodedResponse {
	bufs := make(mem.BufferSlice, 0, len(resources)+1)
	bufs = append(bufs, mem.SliceBuffer(h))
	bufs = append(bufs, resources...)
	return &encodedResponse{bufs: bufs, size: bufs.Len()}
}
