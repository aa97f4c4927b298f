package controlplane

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/source/kube"
	"github.com/gatewarden/gatewarden/translator"
)

// routeKindStatus says how to read and write the status of one optional
// route kind.
type routeKindStatus struct {
	list   client.ObjectList
	newObj func() client.Object
	status func(client.Object) *gwv1.RouteStatus
	want   func(types.NamespacedName) *gwv1.RouteStatus
}

// routeKind builds a routeKindStatus for routes of type R, whose statuses
// are in want.
func routeKind[R any, PR interface {
	*R
	client.Object
}, S any](list client.ObjectList, status func(PR) *gwv1.RouteStatus, want map[types.NamespacedName]*S, wantStatus func(*S) *gwv1.RouteStatus) routeKindStatus {
	return routeKindStatus{
		list:   list,
		newObj: func() client.Object { return PR(new(R)) },
		status: func(o client.Object) *gwv1.RouteStatus { return status(o.(PR)) },
		want: func(key types.NamespacedName) *gwv1.RouteStatus {
			if st := want[key]; st != nil {
				return wantStatus(st)
			}
			return nil
		},
	}
}

// writeRoutes writes the statuses of HTTPRoutes and of the installed
// optional route kinds,
// replacing the parent entries of this controller and keeping others'.
func (w *StatusWriter) writeRoutes(ctx context.Context, k kube.RouteKinds, s *translator.Status, now metav1.Time) error {
	kinds := []routeKindStatus{routeKind(&gwv1.HTTPRouteList{},
		func(r *gwv1.HTTPRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus },
		s.HTTPRoutes, func(st *gwv1.HTTPRouteStatus) *gwv1.RouteStatus { return &st.RouteStatus })}
	if k.GRPC {
		kinds = append(kinds, routeKind(&gwv1.GRPCRouteList{},
			func(r *gwv1.GRPCRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus },
			s.GRPCRoutes, func(st *gwv1.GRPCRouteStatus) *gwv1.RouteStatus { return &st.RouteStatus }))
	}
	if k.TLS {
		kinds = append(kinds, routeKind(&gwv1.TLSRouteList{},
			func(r *gwv1.TLSRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus },
			s.TLSRoutes, func(st *gwv1.TLSRouteStatus) *gwv1.RouteStatus { return &st.RouteStatus }))
	}
	if k.TCP {
		kinds = append(kinds, routeKind(&gwv1.TCPRouteList{},
			func(r *gwv1.TCPRoute) *gwv1.RouteStatus { return &r.Status.RouteStatus },
			s.TCPRoutes, func(st *gwv1.TCPRouteStatus) *gwv1.RouteStatus { return &st.RouteStatus }))
	}
	var errs []error
	for _, kind := range kinds {
		if err := w.c.List(ctx, kind.list); err != nil {
			return err
		}
		items, err := meta.ExtractList(kind.list)
		if err != nil {
			return err
		}
		for _, it := range items {
			o, ok := it.(client.Object)
			if !ok {
				return fmt.Errorf("status of %T: not an object", it)
			}
			key := client.ObjectKeyFromObject(o)
			errs = append(errs, w.writeRoute(ctx, kind.newObj(), key, kind.status(o), kind.want(key), now, kind.status))
		}
	}
	return errors.Join(errs...)
}

// writeRoute patches the status of one route of any kind.
func (w *StatusWriter) writeRoute(ctx context.Context, obj client.Object, key types.NamespacedName, cached, st *gwv1.RouteStatus, now metav1.Time, status func(client.Object) *gwv1.RouteStatus) error {
	if st == nil && !hasEntryOf(cached.Parents, w.controllerName, parentKey) {
		return nil
	}
	var ours []gwv1.RouteParentStatus
	if st != nil {
		ours = st.Parents
	}
	return w.patch(ctx, obj, key, func(o client.Object) bool {
		cur := status(o)
		want := *cur
		want.Parents = mergeEntries(cur.Parents, ours, w.controllerName, now, parentKey)
		return setIfChanged(cur, want)
	})
}
