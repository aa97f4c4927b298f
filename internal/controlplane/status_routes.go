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

// writeRoutes writes the statuses of the installed route kinds, replacing
// the parent entries of this controller and keeping others'.
func (w *StatusWriter) writeRoutes(ctx context.Context, k kube.RouteKinds, s *translator.Status, now metav1.Time) error {
	var errs []error
	for _, kind := range k {
		list := kind.NewList()
		if err := w.c.List(ctx, list); err != nil {
			return fmt.Errorf("list %ss: %w", kind.Kind, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return fmt.Errorf("list %ss: %w", kind.Kind, err)
		}
		status := func(o client.Object) *gwv1.RouteStatus { return kind.Status(o) }
		for _, it := range items {
			o, ok := it.(client.Object)
			if !ok {
				return fmt.Errorf("status of %T: not an object", it)
			}
			key := client.ObjectKeyFromObject(o)
			errs = append(errs, w.writeRoute(ctx, kind.New(), key, status(o), s.RouteStatus(kind.Kind, key), now, status))
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
