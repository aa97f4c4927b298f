package xds

import (
	"strings"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

const (
	listenerTypeURL    = resourcev3.ListenerType
	routeTypeURL       = resourcev3.RouteType
	scopedRouteTypeURL = resourcev3.ScopedRouteType
	clusterTypeURL     = resourcev3.ClusterType
	endpointTypeURL    = resourcev3.EndpointType
	secretTypeURL      = resourcev3.SecretType
)

// shortType is the last element of a type URL, for logs and metric labels.
func shortType(typeURL string) string {
	if i := strings.LastIndexByte(typeURL, '.'); i >= 0 {
		return typeURL[i+1:]
	}
	return typeURL
}

func splitKey(key string) [2]string {
	ns, name, _ := strings.Cut(key, "/")
	return [2]string{ns, name}
}
