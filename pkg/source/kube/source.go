package kube

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
	"github.com/gatewarden/gatewarden/pkg/debounce"
	"github.com/gatewarden/gatewarden/pkg/resource"
)

// Options configure the Kubernetes source.
type Options struct {
	Config *rest.Config
	Log    *slog.Logger
	// ControllerName is the GatewayClass controllerName gatewarden serves;
	// status entries it writes carry it.
	ControllerName string
	// Debounce is how long the informers must be quiet before the resources
	// are handed on again (debounce.DefaultQuiet when zero); MaxDelay bounds
	// the wait during a steady stream of changes (debounce.DefaultMaxDelay
	// when zero).
	Debounce, MaxDelay time.Duration
	// LeaderElection elects one replica to write status. Every replica
	// translates and serves xDS from its own informers regardless.
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	// LeaseDuration and RenewDeadline tune how fast a lost leader is
	// replaced; zero keeps controller-runtime's defaults.
	LeaseDuration, RenewDeadline time.Duration
	// CacheByObject adds per-kind informer settings (a label selector for
	// kinds only another component reads, say) to the source's own.
	CacheByObject map[client.Object]cache.ByObject
	// OnResources receives every watched object after each quiet period,
	// from one goroutine.
	OnResources func(context.Context, *resource.Resources)
	// OnElected runs while this replica holds the status-writing Lease (at
	// once, without leader election) and must return when its context
	// ends: the control plane's status writer, reading through Client.
	OnElected func(context.Context) error
}

// Source watches the API server and feeds OnResources.
type Source struct {
	o       Options
	mgr     manager.Manager
	changes *debounce.Debouncer
	// backendTLS and listenerSet are whether the BackendTLSPolicy and
	// ListenerSet CRDs are installed.
	backendTLS, listenerSet bool
	// routeKinds are the route kinds installed (the optional ones of
	// resource.RouteKinds only where their CRD is).
	routeKinds RouteKinds
	// channel is the Gateway API channel of the installed CRDs.
	channel string
}

type watchedKind struct {
	obj             client.Object
	statusOnlyNoise bool
}

// watched lists every kind the source reads but routes (RouteKinds), with
// whether its updates that change only status can be ignored (kinds with a
// status subresource).
var watched = []watchedKind{
	{&gwv1.GatewayClass{}, true},
	{&gwv1.Gateway{}, true},
	{&gwv1beta1.ReferenceGrant{}, false},
	{&corev1.Service{}, false},
	{&discoveryv1.EndpointSlice{}, false},
	{&corev1.Secret{}, false},
	{&corev1.ConfigMap{}, false},
	{&corev1.Namespace{}, true},
	{&optv1.VirtualHostOption{}, true},
	{&optv1.RouteOption{}, true},
}

// New builds the manager and registers the informers.
func New(o Options) (*Source, error) {
	if o.LeaderElectionID == "" {
		o.LeaderElectionID = "gatewarden-status-writer"
	}
	log := logr.FromSlogHandler(o.Log.Handler())
	ctrl.SetLogger(log)
	mopts := manager.Options{
		Scheme:                 NewScheme(),
		Logger:                 log,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ByObject: cacheByObject()},
	}
	maps.Copy(mopts.Cache.ByObject, o.CacheByObject)
	mgr, err := ctrl.NewManager(o.Config, mopts)
	if err != nil {
		return nil, fmt.Errorf("kubernetes manager: %w", err)
	}
	s := &Source{o: o, mgr: mgr, changes: debounce.New(o.Debounce, o.MaxDelay)}
	s.backendTLS, err = installed(mgr.GetRESTMapper(), backendTLSPolicyKind, gwv1.GroupVersion.Version)
	if err != nil {
		return nil, fmt.Errorf("look up the BackendTLSPolicy CRD: %w", err)
	}
	s.listenerSet, err = installed(mgr.GetRESTMapper(), listenerSetKind, gwv1.GroupVersion.Version)
	if err != nil {
		return nil, fmt.Errorf("look up the ListenerSet CRD: %w", err)
	}
	if s.channel, err = detectChannel(context.Background(), mgr.GetAPIReader(), o.Log); err != nil {
		return nil, err
	}
	all := watched
	if s.backendTLS {
		all = append(slices.Clone(watched), watchedKind{&gwv1.BackendTLSPolicy{}, true})
	} else {
		o.Log.Warn("the BackendTLSPolicy CRD (gateway.networking.k8s.io/v1) is not installed: BackendTLSPolicies are not read (route backends are reached without TLS, https JWKS servers are checked against the system's authorities); install the CRD and restart gatewarden to use them")
	}
	if s.listenerSet {
		all = append(slices.Clone(all), watchedKind{&gwv1.ListenerSet{}, true})
	} else {
		o.Log.Warn("the ListenerSet CRD (gateway.networking.k8s.io/v1) is not installed: ListenerSets are not read; install the CRD and restart gatewarden to use them")
	}
	var routeWatches []watchedKind
	s.routeKinds, routeWatches, err = detectRouteKinds(mgr.GetRESTMapper())
	if err != nil {
		return nil, err
	}
	if missing := s.routeKinds.missing(); len(missing) > 0 {
		o.Log.Warn("kinds whose CRD (gateway.networking.k8s.io/v1) is not installed are not read; install the CRDs and restart gatewarden to use them", "kinds", missing)
	}
	all = append(slices.Clone(all), routeWatches...)
	for _, w := range all {
		inf, err := mgr.GetCache().GetInformer(context.Background(), w.obj)
		if err != nil {
			return nil, fmt.Errorf("informer for %T: %w", w.obj, err)
		}
		noise := w.statusOnlyNoise
		_, isCM := w.obj.(*corev1.ConfigMap)
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) {
				if !isCM || hasCA(obj) {
					s.trigger()
				}
			},
			UpdateFunc: func(oldObj, newObj any) {
				if noise && statusOnly(oldObj, newObj) || isCM && !caChanged(oldObj, newObj) {
					return
				}
				s.trigger()
			},
			DeleteFunc: func(obj any) {
				if !isCM || hasCA(obj) {
					s.trigger()
				}
			},
		}); err != nil {
			return nil, err
		}
	}
	// Every replica translates and serves; only status writing is elected.
	if err := mgr.Add(everyReplica(s.translateLoop)); err != nil {
		return nil, err
	}
	if err := mgr.Add(&statusLeader{cfg: o.Config, o: o}); err != nil {
		return nil, err
	}
	return s, nil
}

// statusOnly reports an update that changed neither spec (generation) nor
// labels or annotations: typically a status write, gatewarden's own included.
func statusOnly(oldObj, newObj any) bool {
	o, ok1 := oldObj.(client.Object)
	n, ok2 := newObj.(client.Object)
	if !ok1 || !ok2 {
		return false
	}
	return o.GetGeneration() == n.GetGeneration() &&
		equality.Semantic.DeepEqual(o.GetLabels(), n.GetLabels()) &&
		equality.Semantic.DeepEqual(o.GetAnnotations(), n.GetAnnotations()) &&
		o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp())
}

func (s *Source) trigger() { s.changes.Notify() }

// Run starts the informers, the loop that hands their objects on and (when
// elected) OnElected, until ctx ends.
func (s *Source) Run(ctx context.Context) error {
	return s.mgr.Start(ctx)
}

// Client reads from the informers' cache and writes to the API server.
func (s *Source) Client() client.Client { return s.mgr.GetClient() }

// translateLoop lists everything after each quiet period and hands it on.
func (s *Source) translateLoop(ctx context.Context) error {
	if !s.mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("informer caches did not sync")
	}
	s.trigger()
	s.changes.Run(ctx, func() {
		res, err := s.list(ctx)
		if err != nil {
			s.o.Log.Error("list resources from the cache", "error", err)
			return
		}
		s.o.OnResources(ctx, res)
	})
	return nil
}

// list reads every watched kind from the informer cache.
func (s *Source) list(ctx context.Context) (*resource.Resources, error) {
	c := s.mgr.GetCache()
	res := &resource.Resources{}
	var (
		classes  gwv1.GatewayClassList
		gateways gwv1.GatewayList
		grants   gwv1beta1.ReferenceGrantList
		services corev1.ServiceList
		slices   discoveryv1.EndpointSliceList
		secrets  corev1.SecretList
		cms      corev1.ConfigMapList
		nss      corev1.NamespaceList
		vhos     optv1.VirtualHostOptionList
		ros      optv1.RouteOptionList
	)
	for _, l := range []client.ObjectList{&classes, &gateways, &grants, &services, &slices, &secrets, &cms, &nss, &vhos, &ros} {
		if err := c.List(ctx, l); err != nil {
			return nil, fmt.Errorf("list %T: %w", l, err)
		}
	}
	res.GatewayClasses = pointers(classes.Items)
	res.Gateways = pointers(gateways.Items)
	res.ReferenceGrants = pointers(grants.Items)
	res.Services = pointers(services.Items)
	res.EndpointSlices = pointers(slices.Items)
	res.Secrets = pointers(secrets.Items)
	res.ConfigMaps = pointers(cms.Items)
	if err := s.routeKinds.list(ctx, c, res); err != nil {
		return nil, err
	}
	if err := s.listOptional(ctx, res); err != nil {
		return nil, fmt.Errorf("list BackendTLSPolicies: %w", err)
	}
	res.Namespaces = pointers(nss.Items)
	res.VirtualHostOptions = pointers(vhos.Items)
	res.RouteOptions = pointers(ros.Items)
	res.Sort()
	return res, nil
}

// pointers points at each item of a list.
func pointers[T any](items []T) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
}

// everyReplica is a runnable that runs whether or not this replica leads
// (controller-runtime runs a runnable on the leader only unless it says so).
type everyReplica func(context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (everyReplica) NeedLeaderElection() bool          { return false }
