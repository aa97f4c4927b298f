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

// RouteKinds are the route kinds the API server serves: those of
// resource.RouteKinds that are not optional, and the optional ones whose
// CRD (v1) is installed, like BackendTLSPolicy. The source reads and the
// status writer writes the statuses of those only.
type RouteKinds []resource.RouteKind

// RouteKinds returns the route kinds found installed at start.
func (s *Source) RouteKinds() RouteKinds { return s.routeKinds }

// Installed are the kinds found installed at start whose status gatewarden
// writes beside Gateways and options: the route kinds, ListenerSet and
// BackendTLSPolicy.
type Installed struct {
	RouteKinds RouteKinds
	// ListenerSet and BackendTLSPolicy are whether their CRD (v1) is
	// installed.
	ListenerSet, BackendTLSPolicy bool
}

// Installed returns the kinds found installed at start.
func (s *Source) Installed() Installed {
	return Installed{RouteKinds: s.routeKinds, ListenerSet: s.listenerSet, BackendTLSPolicy: s.backendTLS}
}

// detectRouteKinds finds which route kinds are installed and returns them
// to watch.
func detectRouteKinds(mapper meta.RESTMapper) (RouteKinds, []watchedKind, error) {
	var k RouteKinds
	var w []watchedKind
	for _, rk := range resource.RouteKinds {
		if rk.Optional {
			ok, err := installed(mapper, schema.GroupKind{Group: gwv1.GroupName, Kind: rk.Kind}, gwv1.GroupVersion.Version)
			if err != nil {
				return nil, nil, fmt.Errorf("look up the %s CRD: %w", rk.Kind, err)
			}
			if !ok {
				continue
			}
		}
		k = append(k, rk)
		w = append(w, watchedKind{rk.New(), true})
	}
	return k, w, nil
}

// missing names the route kinds that are not installed.
func (k RouteKinds) missing() []string {
	var out []string
	for _, rk := range resource.RouteKinds {
		if !k.has(rk.Kind) {
			out = append(out, rk.Kind)
		}
	}
	return out
}

func (k RouteKinds) has(kind string) bool {
	for _, rk := range k {
		if rk.Kind == kind {
			return true
		}
	}
	return false
}

// list reads the installed route kinds from the cache.
func (k RouteKinds) list(ctx context.Context, c client.Reader, res *resource.Resources) error {
	for _, rk := range k {
		l := rk.NewList()
		if err := c.List(ctx, l); err != nil {
			return fmt.Errorf("list %ss: %w", rk.Kind, err)
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return fmt.Errorf("list %ss: %w", rk.Kind, err)
		}
		for _, it := range items {
			if !res.Add(it) {
				return fmt.Errorf("list %ss: %T is not a kind the translator reads", rk.Kind, it)
			}
		}
	}
	return nil
}
