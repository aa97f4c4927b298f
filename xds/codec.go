package xds

import (
	"fmt"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
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

// Field numbers of DiscoveryResponse and DeltaDiscoveryResponse, which
// responses are assembled from.
var (
	sotwFields  = headFields(&discoveryv3.DiscoveryResponse{}, "version_info", "")
	deltaFields = headFields(&discoveryv3.DeltaDiscoveryResponse{}, "system_version_info", "removed_resources")
)

// responseFields are the numbers of the fields of a response's head.
type responseFields struct{ version, typeURL, nonce, removed protowire.Number }

// headFields reads them from m's descriptor; version and removed name the
// fields that differ between the two kinds of response ("" for none).
func headFields(m protoreflect.ProtoMessage, version, removed protoreflect.Name) responseFields {
	f := responseFields{version: fieldNumber(m, version), typeURL: fieldNumber(m, "type_url"), nonce: fieldNumber(m, "nonce")}
	if removed != "" {
		f.removed = fieldNumber(m, removed)
	}
	return f
}

// fieldNumber reads the number of a field from its message's descriptor,
// so that the hand-assembled encoding cannot drift from the protos.
func fieldNumber(m protoreflect.ProtoMessage, name protoreflect.Name) protowire.Number {
	f := m.ProtoReflect().Descriptor().Fields().ByName(name)
	if f == nil {
		panic(fmt.Sprintf("%s has no field %s", m.ProtoReflect().Descriptor().FullName(), name))
	}
	return f.Number()
}

// response assembles a head and resource encodings.
func response(h head, resources []mem.Buffer) *encodedResponse {
	bufs := make(mem.BufferSlice, 0, len(resources)+1)
	bufs = append(bufs, mem.SliceBuffer(h))
	bufs = append(bufs, resources...)
	return &encodedResponse{bufs: bufs, size: bufs.Len()}
}
