package translator

import (
	"slices"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// listenerKinds are the route kinds a listener of l's protocol and mode
// serves (resource.RouteKinds says which protocol takes which kind). A TLS
// listener in a mode gatewarden does not serve takes none.
func listenerKinds(l gwv1.Listener) []string {
	if l.Protocol == gwv1.TLSProtocolType {
		if reason, _ := checkTLSListener(l); reason != "" {
			return nil
		}
	}
	return resource.ListenerRouteKinds(l.Protocol)
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
