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
	// routeKinds are the optional route kinds installed: the others have
	// no statuses to write.
	routeKinds kube.RouteKinds
}

// NewStatusWriter writes through c, which should read from an informer
// cache: every write lists the routes and options of the cluster.
func NewStatusWriter(c client.Client, controllerName string, routeKinds kube.RouteKinds, log *slog.Logger) *StatusWriter {
	return &StatusWriter{c: c, controllerName: controllerName, routeKinds: routeKinds, log: log, retryAfter: time.Second, wake: make(chan struct{}, 1)}
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
			var listeners []gwv1.ListenerStatus
			for _, l := range st.Listeners {
				l.Conditions = mergeConditions(listenerConditions(gw.Status.Listeners, l.Name), l.Conditions, now)
				listeners = append(listeners, l)
			}
			want.Listeners = listeners
			want.AttachedListenerSets = st.AttachedListenerSets
			return setIfChanged(&gw.Status, want)
		}))
	}
	// Routes: replace the parent entries of this controller, keep others'.
	var routes gwv1.HTTPRouteList
	if err := w.c.List(ctx, &routes); err != nil {
		return err
	}
	for i := range routes.Items {
		rt := &routes.Items[i]
		key := types.NamespacedName{Namespace: rt.Namespace, Name: rt.Name}
		st := s.HTTPRoutes[key]
		if st == nil && !hasParentOf(rt.Status.Parents, w.controllerName) {
			continue
		}
		errs = append(errs, w.patch(ctx, &gwv1.HTTPRoute{}, key, func(o client.Object) bool {
			route := o.(*gwv1.HTTPRoute)
			var parents []gwv1.RouteParentStatus
			for _, p := range route.Status.Parents {
				if string(p.ControllerName) != w.controllerName {
					parents = append(parents, p)
				}
			}
			if st != nil {
				for _, p := range st.Parents {
					p.Conditions = mergeConditions(parentConditions(route.Status.Parents, p.ParentRef, w.controllerName), p.Conditions, now)
					parents = append(parents, p)
				}
			}
			want := route.Status
			want.Parents = parents
			return setIfChanged(&route.Status, want)
		}))
	}
	errs = append(errs, w.writeListenerSets(ctx, s, now))
	errs = append(errs, w.writeRoutes(ctx, w.routeKinds, s, now))
	errs = append(errs, w.writePolicies(ctx, &optv1.VirtualHostOptionList{}, s.VirtualHostOptions, now))
	errs = append(errs, w.writePolicies(ctx, &optv1.RouteOptionList{}, s.RouteOptions, now))
	return errors.Join(errs...)
}

// writePolicies replaces the ancestor entries of this controller in the
// status of every option of a kind.
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
	}
	var errs []error
	for _, obj := range objs {
		key := client.ObjectKeyFromObject(obj)
		st := want[key]
		if st == nil && !hasAncestorOf(*policyStatus(obj), w.controllerName) {
			continue
		}
		errs = append(errs, w.patch(ctx, obj.DeepCopyObject().(client.Object), key, func(o client.Object) bool {
			cur := policyStatus(o)
			var ancestors []gwv1.PolicyAncestorStatus
			for _, a := range cur.Ancestors {
				if string(a.ControllerName) != w.controllerName {
					ancestors = append(ancestors, a)
				}
			}
			if st != nil {
				for _, a := range st.Ancestors {
					a.Conditions = mergeConditions(ancestorConditions(cur.Ancestors, a.AncestorRef, w.controllerName), a.Conditions, now)
					ancestors = append(ancestors, a)
				}
			}
			want := *cur
			want.Ancestors = ancestors
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
	}
	panic("not an option kind")
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

func listenerConditions(ls []gwv1.ListenerStatus, name gwv1.SectionName) []metav1.Condition {
	for _, l := range ls {
		if l.Name == name {
			return l.Conditions
		}
	}
	return nil
}

func parentConditions(ps []gwv1.RouteParentStatus, ref gwv1.ParentReference, controller string) []metav1.Condition {
	for _, p := range ps {
		if string(p.ControllerName) == controller && equality.Semantic.DeepEqual(p.ParentRef, ref) {
			return p.Conditions
		}
	}
	return nil
}

func ancestorConditions(as []gwv1.PolicyAncestorStatus, ref gwv1.ParentReference, controller string) []metav1.Condition {
	for _, a := range as {
		if string(a.ControllerName) == controller && equality.Semantic.DeepEqual(a.AncestorRef, ref) {
			return a.Conditions
		}
	}
	return nil
}

func hasParentOf(ps []gwv1.RouteParentStatus, controller string) bool {
	for _, p := range ps {
		if string(p.ControllerName) == controller {
			return true
		}
	}
	return false
}

func hasAncestorOf(s gwv1.PolicyStatus, controller string) bool {
	for _, a := range s.Ancestors {
		if string(a.ControllerName) == controller {
			return true
		}
	}
	return false
}
