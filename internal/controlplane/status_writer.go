package controlplane

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
	"github.com/gatewarden/gatewarden/pkg/source/kube"
	"github.com/gatewarden/gatewarden/translator"
)

// StatusWriter writes translation statuses back to the API server, on the
// elected replica only (it is started while the replica holds the status
// Lease). It writes an object only when what gatewarden says about it
// changed, so a steady state makes no writes, and it keeps condition
// transition times when a condition's status did not change.
type StatusWriter struct {
	c              client.Client
	controllerName string
	log            *slog.Logger
	// retryAfter is how long a failed write waits before the latest
	// statuses are written again.
	retryAfter time.Duration

	mu     sync.Mutex
	latest *translator.Result
	wake   chan struct{}
	// installed are the route kinds and policy kinds installed: the
	// others have no statuses to write.
	installed kube.Installed
}

// NewStatusWriter writes through c, which should read from an informer
// cache: every write lists the routes and options of the cluster.
func NewStatusWriter(c client.Client, controllerName string, installed kube.Installed, log *slog.Logger) *StatusWriter {
	return &StatusWriter{c: c, controllerName: controllerName, installed: installed, log: log, retryAfter: time.Second, wake: make(chan struct{}, 1)}
}

// Offer hands the writer the statuses to write: a new translation's, or the
// last one's re-marked after an Envoy rejected a Gateway's configuration.
// Only the latest offered is written.
func (w *StatusWriter) Offer(r *translator.Result) {
	w.mu.Lock()
	w.latest = r
	w.mu.Unlock()
	w.poke()
}

func (w *StatusWriter) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Start writes the latest statuses whenever there are new ones, until ctx
// ends (the replica lost the Lease, or stops).
func (w *StatusWriter) Start(ctx context.Context) error {
	w.log.Info("elected to write status")
	w.poke() // write the latest translation at once
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		}
		w.mu.Lock()
		r := w.latest
		w.mu.Unlock()
		if r == nil {
			continue
		}
		if err := w.write(ctx, r); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.log.Warn("writing status; will retry", "error", err)
			time.AfterFunc(w.retryAfter, w.poke)
		}
	}
}

func (w *StatusWriter) write(ctx context.Context, r *translator.Result) error {
	now := metav1.Now()
	var errs []error
	s := r.Status
	for name, st := range s.GatewayClasses {
		errs = append(errs, w.patch(ctx, &gwv1.GatewayClass{}, types.NamespacedName{Name: name}, func(o client.Object) bool {
			gc := o.(*gwv1.GatewayClass)
			want := gc.Status
			want.Conditions = mergeConditions(gc.Status.Conditions, st.Conditions, now)
			want.SupportedFeatures = st.SupportedFeatures
			return setIfChanged(&gc.Status, want)
		}))
	}
	for key, st := range s.Gateways {
		errs = append(errs, w.patch(ctx, &gwv1.Gateway{}, key, func(o client.Object) bool {
			gw := o.(*gwv1.Gateway)
			want := gw.Status
			if st.Addresses != nil {
				want.Addresses = st.Addresses
			}
			want.Conditions = mergeConditions(gw.Status.Conditions, st.Conditions, now)
			want.Listeners = mergeListeners(gw.Status.Listeners, st.Listeners, gatewayListenerKey, now)
			want.AttachedListenerSets = st.AttachedListenerSets
			return setIfChanged(&gw.Status, want)
		}))
	}
	// Routes: replace the parent entries of this controller, keep others'.
	errs = append(errs, w.writeListenerSets(ctx, s, now))
	errs = append(errs, w.writeRoutes(ctx, w.installed.RouteKinds, s, now))
	errs = append(errs, w.writePolicies(ctx, &optv1.VirtualHostOptionList{}, s.VirtualHostOptions, now))
	errs = append(errs, w.writePolicies(ctx, &optv1.RouteOptionList{}, s.RouteOptions, now))
	if w.installed.BackendTLSPolicy {
		errs = append(errs, w.writePolicies(ctx, &gwv1.BackendTLSPolicyList{}, s.BackendTLSPolicies, now))
	}
	return errors.Join(errs...)
}

// writePolicies replaces the ancestor entries of this controller in the
// status of every policy of a kind (an option kind, BackendTLSPolicy).
func (w *StatusWriter) writePolicies(ctx context.Context, list client.ObjectList, want map[types.NamespacedName]*gwv1.PolicyStatus, now metav1.Time) error {
	if err := w.c.List(ctx, list); err != nil {
		return err
	}
	var objs []client.Object
	switch l := list.(type) {
	case *optv1.VirtualHostOptionList:
		for i := range l.Items {
			objs = append(objs, &l.Items[i])
		}
	case *optv1.RouteOptionList:
		for i := range l.Items {
			objs = append(objs, &l.Items[i])
		}
	case *gwv1.BackendTLSPolicyList:
		for i := range l.Items {
			objs = append(objs, &l.Items[i])
		}
	}
	var errs []error
	for _, obj := range objs {
		key := client.ObjectKeyFromObject(obj)
		st := want[key]
		var ours []gwv1.PolicyAncestorStatus
		if st != nil {
			ours = st.Ancestors
		}
		if st == nil && !hasEntryOf(policyStatus(obj).Ancestors, w.controllerName, ancestorKey) {
			continue
		}
		errs = append(errs, w.patch(ctx, obj.DeepCopyObject().(client.Object), key, func(o client.Object) bool {
			cur := policyStatus(o)
			want := *cur
			want.Ancestors = mergeEntries(cur.Ancestors, ours, w.controllerName, now, ancestorKey)
			return setIfChanged(cur, want)
		}))
	}
	return errors.Join(errs...)
}

func policyStatus(o client.Object) *gwv1.PolicyStatus {
	switch v := o.(type) {
	case *optv1.VirtualHostOption:
		return &v.Status
	case *optv1.RouteOption:
		return &v.Status
	case *gwv1.BackendTLSPolicy:
		return &v.Status
	}
	panic("not a policy kind")
}

// patch reads obj from the cache, lets mutate change its status, and sends
// a status patch (guarded by resourceVersion) when it did.
func (w *StatusWriter) patch(ctx context.Context, obj client.Object, key types.NamespacedName, mutate func(client.Object) bool) error {
	if err := w.c.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	orig := obj.DeepCopyObject().(client.Object)
	if !mutate(obj) {
		return nil
	}
	if err := w.c.Status().Patch(ctx, obj, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	w.log.Debug("status written", "kind", obj.GetObjectKind().GroupVersionKind().Kind, "name", key.String())
	return nil
}

// setIfChanged sets *dst to want and reports whether it differed.
func setIfChanged[T any](dst *T, want T) bool {
	if equality.Semantic.DeepEqual(*dst, want) {
		return false
	}
	*dst = want
	return true
}

// mergeConditions returns want with the transition time of each condition
// kept from have when its status did not change, and now otherwise.
func mergeConditions(have, want []metav1.Condition, now metav1.Time) []metav1.Condition {
	out := make([]metav1.Condition, 0, len(want))
	for _, c := range want {
		c.LastTransitionTime = now
		for _, h := range have {
			if h.Type == c.Type && h.Status == c.Status {
				c.LastTransitionTime = h.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	return out
}

// listenerKey is the name and conditions of a listener's status: a
// Gateway's (gatewayListenerKey) or a ListenerSet's (listenerSetEntryKey).
type listenerKey[L any] func(*L) (gwv1.SectionName, *[]metav1.Condition)

func gatewayListenerKey(l *gwv1.ListenerStatus) (gwv1.SectionName, *[]metav1.Condition) {
	return l.Name, &l.Conditions
}

func listenerSetEntryKey(l *gwv1.ListenerEntryStatus) (gwv1.SectionName, *[]metav1.Condition) {
	return l.Name, &l.Conditions
}

// mergeListeners returns want's listener statuses, each with the transition
// times of the conditions have already carries for the listener of its name.
func mergeListeners[L any](have, want []L, key listenerKey[L], now metav1.Time) []L {
	var out []L
	for _, l := range want {
		name, conds := key(&l)
		var old []metav1.Condition
		for i := range have {
			if n, c := key(&have[i]); n == name {
				old = *c
				break
			}
		}
		*conds = mergeConditions(old, *conds, now)
		out = append(out, l)
	}
	return out
}

// entryKey is what says whose an entry of a status is and what it is
// about: the controller name and parent reference of a RouteParentStatus
// (parentKey) or of a PolicyAncestorStatus (ancestorKey), and its conditions.
type entryKey[E any] func(*E) (controller string, ref gwv1.ParentReference, conditions *[]metav1.Condition)

func parentKey(p *gwv1.RouteParentStatus) (string, gwv1.ParentReference, *[]metav1.Condition) {
	return string(p.ControllerName), p.ParentRef, &p.Conditions
}

func ancestorKey(a *gwv1.PolicyAncestorStatus) (string, gwv1.ParentReference, *[]metav1.Condition) {
	return string(a.ControllerName), a.AncestorRef, &a.Conditions
}

// mergeEntries returns the entries of cur other controllers wrote, then
// ours (those of controller), each with the transition times of the
// conditions its entry in cur had kept (mergeConditions).
func mergeEntries[E any](cur, ours []E, controller string, now metav1.Time, key entryKey[E]) []E {
	var out []E
	for _, e := range cur {
		if c, _, _ := key(&e); c != controller {
			out = append(out, e)
		}
	}
	for _, e := range ours {
		_, ref, conds := key(&e)
		var had []metav1.Condition
		for _, h := range cur {
			if hc, href, hconds := key(&h); hc == controller && equality.Semantic.DeepEqual(href, ref) {
				had = *hconds
				break
			}
		}
		*conds = mergeConditions(had, *conds, now)
		out = append(out, e)
	}
	return out
}

// hasEntryOf reports whether an entry of es is controller's.
func hasEntryOf[E any](es []E, controller string, key entryKey[E]) bool {
	for _, e := range es {
		if c, _, _ := key(&e); c == controller {
			return true
		}
	}
	return false
}
