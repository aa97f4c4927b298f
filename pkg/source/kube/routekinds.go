package kube

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/translator"
)

// grpcRouteKind, tlsRouteKind and tcpRouteKind are read only where its CRD is installed (v1), like
// BackendTLSPolicy: a cluster with an older release of the Gateway API's
// CRDs has HTTPRoutes to serve all the same.
var (
	grpcRouteKind = schema.GroupKind{Group: gwv1.GroupName, Kind: "GRPCRoute"}
	tlsRouteKind  = schema.GroupKind{Group: gwv1.GroupName, Kind: "TLSRoute"}
	tcpRouteKind  = schema.GroupKind{Group: gwv1.GroupName, Kind: "TCPRoute"}
)

// routeKinds are the optional route kinds the API server serves.
type routeKinds struct {
	grpc, tls, tcp bool
}

// detectRouteKinds finds which optional route kinds are installed and
// returns them to watch.
func detectRouteKinds(mapper meta.RESTMapper) (routeKinds, []watchedKind, error) {
	var k routeKinds
	var err error
	if k.grpc, err = installed(mapper, grpcRouteKind, gwv1.GroupVersion.Version); err != nil {
		return k, nil, fmt.Errorf("look up the GRPCRoute CRD: %w", err)
	}
	if k.tls, err = installed(mapper, tlsRouteKind, gwv1.GroupVersion.Version); err != nil {
		return k, nil, fmt.Errorf("look up the TLSRoute CRD: %w", err)
	}
	if k.tcp, err = installed(mapper, tcpRouteKind, gwv1.GroupVersion.Version); err != nil {
		return k, nil, fmt.Errorf("look up the TCPRoute CRD: %w", err)
	}
	var w []watchedKind
	if k.grpc {
		w = append(w, watchedKind{&gwv1.GRPCRoute{}, true})
	}
	if k.tls {
		w = append(w, watchedKind{&gwv1.TLSRoute{}, true})
	}
	if k.tcp {
		w = append(w, watchedKind{&gwv1.TCPRoute{}, true})
	}
	return k, w, nil
}

// missing names the optional route kinds that are not installed.
func (k routeKinds) missing() []string {
	var out []string
	if !k.grpc {
		out = append(out, "GRPCRoute")
	}
	if !k.tls {
		out = append(out, "TLSRoute")
	}
	if !k.tcp {
		out = append(out, "TCPRoute")
	}
	return out
}

// list reads the installed optional route kinds from the cache.
func (k routeKinds) list(ctx context.Context, c client.Reader, res *resource.Resources) error {
	if k.grpc {
		var l gwv1.GRPCRouteList
		if err := c.List(ctx, &l); err != nil {
			return fmt.Errorf("list GRPCRoutes: %w", err)
		}
		res.GRPCRoutes = pointers(l.Items)
	}
	if k.tls {
		var l gwv1.TLSRouteList
		if err := c.List(ctx, &l); err != nil {
			return fmt.Errorf("list TLSRoutes: %w", err)
		}
		res.TLSRoutes = pointers(l.Items)
	}
	if k.tcp {
		var l gwv1.TCPRouteList
		if err := c.List(ctx, &l); err != nil {
			return fmt.Errorf("list TCPRoutes: %w", err)
		}
		res.TCPRoutes = pointers(l.Items)
	}
	return nil
}

// writeRoutes writes the statuses of the installed optional route kinds,
// replacing the parent entries of this controller and keeping others'.
func (w *statusWriter) writeRoutes(ctx context.Context, k routeKinds, s *translator.Status, now metav1.Time) error {
	var errs []error
	if k.grpc {
		var l gwv1.GRPCRouteList
		if err := w.c.List(ctx, &l); err != nil {
			return err
		}
		for i := range l.Items {
			rt := &l.Items[i]
			key := types.NamespacedName{Namespace: rt.Namespace, Name: rt.Name}
			var want *gwv1.RouteStatus
			if st := s.GRPCRoutes[key]; st != nil {
				want = &st.RouteStatus
			}
			errs = append(errs, w.writeRoute(ctx, &gwv1.GRPCRoute{}, key, &rt.Status.RouteStatus, want, now,
				func(o client.Object) *gwv1.RouteStatus { return &o.(*gwv1.GRPCRoute).Status.RouteStatus }))
		}
	}
	if k.tls {
		var l gwv1.TLSRouteList
		if err := w.c.List(ctx, &l); err != nil {
			return err
		}
		for i := range l.Items {
			rt := &l.Items[i]
			key := types.NamespacedName{Namespace: rt.Namespace, Name: rt.Name}
			var want *gwv1.RouteStatus
			if st := s.TLSRoutes[key]; st != nil {
				want = &st.RouteStatus
			}
			errs = append(errs, w.writeRoute(ctx, &gwv1.TLSRoute{}, key, &rt.Status.RouteStatus, want, now,
				func(o client.Object) *gwv1.RouteStatus { return &o.(*gwv1.TLSRoute).Status.RouteStatus }))
		}
	}
	if k.tcp {
		var l gwv1.TCPRouteList
		if err := w.c.List(ctx, &l); err != nil {
			return err
		}
		for i := range l.Items {
			rt := &l.Items[i]
			key := types.NamespacedName{Namespace: rt.Namespace, Name: rt.Name}
			var want *gwv1.RouteStatus
			if st := s.TCPRoutes[key]; st != nil {
				want = &st.RouteStatus
			}
			errs = append(errs, w.writeRoute(ctx, &gwv1.TCPRoute{}, key, &rt.Status.RouteStatus, want, now,
				func(o client.Object) *gwv1.RouteStatus { return &o.(*gwv1.TCPRoute).Status.RouteStatus }))
		}
	}
	return errors.Join(errs...)
}

// writeRoute patches the status of one route of any kind.
func (w *statusWriter) writeRoute(ctx context.Context, obj client.Object, key types.NamespacedName, cached, st *gwv1.RouteStatus, now metav1.Time, status func(client.Object) *gwv1.RouteStatus) error {
	if st == nil && !hasParentOf(cached.Parents, w.controllerName) {
		return nil
	}
	return w.patch(ctx, obj, key, func(o client.Object) bool {
		cur := status(o)
		var parents []gwv1.RouteParentStatus
		for _, p := range cur.Parents {
			if string(p.ControllerName) != w.controllerName {
				parents = append(parents, p)
			}
		}
		if st != nil {
			for _, p := range st.Parents {
				p.Conditions = mergeConditions(parentConditions(cur.Parents, p.ParentRef, w.controllerName), p.Conditions, now)
				parents = append(parents, p)
			}
		}
		want := *cur
		want.Parents = parents
		return setIfChanged(cur, want)
	})
}
