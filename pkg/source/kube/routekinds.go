package kube

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// grpcRouteKind, tlsRouteKind and tcpRouteKind are read only where its CRD is installed (v1), like
// BackendTLSPolicy: a cluster with an older release of the Gateway API's
// CRDs has HTTPRoutes to serve all the same.
var (
	grpcRouteKind = schema.GroupKind{Group: gwv1.GroupName, Kind: "GRPCRoute"}
	tlsRouteKind  = schema.GroupKind{Group: gwv1.GroupName, Kind: "TLSRoute"}
	tcpRouteKind  = schema.GroupKind{Group: gwv1.GroupName, Kind: "TCPRoute"}
	// listenerSetKind is not a route kind, but read the same way: a
	// cluster whose CRDs predate it has Gateways to serve all the same.
	listenerSetKind = schema.GroupKind{Group: gwv1.GroupName, Kind: "ListenerSet"}
)

// RouteKinds are the optional route kinds the API server serves: the
// status writer writes the statuses of those only.
type RouteKinds struct {
	GRPC, TLS, TCP bool
	// ListenerSet is whether ListenerSets (v1) are served.
	ListenerSet bool
}

// RouteKinds returns the optional route kinds found installed at start.
func (s *Source) RouteKinds() RouteKinds { return s.routeKinds }

// detectRouteKinds finds which optional route kinds are installed and
// returns them to watch.
func detectRouteKinds(mapper meta.RESTMapper) (RouteKinds, []watchedKind, error) {
	var k RouteKinds
	var err error
	if k.GRPC, err = installed(mapper, grpcRouteKind, gwv1.GroupVersion.Version); err != nil {
		return k, nil, fmt.Errorf("look up the GRPCRoute CRD: %w", err)
	}
	if k.TLS, err = installed(mapper, tlsRouteKind, gwv1.GroupVersion.Version); err != nil {
		return k, nil, fmt.Errorf("look up the TLSRoute CRD: %w", err)
	}
	if k.TCP, err = installed(mapper, tcpRouteKind, gwv1.GroupVersion.Version); err != nil {
		return k, nil, fmt.Errorf("look up the TCPRoute CRD: %w", err)
	}
	if k.ListenerSet, err = installed(mapper, listenerSetKind, gwv1.GroupVersion.Version); err != nil {
		return k, nil, fmt.Errorf("look up the ListenerSet CRD: %w", err)
	}
	var w []watchedKind
	if k.ListenerSet {
		w = append(w, watchedKind{&gwv1.ListenerSet{}, true})
	}
	if k.GRPC {
		w = append(w, watchedKind{&gwv1.GRPCRoute{}, true})
	}
	if k.TLS {
		w = append(w, watchedKind{&gwv1.TLSRoute{}, true})
	}
	if k.TCP {
		w = append(w, watchedKind{&gwv1.TCPRoute{}, true})
	}
	return k, w, nil
}

// missing names the optional route kinds that are not installed.
func (k RouteKinds) missing() []string {
	var out []string
	if !k.GRPC {
		out = append(out, "GRPCRoute")
	}
	if !k.TLS {
		out = append(out, "TLSRoute")
	}
	if !k.TCP {
		out = append(out, "TCPRoute")
	}
	if !k.ListenerSet {
		out = append(out, "ListenerSet")
	}
	return out
}

// list reads the installed optional route kinds from the cache.
func (k RouteKinds) list(ctx context.Context, c client.Reader, res *resource.Resources) error {
	if k.GRPC {
		var l gwv1.GRPCRouteList
		if err := c.List(ctx, &l); err != nil {
			return fmt.Errorf("list GRPCRoutes: %w", err)
		}
		res.GRPCRoutes = pointers(l.Items)
	}
	if k.TLS {
		var l gwv1.TLSRouteList
		if err := c.List(ctx, &l); err != nil {
			return fmt.Errorf("list TLSRoutes: %w", err)
		}
		res.TLSRoutes = pointers(l.Items)
	}
	if k.ListenerSet {
		var l gwv1.ListenerSetList
		if err := c.List(ctx, &l); err != nil {
			return fmt.Errorf("list ListenerSets: %w", err)
		}
		res.ListenerSets = pointers(l.Items)
	}
	if k.TCP {
		var l gwv1.TCPRouteList
		if err := c.List(ctx, &l); err != nil {
			return fmt.Errorf("list TCPRoutes: %w", err)
		}
		res.TCPRoutes = pointers(l.Items)
	}
	return nil
}
