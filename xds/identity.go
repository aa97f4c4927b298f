package xds

import (
	"crypto/tls"
	"net/url"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/gatewarden/gatewarden/pkg/pki"
)

// With ServerOptions.RequireIdentity, every stream proves which Gateway it
// serves: its client certificate must carry the URI SAN
// spiffe://<trustDomain>/ns/<namespace>/gateway/<name>, and the node
// cluster of its first request must be that same Gateway. Without it (plain
// text on loopback, or TLS without client certificates), a stream is
// trusted to name its own Gateway, which only a local process can do.
//
// Binding the stream to the certificate's Gateway is what keeps one
// tenant's proxies from receiving another Gateway's listeners, JWKS and,
// over SDS, the private keys of its HTTPS certificates and of the client
// certificate it presents to its backends: a snapshot holds only the
// secrets its own listeners and clusters reference.

// authorize checks that the stream's peer may receive gateway's
// configuration. A refusal is logged with both identities, counted, and
// ends the stream with PermissionDenied before anything is sent.
func (s *Server) authorize(st *stream, nodeID, gateway string) error {
	if s.trustDomain == "" {
		return nil
	}
	identity, reason := s.peerGateway(st)
	if reason == "" && identity != gateway {
		reason = "gateway_mismatch"
	}
	if reason == "" {
		return nil
	}
	s.metrics.Denied.WithLabelValues(reason).Inc()
	s.log.Warn("xDS stream refused: the client's certificate does not name the Gateway it asked for",
		"stream", st.id, "reason", reason, "identity", identity, "gateway", gateway, "node", nodeID, "peer", peerAddr(st))
	if gateway == "" {
		return status.Errorf(codes.PermissionDenied, "identity %q: the node cluster must name its Gateway as \"namespace/name\"", identity)
	}
	return status.Errorf(codes.PermissionDenied, "identity %q may not receive the configuration of Gateway %q", identity, gateway)
}

// peerGateway is the Gateway named by the verified client certificate of
// the stream's connection, or why there is none.
func (s *Server) peerGateway(st *stream) (gateway, reason string) {
	p, ok := peer.FromContext(st.send.Context())
	if !ok {
		return "", "no_peer"
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", "no_tls"
	}
	return gatewayOf(s.trustDomain, info.State)
}

// gatewayOf reads the Gateway identity of a verified TLS connection: exactly
// one SPIFFE URI of the trust domain in the leaf of a verified chain.
func gatewayOf(trustDomain string, cs tls.ConnectionState) (gateway, reason string) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", "no_client_certificate"
	}
	var ids []string
	var others []string
	for _, u := range cs.VerifiedChains[0][0].URIs {
		if g, ok := pki.ParseGatewayID(trustDomain, u); ok {
			ids = append(ids, g)
		} else {
			others = append(others, redact(u))
		}
	}
	switch len(ids) {
	case 1:
		return ids[0], ""
	case 0:
		return strings.Join(others, ","), "no_gateway_identity"
	default:
		// A certificate naming two Gateways names neither.
		return strings.Join(ids, ","), "ambiguous_identity"
	}
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func peerAddr(st *stream) string {
	if p, ok := peer.FromContext(st.send.Context()); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
