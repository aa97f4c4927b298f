package controlplane

import (
	"context"
	"errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/source/kube"
	"github.com/gatewarden/gatewarden/translator"
)

// writeRoutes writes the statuses of the installed optional route kinds,
// replacing the parent entries of this controller and keeping others'.
func (w *StatusWriter) writeRoutes(ctx context.Context, k kube.RouteKinds, s *translator.Status, now metav1.Time) error {
	var errs []error
	if k.GRPC {
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
	if k.TLS {
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
	if k.TCP {
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
func (w *StatusWriter) writeRoute(ctx context.Context, obj client.Object, key types.NamespacedName, cached, st *gwv1.RouteStatus, now metav1.Time, status func(client.Object) *gwv1.RouteStatus) error {
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
