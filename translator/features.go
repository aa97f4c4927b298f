package translator

import (
	"slices"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// SupportedFeatures are the Gateway API features gatewarden implements, by
// their conformance names. Each is exercised by the upstream conformance
// suite (e2e/conformance), which reads them from the GatewayClass status.
// Each route kind of resource.RouteKinds is the core feature of its name.
var SupportedFeatures = append(routeKindNames(),
	"Gateway",
	"ReferenceGrant",
	// Extended.
	"BackendTLSPolicy",
	"BackendTLSPolicySANValidation",
	"GatewayAddressEmpty",
	"GatewayBackendClientCertificate",
	"GatewayFrontendClientCertificateValidation",
	"GatewayHTTPListenerIsolation",
	"GatewayPort8080",
	"GRPCRouteNamedRouteRule",
	"HTTPRoute303RedirectStatusCode",
	"HTTPRoute307RedirectStatusCode",
	"HTTPRoute308RedirectStatusCode",
	"HTTPRouteBackendProtocolH2C",
	"HTTPRouteBackendProtocolWebSocket",
	"HTTPRouteBackendRequestHeaderModification",
	"HTTPRouteBackendTimeout",
	"HTTPRouteCORS",
	"HTTPRouteDestinationPortMatching",
	"HTTPRouteHostRewrite",
	"HTTPRouteMethodMatching",
	"HTTPRouteNamedRouteRule",
	"HTTPRouteParentRefPort",
	"HTTPRoutePathRedirect",
	"HTTPRoutePathRewrite",
	"HTTPRoutePortRedirect",
	"HTTPRouteQueryParamMatching",
	"HTTPRouteRequestMirror",
	"HTTPRouteRequestMultipleMirrors",
	"HTTPRouteRequestPercentageMirror",
	"HTTPRouteRequestTimeout",
	"HTTPRouteResponseHeaderModification",
	"HTTPRouteSchemeRedirect",
	"ListenerSet",
	"TLSRouteModeMixed",
	"TLSRouteModeTerminate",
)

func routeKindNames() []string {
	var out []string
	for _, k := range resource.RouteKinds {
		out = append(out, k.Kind)
	}
	return out
}

// ExperimentalFeatures are the features gatewarden implements whose fields
// only the Gateway API's experimental channel has (HTTPRouteRule.retry):
// declared when Options.ExperimentalChannel says that channel is in use.
var ExperimentalFeatures = []string{
	"HTTPRouteRetry",
	"HTTPRouteRetryBackendTimeout",
	"HTTPRouteRetryConnectionError",
}

// ProvisioningFeatures are the features gatewarden implements when it
// provisions each Gateway's Envoys (Options.Provisioning): then
// spec.infrastructure's labels and annotations reach the objects it creates
// and its parametersRef is checked, and a requested address is asked of the
// load balancer through the Service it creates (addresses.go).
var ProvisioningFeatures = []string{
	"GatewayInfrastructure",
	"GatewayStaticAddresses",
}

func supportedFeatures(o Options) []gwv1.SupportedFeature {
	names := slices.Clone(SupportedFeatures)
	if o.ExperimentalChannel {
		names = append(names, ExperimentalFeatures...)
	}
	if o.Provisioning {
		names = append(names, ProvisioningFeatures...)
	}
	slices.Sort(names)
	out := make([]gwv1.SupportedFeature, len(names))
	for i, n := range names {
		out[i] = gwv1.SupportedFeature{Name: gwv1.FeatureName(n)}
	}
	return out
}
