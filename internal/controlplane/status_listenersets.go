package controlplane

import (
	"context"
	"errors"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/translator"
)

// writeListenerSets writes the status of every ListenerSet whose parentRef
// names a Gateway of ours. A ListenerSet's status, like a Gateway's, has no
// controller name: it is its Gateway's controller's alone.
func (w *StatusWriter) writeListenerSets(ctx context.Context, s *translator.Status, now metav1.Time) error {
	if !w.installed.ListenerSet {
		return nil
	}
	var errs []error
	for key, st := range s.ListenerSets {
		errs = append(errs, w.patch(ctx, &gwv1.ListenerSet{}, key, func(o client.Object) bool {
			ls := o.(*gwv1.ListenerSet)
			want := ls.Status
			want.Conditions = mergeConditions(ls.Status.Conditions, st.Conditions, now)
			want.Listeners = mergeListeners(ls.Status.Listeners, st.Listeners, listenerSetEntryKey, now)
			return setIfChanged(&ls.Status, want)
		}))
	}
	return errors.Join(errs...)
}
