package translator

import (
	"slices"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// listenerKinds are the route kinds a listener of l's protocol and mode
// serves.
// HTTP and HTTPS listeners take HTTPRoutes and GRPCRoutes, which share their
// virtual hosts and policies; a TLS listener (Passthrough or Terminate mode)
// takes TLSRoutes, which pick a backend by SNI.
func listenerKinds(l gwv1.Listener) []string {
	switch l.Protocol {
	case gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType:
		return []string{kindHTTPRoute, kindGRPCRoute}
	case gwv1.TLSProtocolType:
		if reason, _ := checkTLSListener(l); reason != "" {
			return nil // a mode gatewarden does not serve takes no route
		}
		return []string{kindTLSRoute}
	case gwv1.TCPProtocolType:
		return []string{kindTCPRoute}
	}
	return nil
}

// kindServed reports whether k, of allowedRoutes.kinds, is a kind l serves.
func kindServed(l gwv1.Listener, k gwv1.RouteGroupKind) bool {
	return (k.Group == nil || *k.Group == gwv1.GroupName) && slices.Contains(listenerKinds(l), string(k.Kind))
}

// allowsKind reports whether the listener takes routes of kind: its
// supportedKinds (status) name it.
func (l *listenerState) allowsKind(kind string) bool {
	return slices.ContainsFunc(l.status.SupportedKinds, func(k gwv1.RouteGroupKind) bool { return string(k.Kind) == kind })
}
