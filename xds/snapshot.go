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

// BuildSnapshot turns one Gateway's configuration into a consistent snapshot.
// Each resource type carries its own version, a hash of its content: an
// unchanged configuration is never pushed again, every replica names the
// same content alike, and a state-of-the-world Envoy is sent again only the
// types that changed (a route change does not resend every cluster).
func BuildSnapshot(gc *translator.GatewayConfig) (*cachev3.Snapshot, error) {
	resources := map[resourcev3.Type][]types.Resource{
		resourcev3.ListenerType:    toResources(gc.Listeners),
		resourcev3.RouteType:       toResources(gc.Routes),
		resourcev3.ScopedRouteType: toResources(gc.ScopedRoutes),
		resourcev3.ClusterType:     toResources(gc.Clusters),
		resourcev3.EndpointType:    toResources(gc.Endpoints),
		resourcev3.SecretType:      toResources(gc.Secrets),
	}
	versions := map[resourcev3.Type]string{}
	for _, typ := range typeOrder {
		v, err := contentVersion(typ, resources[typ])
		if err != nil {
			return nil, err
		}
		versions[typ] = v
	}
	snap, err := cachev3.NewSnapshot(overallVersion(versions), resources)
	if err != nil {
		return nil, fmt.Errorf("snapshot of %s: %w", gc.Key(), err)
	}
	for _, typ := range typeOrder {
		rt := cachev3.GetResponseType(typ)
		snap.Resources[rt].Version = versions[typ]
	}
	// Consistency is what lets Envoy converge: every route configuration a
	// listener names and every cluster's endpoints must be in the snapshot.
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("snapshot of %s is not consistent: %w", gc.Key(), err)
	}
	return snap, nil
}

// SnapshotVersion is the version of a whole snapshot built by BuildSnapshot:
// it changes when any of its types does.
func SnapshotVersion(snap *cachev3.Snapshot) string {
	versions := map[resourcev3.Type]string{}
	for _, typ := range typeOrder {
		versions[typ] = snap.GetVersion(typ)
	}
	return overallVersion(versions)
}

func overallVersion(versions map[resourcev3.Type]string) string {
	h := sha256.New()
	for _, typ := range typeOrder {
		fmt.Fprintf(h, "%s\x00%s\x00", typ, versions[typ])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func toResources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

// typeOrder lists every type a snapshot holds, in the order they enter the
// overall version.
var typeOrder = []resourcev3.Type{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ScopedRouteType,
	resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType}

// contentVersion hashes the resources of one type.
func contentVersion(typ resourcev3.Type, resources []types.Resource) (string, error) {
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	fmt.Fprintf(h, "%s\x00%d\x00", typ, len(resources))
	var buf []byte
	for _, r := range resources {
		var err error
		buf, err = opts.MarshalAppend(buf[:0], r)
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", typ, err)
		}
		fmt.Fprintf(h, "%d\x00", len(buf))
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
