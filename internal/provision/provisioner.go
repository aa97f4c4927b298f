package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	gwdv1a1 "github.com/gatewarden/gatewarden/pkg/apis/gatewarden/v1alpha1"
	"github.com/gatewarden/gatewarden/translator"
)

// FieldOwner is gatewarden's server-side apply field manager.
const FieldOwner = "gatewarden"

// Options configure the provisioner.
type Options struct {
	// Manager is the Kubernetes source's manager: the provisioner shares its
	// informers and client and runs while it runs.
	Manager manager.Manager
	Log     *slog.Logger
	// ControllerName is the GatewayClass controllerName gatewarden serves.
	ControllerName string
	Config         Config
	// LeaderElection makes one replica at a time write the objects
	// (Lease LeaderElectionID in LeaderElectionNamespace); every replica
	// marks statuses.
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	LeaseDuration           time.Duration
	// Resync re-applies every Gateway's objects this often, undoing changes
	// made by hand (default 10 minutes).
	Resync time.Duration
}

// CacheByObject restricts the informers of the kinds only the provisioner
// reads (Deployments, ServiceAccounts, autoscalers, disruption budgets) to
// the objects gatewarden made: a cluster's thousands of Deployments are not
// held in memory for nothing. Give it to the manager's cache options.
func CacheByObject() map[client.Object]cache.ByObject {
	ours := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{LabelManagedBy: managedBy})}
	return map[client.Object]cache.ByObject{
		&appsv1.Deployment{}:                     ours,
		&corev1.ServiceAccount{}:                 ours,
		&autoscalingv2.HorizontalPodAutoscaler{}: ours,
		&policyv1.PodDisruptionBudget{}:          ours,
	}
}

// Provisioner creates and keeps the Envoy fleet of each Gateway.
type Provisioner struct {
	o      Options
	c      client.Client
	api    client.Reader
	scheme *runtime.Scheme
	params bool // the GatewayParameters CRD is installed
	// listenerSets: the ListenerSet CRD is installed.
	listenerSets bool

	mu    sync.Mutex
	base  *translator.Result
	offer func(*translator.Result)
}

// New makes the provisioner and adds it to o.Manager.
func New(o Options) (*Provisioner, error) {
	if o.Manager == nil || o.Log == nil {
		return nil, errors.New("provision: a manager and a logger are required")
	}
	if o.Config.XDSAddress == "" {
		return nil, errors.New("provision: the xDS address the Envoys reach gatewarden at is required")
	}
	if o.LeaderElectionID == "" {
		o.LeaderElectionID = "gatewarden-provisioner"
	}
	if o.Resync <= 0 {
		o.Resync = 10 * time.Minute
	}
	if err := gwdv1a1.AddToScheme(o.Manager.GetScheme()); err != nil {
		return nil, err
	}
	if _, err := build(&gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "b"}, Spec: gwv1.GatewaySpec{GatewayClassName: "c"}}, resolved{provision: true}, o.Config); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	p := &Provisioner{o: o, c: o.Manager.GetClient(), api: o.Manager.GetAPIReader(), scheme: o.Manager.GetScheme()}
	_, err := o.Manager.GetRESTMapper().RESTMapping(gwdv1a1.GroupVersion.WithKind(gwdv1a1.KindGatewayParameters).GroupKind(), gwdv1a1.GroupVersion.Version)
	switch {
	case err == nil:
		p.params = true
	case meta.IsNoMatchError(err):
		o.Log.Warn("the GatewayParameters CRD (gatewarden.io/v1alpha1) is not installed: parametersRefs to it are refused; install it and restart gatewarden to use them")
	default:
		return nil, fmt.Errorf("look up the GatewayParameters CRD: %w", err)
	}
	_, err = o.Manager.GetRESTMapper().RESTMapping(schema.GroupKind{Group: gwv1.GroupName, Kind: "ListenerSet"}, gwv1.GroupVersion.Version)
	switch {
	case err == nil:
		p.listenerSets = true
	case !meta.IsNoMatchError(err):
		return nil, fmt.Errorf("look up the ListenerSet CRD: %w", err)
	}
	if err := o.Manager.Add(p); err != nil {
		return nil, err
	}
	return p, nil
}

// NeedLeaderElection: the provisioner campaigns for its own Lease (the
// manager runs without one, every replica serving xDS).
func (p *Provisioner) NeedLeaderElection() bool { return false }

// Start watches for status changes on every replica and, on the elected
// one, reconciles the Gateways until ctx ends.
func (p *Provisioner) Start(ctx context.Context) error {
	if err := p.watchForStatus(ctx); err != nil {
		return err
	}
	if !p.o.LeaderElection {
		return p.lead(ctx)
	}
	return campaign(ctx, p.o, p.lead)
}

// lead runs one controller for one term of leadership (a controller cannot
// be started twice).
func (p *Provisioner) lead(ctx context.Context) error {
	p.o.Log.Info("provisioning the Envoys of the Gateways", "controller", p.o.ControllerName)
	c, err := controller.NewTypedUnmanaged[reconcile.Request]("gatewarden-provisioner", controller.TypedOptions[reconcile.Request]{
		Reconciler:              p,
		MaxConcurrentReconciles: 2,
		SkipNameValidation:      ptr.To(true),
		Logger:                  logr.FromSlogHandler(p.o.Log.Handler()),
	})
	if err != nil {
		return err
	}
	cache := p.o.Manager.GetCache()
	mapper := p.o.Manager.GetRESTMapper()
	// A Gateway's or Deployment's status changes often (gatewarden writes
	// the one, the Deployment controller the other) and changes nothing
	// here: their spec, labels and annotations do.
	specChanged := predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{})
	watches := []source.TypedSource[reconcile.Request]{
		source.Kind(cache, client.Object(&gwv1.Gateway{}), &handler.EnqueueRequestForObject{}, specChanged),
		source.Kind(cache, client.Object(&gwv1.GatewayClass{}), handler.EnqueueRequestsFromMapFunc(p.allGateways)),
		// The Secret of the xDS identity is not watched: the Pod mounts it
		// by name and starts once it exists.
		source.TypedFunc[reconcile.Request](func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
			go p.resync(ctx, q)
			return nil
		}),
	}
	if p.params {
		watches = append(watches, source.Kind(cache, client.Object(&gwdv1a1.GatewayParameters{}), handler.EnqueueRequestsFromMapFunc(p.allGateways)))
	}
	if p.listenerSets {
		// A ListenerSet's listener on a new port needs a port of the
		// Service of the Gateway it names.
		watches = append(watches, source.Kind(cache, client.Object(&gwv1.ListenerSet{}), handler.EnqueueRequestsFromMapFunc(listenerSetGateway), specChanged))
	}
	owned := handler.EnqueueRequestForOwner(p.scheme, mapper, &gwv1.Gateway{}, handler.OnlyControllerOwner())
	watches = append(watches, source.Kind(cache, client.Object(&appsv1.Deployment{}), owned, specChanged))
	for _, o := range []client.Object{&corev1.Service{}, &corev1.ServiceAccount{}, &autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{}} {
		watches = append(watches, source.Kind(cache, o, owned))
	}
	for _, w := range watches {
		if err := c.Watch(w); err != nil {
			return err
		}
	}
	return c.Start(ctx)
}

// resync enqueues every Gateway each Resync, so that objects changed by
// hand (the cache keeps no labels of ConfigMaps: their changes are not
// seen) come back to their desired state.
func (p *Provisioner) resync(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	t := time.NewTicker(p.o.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, r := range p.allGateways(ctx, nil) {
			q.Add(r)
		}
	}
}

func (p *Provisioner) allGateways(ctx context.Context, _ client.Object) []reconcile.Request {
	var l gwv1.GatewayList
	if err := p.c.List(ctx, &l); err != nil {
		p.o.Log.Error("list Gateways", "error", err)
		return nil
	}
	out := make([]reconcile.Request, 0, len(l.Items))
	for _, g := range l.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: g.Namespace, Name: g.Name}})
	}
	return out
}

// Reconcile brings the objects of one Gateway to their desired state: made
// and up to date for a Gateway of a class gatewarden controls that wants
// them, removed otherwise. Parameters that cannot be used change nothing.
func (p *Provisioner) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	gw := &gwv1.Gateway{}
	if err := p.c.Get(ctx, req.NamespacedName, gw); err != nil {
		if apierrors.IsNotFound(err) {
			// No garbage collector is needed for this: a Gateway's objects
			// are removed here, and by Kubernetes' through their owner
			// reference where one runs.
			return reconcile.Result{}, p.removeExcept(ctx, req.Namespace, req.Name, "")
		}
		return reconcile.Result{}, err
	}
	if gw.DeletionTimestamp != nil {
		return reconcile.Result{}, p.removeExcept(ctx, gw.Namespace, gw.Name, "")
	}
	gc := &gwv1.GatewayClass{}
	if err := p.c.Get(ctx, types.NamespacedName{Name: string(gw.Spec.GatewayClassName)}, gc); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, p.removeExcept(ctx, gw.Namespace, gw.Name, "")
		}
		return reconcile.Result{}, err
	}
	if string(gc.Spec.ControllerName) != p.o.ControllerName {
		return reconcile.Result{}, p.removeExcept(ctx, gw.Namespace, gw.Name, "")
	}
	res, err := p.resolve(ctx, gw, gc)
	var perr *paramsError
	if errors.As(err, &perr) {
		// Said in the Gateway's status (Mark); nothing is changed until the
		// parameters are fixed.
		p.o.Log.Warn("Gateway parameters refused: its Envoy objects are left as they are", "gateway", req.String(), "error", perr.msg)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if !res.provision {
		return reconcile.Result{}, p.removeExcept(ctx, gw.Namespace, gw.Name, "")
	}
	d, err := build(gw, res, p.o.Config)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := p.apply(ctx, gw, d); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, p.removeExcept(ctx, gw.Namespace, gw.Name, d.name, d.kept()...)
}

func (p *Provisioner) resolve(ctx context.Context, gw *gwv1.Gateway, gc *gwv1.GatewayClass) (resolved, error) {
	if !p.params && (gc.Spec.ParametersRef != nil || gw.Spec.Infrastructure != nil && gw.Spec.Infrastructure.ParametersRef != nil) {
		return resolved{}, invalid("Gateway %s/%s: its parametersRef names a GatewayParameters, whose CRD (gatewarden.io/v1alpha1) is not installed", gw.Namespace, gw.Name)
	}
	res, err := resolve(ctx, p.c, gw, gc)
	if err != nil {
		return res, err
	}
	if res.loadBalancerIP, err = p.loadBalancerIP(ctx, gw); err != nil || !p.listenerSets {
		return res, err
	}
	res.listenerSets, err = p.listenerSetsOf(ctx, gw)
	return res, err
}

// listenerSetsOf lists the ListenerSets gw takes (translator.ListenerSetRefusal),
// in the order their listeners are taken.
func (p *Provisioner) listenerSetsOf(ctx context.Context, gw *gwv1.Gateway) ([]*gwv1.ListenerSet, error) {
	var l gwv1.ListenerSetList
	if err := p.c.List(ctx, &l); err != nil {
		return nil, fmt.Errorf("list ListenerSets: %w", err)
	}
	var out []*gwv1.ListenerSet
	for i := range l.Items {
		s := &l.Items[i]
		if parent, ok := translator.ListenerSetParent(s); !ok || parent != client.ObjectKeyFromObject(gw) {
			continue
		}
		ns := &corev1.Namespace{}
		if err := p.c.Get(ctx, types.NamespacedName{Name: s.Namespace}, ns); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, err
			}
			ns = nil
		}
		if translator.ListenerSetRefusal(gw, s, ns) == "" {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, translator.ListenerSetPrecedence)
	return out, nil
}

func listenerSetGateway(_ context.Context, o client.Object) []reconcile.Request {
	s, ok := o.(*gwv1.ListenerSet)
	if !ok {
		return nil
	}
	if parent, ok := translator.ListenerSetParent(s); ok {
		return []reconcile.Request{{NamespacedName: parent}}
	}
	return nil
}

// kept are the kinds applied for this Gateway.
func (d *desired) kept() []string {
	k := []string{"ServiceAccount", "ConfigMap", "Service", "Deployment"}
	if d.hpa != nil {
		k = append(k, "HorizontalPodAutoscaler")
	}
	if d.pdb != nil {
		k = append(k, "PodDisruptionBudget")
	}
	return k
}

// apply writes the desired objects, after checking that none would take
// over an object gatewarden did not make for this Gateway.
func (p *Provisioner) apply(ctx context.Context, gw *gwv1.Gateway, d *desired) error {
	objs := []client.Object{d.serviceAccount, d.configMap, d.service, d.deployment}
	if d.hpa != nil {
		objs = append(objs, d.hpa)
	}
	if d.pdb != nil {
		objs = append(objs, d.pdb)
	}
	for _, o := range objs {
		if err := p.checkOwner(ctx, gw, o); err != nil {
			return err
		}
	}
	for _, o := range objs {
		if err := p.applyObject(ctx, o); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName(), err)
		}
	}
	p.o.Log.Debug("Gateway's Envoy objects applied", "gateway", gw.Namespace+"/"+gw.Name, "name", d.name)
	return nil
}

// checkOwner refuses to change an object of the desired name that exists
// and is not controlled by this Gateway: a Gateway must not be a way to
// rewrite a Service or Deployment someone else made in its namespace.
func (p *Provisioner) checkOwner(ctx context.Context, gw *gwv1.Gateway, want client.Object) error {
	// Read from the API server: the informers hold only what gatewarden
	// made, and the object to find is one it did not.
	have := want.DeepCopyObject().(client.Object)
	if err := p.api.Get(ctx, client.ObjectKeyFromObject(want), have); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if ref := metav1.GetControllerOf(have); ref != nil && ref.Kind == "Gateway" && ref.Name == gw.Name &&
		(ref.UID == gw.UID || have.GetLabels()[LabelManagedBy] == managedBy) {
		return nil
	}
	return reconcile.TerminalError(fmt.Errorf("%s %s/%s exists and was not made by gatewarden for Gateway %s: left unchanged, the Gateway is not provisioned",
		want.GetObjectKind().GroupVersionKind().Kind, have.GetNamespace(), have.GetName(), gw.Name))
}

// reader reads obj's kind from the informers (which hold every object
// gatewarden made), but ConfigMaps from the API server: the informers keep
// no labels or owners of ConfigMaps.
func (p *Provisioner) reader(obj runtime.Object) client.Reader {
	switch obj.(type) {
	case *corev1.ConfigMap, *corev1.ConfigMapList:
		return p.api
	}
	return p.c
}

// applyObject server-side applies obj as gatewarden, taking over fields
// others changed: the desired state is gatewarden's to keep.
func (p *Provisioner) applyObject(ctx context.Context, obj client.Object) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "spec", "template", "metadata", "creationTimestamp")
	return p.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u}), client.FieldOwner(FieldOwner), client.ForceOwnership)
}

// provisionedKinds are the kinds gatewarden may make for a Gateway.
var provisionedKinds = []struct {
	kind string
	list client.ObjectList
}{
	{"PodDisruptionBudget", &policyv1.PodDisruptionBudgetList{}},
	{"HorizontalPodAutoscaler", &autoscalingv2.HorizontalPodAutoscalerList{}},
	{"Deployment", &appsv1.DeploymentList{}},
	{"Service", &corev1.ServiceList{}},
	{"ConfigMap", &corev1.ConfigMapList{}},
	{"ServiceAccount", &corev1.ServiceAccountList{}},
}

// removeExcept deletes the objects gatewarden made for Gateway ns/gateway,
// except those named keep of the kinds keepKinds (the current ones): what
// a deleted Gateway, a Gateway of another class or one that opted out
// leaves, and the objects of a former class or of parameters no longer set.
func (p *Provisioner) removeExcept(ctx context.Context, ns, gateway, keep string, keepKinds ...string) error {
	var errs []error
	for _, k := range provisionedKinds {
		list := k.list.DeepCopyObject().(client.ObjectList)
		if err := p.reader(list).List(ctx, list, client.InNamespace(ns), client.MatchingLabels{LabelGatewayName: labelValue(gateway), LabelManagedBy: managedBy}); err != nil {
			errs = append(errs, fmt.Errorf("list %ss of Gateway %s/%s: %w", k.kind, ns, gateway, err))
			continue
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, it := range items {
			o := it.(client.Object)
			ref := metav1.GetControllerOf(o)
			if ref == nil || ref.Kind != "Gateway" || ref.Name != gateway {
				continue
			}
			if o.GetName() == keep && contains(keepKinds, k.kind) {
				continue
			}
			err := p.c.Delete(ctx, o, client.PropagationPolicy(metav1.DeletePropagationBackground))
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete %s %s/%s: %w", k.kind, ns, o.GetName(), err))
				continue
			}
			p.o.Log.Info("removed an Envoy object of a Gateway", "kind", k.kind, "name", ns+"/"+o.GetName(), "gateway", gateway)
		}
	}
	return errors.Join(errs...)
}
