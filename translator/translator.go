// Package translator turns Resources into the Envoy configuration of each
// Gateway and the status of every input object. Translate is a pure function:
// no context, client, clock, file or logger. A user's mistake becomes a status
// condition, never a panic, an error return or a silently dropped object, and
// a policy that cannot be translated never leaves its routes open.
package translator

import (
	"cmp"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// DefaultControllerName is the GatewayClass controllerName gatewarden serves.
const DefaultControllerName = "gatewarden.io/gatewarden"

// Options tune a translation.
type Options struct {
	// ControllerName selects the GatewayClasses this translation owns.
	ControllerName string
	// GatewayAddresses are where the Envoys serving the Gateways are
	// reached (an IP address or a host name each), published in the
	// status.addresses of each Gateway without a labelled Service
	// (addresses.go).
	GatewayAddresses []string
	// BindGatewayAddress makes each Gateway's listeners bind to the first
	// IP address published for it instead of 0.0.0.0: for Envoys that share
	// one host, each Gateway with its own address on it.
	BindGatewayAddress bool
	// ScopedRoutesMinHosts is the number of virtual hosts on a port from
	// which, when every hostname is exact, the port's routes are served as
	// one route configuration per hostname (Envoy's scoped RDS), so that a
	// change to one route does not resend and rebuild all of them. Zero
	// (or less) keeps one route configuration per port. The commands use
	// DefaultScopedRoutesMinHosts.
	ScopedRoutesMinHosts int
	// AllowLoopbackBackends lets routes and JWKS fetches reach loopback
	// endpoints (127.0.0.0/8, ::1, localhost): for directory mode, where
	// local development serves backends on the loopback. Link-local and
	// unspecified addresses are refused whatever it says (backendaddr.go).
	AllowLoopbackBackends bool
	// ExperimentalChannel says the source keeps the fields of the Gateway
	// API's experimental channel (in Kubernetes mode: its CRDs are
	// installed). The features that need such a field (ExperimentalFeatures)
	// are declared in the GatewayClass status with it only: with the
	// standard CRDs the API server drops the field, and a declared feature
	// would be a promise gatewarden cannot keep.
	ExperimentalChannel bool
	// Provisioning says gatewarden provisions each Gateway's Envoys
	// (serve --provision): the features of Gateway.spec.infrastructure
	// (ProvisioningFeatures) are declared with it only.
	Provisioning bool
}

func (o Options) withDefaults() Options {
	if o.ControllerName == "" {
		o.ControllerName = DefaultControllerName
	}
	return o
}

// Result is the output of one translation.
type Result struct {
	// Gateways holds the Envoy configuration of every Gateway of an accepted
	// GatewayClass, sorted by namespace and name.
	Gateways []*xdsconfig.GatewayConfig
	// Status of every input object gatewarden has something to say about.
	Status *Status
}

// Gateway returns the configuration of the Gateway namespace/name, or nil.
func (r *Result) Gateway(key string) *xdsconfig.GatewayConfig {
	for _, g := range r.Gateways {
		if g.Key() == key {
			return g
		}
	}
	return nil
}

// Translate builds the Envoy configuration and statuses for in.
func Translate(in *resource.Resources, opts Options) *Result {
	t := newTranslation(in, opts.withDefaults())
	t.acceptClasses()
	t.checkRouteOptions()
	gateways := t.gateways()
	routes := t.attachRoutes(gateways)
	t.attachOptions(gateways, routes)
	t.finishListenerSets(gateways)
	out := &Result{Status: t.status}
	for _, gw := range gateways {
		out.Gateways = append(out.Gateways, t.buildGateway(gw))
	}
	t.finishOptionStatus()
	t.finishBackendTLSStatus()
	t.status.share()
	return out
}

// translation is the working state of one Translate call.
type translation struct {
	opts   Options
	in     *resource.Resources
	status *Status
	index  index
	// routeOpts holds every RouteOption, checked once.
	routeOpts map[types.NamespacedName]*routePolicy
	// optConds collects option conditions per ancestor until the end.
	optConds map[optionKey]map[string]*optionCond
	// memo holds what is computed once per translation (memo.go).
	memo memos
	// tlsChecked holds each BackendTLSPolicy checked once, and tlsUses the
	// Gateways whose backends it applies to (backendtls_status.go).
	tlsChecked map[*gwv1.BackendTLSPolicy]*checkedTLS
	tlsUses    map[*gwv1.BackendTLSPolicy]map[types.NamespacedName][]tlsTarget
	// addrs indexes Services and Gateways by address (addresses.go).
	addrs *addressIndex
}

func newTranslation(in *resource.Resources, opts Options) *translation {
	return &translation{opts: opts, in: in, status: newStatusFor(in), index: newIndex(in),
		optConds: make(map[optionKey]map[string]*optionCond, len(in.RouteOptions)+len(in.VirtualHostOptions))}
}

func nn(namespace, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: name}
}

func sortByName[T any](s []T, name func(T) string) {
	slices.SortFunc(s, func(a, b T) int { return cmp.Compare(name(a), name(b)) })
}
