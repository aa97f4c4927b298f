package explain

import (
	"fmt"
	"net/http"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// grpcCodes are the gRPC status codes Envoy answers a gRPC request with when
// it refuses the request itself (Envoy's Grpc::Utility::httpToGrpcStatus);
// any other HTTP status is UNKNOWN (2).
var grpcCodes = map[int]struct {
	code int
	name string
}{
	400: {13, "INTERNAL"},
	401: {16, "UNAUTHENTICATED"},
	403: {7, "PERMISSION_DENIED"},
	404: {12, "UNIMPLEMENTED"},
	429: {14, "UNAVAILABLE"},
	502: {14, "UNAVAILABLE"},
	503: {14, "UNAVAILABLE"},
	504: {14, "UNAVAILABLE"},
}

// isGRPC reports a gRPC request, as Envoy tells one: by its content-type.
func isGRPC(h http.Header) bool {
	for k, v := range h {
		if strings.EqualFold(k, "Content-Type") && len(v) > 0 {
			return strings.HasPrefix(strings.ToLower(v[0]), "application/grpc")
		}
	}
	return false
}

// asGRPC rewrites an answer Envoy gives itself (a JWT or RBAC refusal, no
// route, a direct response) as Envoy sends it to a gRPC client: HTTP 200
// with the status in grpc-status and the body in grpc-message. A client
// sees the gRPC code, never the HTTP status. Forwarded requests, redirects
// and refused connections are left as they are.
func (d *Decision) asGRPC() {
	if d.Upstream != "" || d.Code == 0 || (d.Code >= 300 && d.Code < 400) {
		return
	}
	c, ok := grpcCodes[d.Code]
	if !ok {
		c.code, c.name = 2, "UNKNOWN"
	}
	msg := strings.TrimSpace(d.Body)
	d.step("a gRPC request (content-type application/grpc): Envoy answers %d as HTTP 200 with grpc-status %d (%s)", d.Code, c.code, c.name)
	d.GRPCStatus, d.GRPCStatusName = &c.code, c.name
	if d.Headers == nil {
		d.Headers = map[string]string{}
	}
	d.Headers["grpc-status"] = fmt.Sprint(c.code)
	if msg != "" {
		d.Headers["grpc-message"] = msg
	}
	d.Code, d.Body = 200, ""
	d.GRPCMessage = msg
}

func (d *Decision) grpcSummary() string {
	s := fmt.Sprintf("%d grpc-status %d %s", d.Code, *d.GRPCStatus, d.GRPCStatusName)
	if d.GRPCMessage != "" {
		s += ": " + d.GRPCMessage
	}
	return s
}

// servesHTTP reports a listener with an HTTP connection manager; a TLS
// passthrough listener proxies connections it does not decrypt.
func servesHTTP(l *listenerv3.Listener) bool {
	for _, fc := range l.FilterChains {
		for _, f := range fc.Filters {
			if f.GetTypedConfig().MessageIs(&hcmv3.HttpConnectionManager{}) {
				return true
			}
		}
	}
	return false
}
