// Package xds serves translated configuration to Envoys over ADS (state of
// the world and delta), one snapshot per Gateway, selected by the node
// cluster an Envoy announces ("namespace/name"). It also writes the Envoy
// bootstrap that points an Envoy at it.
package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/gatewarden/gatewarden/translator"
)

// BuildSnapshot turns one Gateway's configuration into a consistent snapshot
// whose version is a hash of its content, so that an unchanged configuration
// is never pushed again and every replica names the same content alike.
func BuildSnapshot(gc *translator.GatewayConfig) (*cachev3.Snapshot, error) {
	resources := map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType:    toResources(gc.Listeners),
		resourcev3.RouteType:       toResources(gc.Routes),
		resourcev3.ClusterType:     toResources(gc.Clusters),
		resourcev3.EndpointType:    toResources(gc.Endpoints),
		resourcev3.SecretType:      toResources(gc.Secrets),
		resourcev3.ScopedRouteType: toResources(gc.ScopedRoutes),
	}
	version, err := contentVersion(resources)
	if err != nil {
		return nil, err
	}
	snap, err := cachev3.NewSnapshot(version, resources)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", gc.Key(), err)
	}
	// Consistency is what lets Envoy converge: every route configuration a
	// listener names and every cluster's endpoints must be in the snapshot.
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("snapshot of %s is not consistent: %w", gc.Key(), err)
	}
	return snap, nil
}

func toResources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

// typeOrder fixes the order in which types enter the version hash.
var typeOrder = []resourcev3.Type{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType}

func contentVersion(resources map[resourcev3.Type][]types.Resource) (string, error) {
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	for _, typ := range typeOrder {
		fmt.Fprintf(h, "%s\x00%d\x00", typ, len(resources[typ]))
		for _, r := range resources[typ] {
			b, err := opts.Marshal(r)
			if err != nil {
				return "", fmt.Errorf("hash %s: %w", typ, err)
			}
			fmt.Fprintf(h, "%d\x00", len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
