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
