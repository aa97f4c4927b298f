package xds

import (
	"fmt"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// pushStage is when a type is sent in the make-before-break order (push).
type pushStage int

const (
	// warmStage types are sent first and removed last: what the routes use.
	warmStage pushStage = iota
	// routeStage types are sent once the warm ones are in place.
	routeStage
)

// resourceType is one xDS type gatewarden serves.
type resourceType struct {
	url   string
	stage pushStage
	// rank orders the types of one stage when they are pushed.
	rank int
	// of lists the type's resources in a Gateway's configuration.
	of func(*xdsconfig.GatewayConfig) []types.Resource
	// decode reads a snapshot's resources of the type back into a
	// Gateway's configuration (the debug endpoints).
	decode func(*Snapshot, *xdsconfig.GatewayConfig) error
}

// resourceTypes is the one table of the types gatewarden serves: adding a
// type is an entry here and a field of xdsconfig.GatewayConfig. Its order is
// the order the types enter a snapshot's overall version; stage and rank
// place each in the push order.
var resourceTypes = []resourceType{
	typeOf(resourcev3.ListenerType, routeStage, 0, func(gc *xdsconfig.GatewayConfig) *[]*listenerv3.Listener { return &gc.Listeners }),
	typeOf(resourcev3.RouteType, routeStage, 2, func(gc *xdsconfig.GatewayConfig) *[]*routev3.RouteConfiguration { return &gc.Routes }),
	typeOf(resourcev3.ScopedRouteType, routeStage, 1, func(gc *xdsconfig.GatewayConfig) *[]*routev3.ScopedRouteConfiguration { return &gc.ScopedRoutes }),
	typeOf(resourcev3.ClusterType, warmStage, 0, func(gc *xdsconfig.GatewayConfig) *[]*clusterv3.Cluster { return &gc.Clusters }),
	typeOf(resourcev3.EndpointType, warmStage, 1, func(gc *xdsconfig.GatewayConfig) *[]*endpointv3.ClusterLoadAssignment { return &gc.Endpoints }),
	typeOf(resourcev3.SecretType, warmStage, 2, func(gc *xdsconfig.GatewayConfig) *[]*tlsv3.Secret { return &gc.Secrets }),
}

// typeOf is the table entry of the type whose resources list picks out of
// a Gateway's configuration.
func typeOf[T types.Resource](url string, stage pushStage, rank int, list func(*xdsconfig.GatewayConfig) *[]T) resourceType {
	return resourceType{url: url, stage: stage, rank: rank,
		of: func(gc *xdsconfig.GatewayConfig) []types.Resource { return toResources(*list(gc)) },
		decode: func(s *Snapshot, gc *xdsconfig.GatewayConfig) error {
			rs, err := decodeAll[T](s, url)
			*list(gc) = rs
			return err
		},
	}
}

// stageTypes lists the type URLs of one push stage by rank.
func stageTypes(stage pushStage) []string {
	var ts []resourceType
	for _, t := range resourceTypes {
		if t.stage == stage {
			ts = append(ts, t)
		}
	}
	slices.SortStableFunc(ts, func(a, b resourceType) int { return a.rank - b.rank })
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.url
	}
	return out
}

var (
	// typeOrder lists every type a snapshot holds, in the order they enter
	// the overall version.
	typeOrder = func() []string {
		out := make([]string, len(resourceTypes))
		for i, t := range resourceTypes {
			out[i] = t.url
		}
		return out
	}()
	// warmTypes and routeTypes are the push stages (see push).
	warmTypes  = stageTypes(warmStage)
	routeTypes = stageTypes(routeStage)
)

func toResources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

func decodeAll[T proto.Message](snap *Snapshot, typeURL string) ([]T, error) {
	ts := snap.types[typeURL]
	if ts == nil {
		return nil, nil
	}
	out := make([]T, 0, len(ts.entries))
	for _, e := range ts.entries {
		var zero T
		m := zero.ProtoReflect().New().Interface().(T)
		if err := proto.Unmarshal(e.value, m); err != nil {
			return nil, fmt.Errorf("decode %s %q: %w", shortType(typeURL), e.name, err)
		}
		out = append(out, m)
	}
	return out, nil
}

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
