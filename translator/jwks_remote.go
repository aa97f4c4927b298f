package translator

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	caresv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/network/dns_resolver/cares/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	corev1 "k8s.io/api/core/v1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// Remote JWKS: keys fetched by Envoy from an identity provider.
//
// The JWKS server is always named by jwks.remote.upstreamRef, a Service: a
// ClusterIP Service of the cluster, or an ExternalName Service for an
// identity provider outside it (Keycloak, Auth0, Okta, Entra ID, Google...),
// which Envoy resolves by DNS. upstreamRef may not be omitted: a cluster
// derived from the URL's host alone would let an option name any host,
// "admin.infra.svc.cluster.local" included, past the ReferenceGrants and
// address checks that guard a Service reference. An ExternalName Service in
// the option's namespace is the Kubernetes way to name an outside host.
//
// gatewarden's fetch defaults, for identity providers that rotate keys and
// sometimes go down:
//   - each fetch times out after jwksFetchTimeout and is retried
//     jwksFetchRetries times with backoff (jwksRetryBase to jwksRetryMax);
//   - keys are fetched asynchronously, when the configuration arrives and
//     again every cacheDuration: a failed refetch keeps the last good keys
//     (Envoy does not expire keys that the async fetcher refreshes) and is
//     tried again after min(cacheDuration, jwksFailedRefetchMax);
//   - the listener waits for the first fetch (asyncFetch.fastListener
//     false) unless the option says otherwise, so that an updated listener
//     starts with keys rather than refusing tokens until its first fetch.
const (
	jwksFetchTimeout     = 5 * time.Second
	jwksFetchRetries     = 2
	jwksRetryBase        = 500 * time.Millisecond
	jwksRetryMax         = 5 * time.Second
	jwksFailedRefetchMax = 10 * time.Second
	jwksDefaultCache     = 5 * time.Minute
)

// buildRemoteJwks resolves the JWKS server's Service into a cluster. A
// reference that cannot be resolved (no such Service, no such port, no ready
// endpoint, an ExternalName without a name) refuses the option, whose routes
// then fail closed, rather than leaving Envoy to refuse every token.
func (t *translation) buildRemoteJwks(kind, namespace, field string, r *optv1.RemoteJwks) (*jwtauthnv3.RemoteJwks, *backend, error) {
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("%s.url: %q is not an http or https URL", field, r.URL)
	}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return nil, nil, fmt.Errorf("%s.url: bad port in %q", field, r.URL)
		}
	}
	if r.UpstreamRef.Name == "" {
		return nil, nil, errors.New(field + ".upstreamRef.name: the Service of the JWKS server is required (for a server outside the cluster, an ExternalName Service naming its host)")
	}
	ns := r.UpstreamRef.Namespace
	if ns == "" {
		ns = namespace
	}
	// As for a route's backendRefs: the Service of another namespace only
	// with a ReferenceGrant of that namespace, else a tenant makes every
	// Envoy of the Gateway fetch from another team's Service.
	if ns != namespace && !t.index.granted(optv1.GroupName, kind, namespace, "", "Service", ns, r.UpstreamRef.Name) {
		return nil, nil, &refNotPermittedError{fmt.Sprintf("%s.upstreamRef: Service %s/%s is in another namespace and no ReferenceGrant in %s allows %s %s to refer to it", field, ns, r.UpstreamRef.Name, ns, kind, namespace)}
	}
	svc := t.index.services[nn(ns, r.UpstreamRef.Name)]
	if svc == nil {
		return nil, nil, fmt.Errorf("%s.upstreamRef: Service %s/%s not found", field, ns, r.UpstreamRef.Name)
	}
	b := backend{namespace: ns, service: svc.Name, port: -1, weight: 1}
	for _, sp := range svc.Spec.Ports {
		if int(sp.Port) == port {
			b.port, b.portName = sp.Port, sp.Name
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if msg := t.forbiddenExternalName(svc); msg != "" {
			return nil, nil, fmt.Errorf("%s.upstreamRef: %s", field, msg)
		}
		// An ExternalName Service is a DNS alias: its ports, if any, are
		// not used by Kubernetes either. The URL's port is the server's.
		b.externalName, b.port = svc.Spec.ExternalName, int32(port)
	} else {
		if msg := t.forbiddenEndpoint(ns, svc.Name); msg != "" {
			return nil, nil, fmt.Errorf("%s.upstreamRef: %s", field, msg)
		}
		if b.port < 0 {
			return nil, nil, fmt.Errorf("%s.upstreamRef: Service %s/%s has no port %d (the port of %q)", field, ns, svc.Name, port, r.URL)
		}
		if cla, _ := t.buildEndpoints(b); len(cla.Endpoints) == 0 {
			return nil, nil, fmt.Errorf("%s.upstreamRef: Service %s/%s has no ready endpoint on port %d: the keys could not be fetched", field, ns, svc.Name, port)
		}
	}
	if u.Scheme == "https" {
		tls, msg := t.upstreamTLSFor(ns, svc.Name, b.portName, u.Hostname())
		if msg != "" {
			return nil, nil, fmt.Errorf("%s.upstreamRef: %s", field, msg)
		}
		b.tls = tls
	}
	cache := jwksDefaultCache
	if r.CacheDuration != nil {
		if r.CacheDuration.Duration <= 0 {
			return nil, nil, fmt.Errorf("%s.cacheDuration: %s is not positive", field, r.CacheDuration.Duration)
		}
		cache = r.CacheDuration.Duration
	}
	remote := &jwtauthnv3.RemoteJwks{
		HttpUri: &corev3.HttpUri{
			Uri:              r.URL,
			HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: b.clusterName()},
			Timeout:          durationpb.New(jwksFetchTimeout),
		},
		CacheDuration: durationpb.New(cache),
		RetryPolicy: &corev3.RetryPolicy{
			NumRetries: wrapperspb.UInt32(jwksFetchRetries),
			RetryBackOff: &corev3.BackoffStrategy{
				BaseInterval: durationpb.New(jwksRetryBase),
				MaxInterval:  durationpb.New(jwksRetryMax),
			},
		},
		AsyncFetch: &jwtauthnv3.JwksAsyncFetch{
			FailedRefetchDuration: durationpb.New(min(cache, jwksFailedRefetchMax)),
		},
	}
	if r.AsyncFetch != nil {
		remote.AsyncFetch.FastListener = r.AsyncFetch.FastListener
	}
	return remote, &b, nil
}

// forbiddenExternalName says why an ExternalName Service may not be used
// for a JWKS fetch ("" when it may): no name, or a name that endpoint
// addresses may not be either (backendaddr.go): loopback (unless allowed),
// link-local, numeric, a cloud metadata service, or a Service or Pod of the
// cluster, which would be reached past the ReferenceGrant an upstreamRef
// needs (Envoy's cluster also resolves without search domains, so that
// "owner.infra" is not read as owner.infra.svc.<domain>).
func (t *translation) forbiddenExternalName(svc *corev1.Service) string {
	name := svc.Spec.ExternalName
	if name == "" {
		return fmt.Sprintf("Service %s/%s is of type ExternalName without spec.externalName", svc.Namespace, svc.Name)
	}
	class := addressClass(name)
	if class == "" || (class == "loopback" && t.opts.AllowLoopbackBackends) {
		return ""
	}
	hint := ""
	if class == "loopback" {
		hint = " (allowed only with --allow-loopback-backends, on by default in directory mode)"
	}
	return fmt.Sprintf("Service %s/%s: spec.externalName %q is %s, which JWKS fetches may not reach%s", svc.Namespace, svc.Name, name, class, hint)
}

// noSearchDomainResolver is the DNS resolver of an ExternalName cluster:
// the system's, without its search domains, so that a name resolves as
// written and not as a Service of the cluster (in a pod, "owner.infra" is
// first tried as owner.infra.svc.cluster.local).
func noSearchDomainResolver() *corev3.TypedExtensionConfig {
	return &corev3.TypedExtensionConfig{
		Name: "envoy.network.dns_resolver.cares",
		TypedConfig: mustAny(&caresv3.CaresDnsResolverConfig{
			DnsResolverOptions: &corev3.DnsResolverOptions{NoDefaultSearchDomain: true},
		}),
	}
}
