// Package explain decides, offline, what Envoy answers to one request under
// the configuration gatewarden serves: which listener, virtual host and route
// it hits, whether its token verifies, which RBAC policies match, and the
// status code and body Envoy gives. It evaluates the translated Envoy
// configuration itself (listeners, route configurations, the jwt_authn and
// rbac protos), not the option objects, so it cannot drift from what is
// served; the e2e tests compare its answers with real Envoy's.
package explain

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

const (
	jwtFilter  = xdsconfig.JWTAuthnFilter
	rbacFilter = xdsconfig.RBACFilter
)

// Request is one HTTP request to explain.
type Request struct {
	Method string
	// URL is absolute: its host (and port) choose the listener and, unless
	// a Host header is given, the virtual host.
	URL    string
	Header http.Header
	// Now is the time tokens are checked against; zero means time.Now.
	Now time.Time
}

// Decision is what Envoy does with the request.
type Decision struct {
	// Code and Body are Envoy's answer; for a request forwarded upstream
	// Code is 200 and Upstream names the cluster (the upstream's own answer
	// is not known offline).
	Code        int               `json:"code"`
	Body        string            `json:"body"`
	Headers     map[string]string `json:"headers,omitempty"`
	Gateway     string            `json:"gateway,omitempty"`
	Listener    string            `json:"listener,omitempty"`
	VirtualHost string            `json:"virtualHost,omitempty"`
	Route       string            `json:"route,omitempty"`
	Upstream    string            `json:"upstream,omitempty"`
	JWT         *JWTDecision      `json:"jwt,omitempty"`
	RBAC        *RBACDecision     `json:"rbac,omitempty"`
	// GRPCStatus, for a gRPC request Envoy answers itself, is the
	// grpc-status the client sees (Code is then 200), with its name and
	// grpc-message.
	GRPCStatus     *int   `json:"grpcStatus,omitempty"`
	GRPCStatusName string `json:"grpcStatusName,omitempty"`
	GRPCMessage    string `json:"grpcMessage,omitempty"`
	// Steps narrate the decision for people.
	Steps []string `json:"steps"`
}

// Allowed reports whether the request reaches the upstream.
func (d *Decision) Allowed() bool { return d.Upstream != "" }

func (d *Decision) step(format string, args ...any) {
	d.Steps = append(d.Steps, fmt.Sprintf(format, args...))
}

func (d *Decision) answer(code int, body string) *Decision {
	d.Code, d.Body = code, body
	return d
}

// gateway is one Gateway's configuration, indexed.
type gateway struct {
	key       string
	listeners map[uint32]*listener
	clusters  map[string]*endpointv3.ClusterLoadAssignment // nil value: not EDS
}

type listener struct {
	name   string
	hcm    *hcmv3.HttpConnectionManager
	routes *routev3.RouteConfiguration
	// scopes, for a port served with scoped RDS: route configurations by
	// scope key.
	scopes    map[string]*routev3.RouteConfiguration
	jwt       *jwtauthnv3.JwtAuthentication
	rbac      bool
	providers map[string]*provider
	// refused are the paths the path hardening filter denies, answered
	// with refusedCode and refusedBody (the local reply mapper's).
	refused     []string
	refusedHost []string
	refusedCode int
	refusedBody string
}

// Explainer answers requests for a fixed configuration. Build it once per
// configuration: it decodes and indexes every listener.
type Explainer struct {
	gateways []*gateway
}

// Options tune New.
type Options struct {
	// FetchJWKS, when set, fetches a remote JWKS the way Envoy does: from
	// the first endpoint of the provider's cluster, with the URL's host and
	// path. Without it a remote provider's tokens cannot be checked and
	// explain says so.
	FetchJWKS func(uri string, endpoint string) ([]byte, error)
	// FetchJWKSTLS, when set, is used instead of FetchJWKS, with the TLS
	// its cluster checks (nil for a cluster without TLS): see HTTPFetchTLS.
	FetchJWKSTLS func(uri, endpoint string, tlsConfig *tls.Config) ([]byte, error)
}

// New indexes the configuration of every Gateway of a translation.
func New(gcs []*xdsconfig.GatewayConfig, opts ...Options) (*Explainer, error) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	e := &Explainer{}
	for _, gc := range gcs {
		g := &gateway{key: gc.Key(), listeners: map[uint32]*listener{}, clusters: map[string]*endpointv3.ClusterLoadAssignment{}}
		routes := map[string]*routev3.RouteConfiguration{}
		for _, r := range gc.Routes {
			routes[r.Name] = r
		}
		scopes := map[string]map[string]*routev3.RouteConfiguration{} // by listener, by key
		for _, sc := range gc.ScopedRoutes {
			listener, _, _ := strings.Cut(sc.Name, "/")
			if scopes[listener] == nil {
				scopes[listener] = map[string]*routev3.RouteConfiguration{}
			}
			// The key is the hostname, then the listener's port, which
			// the grouping by listener already stands for.
			if f := sc.GetKey().GetFragments(); len(f) > 0 {
				scopes[listener][f[0].GetStringKey()] = routes[sc.RouteConfigurationName]
			}
		}
		tlsConfigs := map[string]*tls.Config{}
		for _, c := range gc.Clusters {
			g.clusters[c.Name] = c.GetLoadAssignment()
			cfg, err := clusterTLSConfig(c)
			if err != nil {
				return nil, fmt.Errorf("gateway %s: %w", gc.Key(), err)
			}
			tlsConfigs[c.Name] = cfg
		}
		for _, cla := range gc.Endpoints {
			g.clusters[cla.ClusterName] = cla
		}
		for _, l := range gc.Listeners {
			if !servesHTTP(l) {
				continue // TLS passthrough: explain answers HTTP requests only
			}
			li, err := newListener(l, routes, scopes)
			if err != nil {
				return nil, fmt.Errorf("gateway %s: %w", gc.Key(), err)
			}
			g.listeners[l.GetAddress().GetSocketAddress().GetPortValue()] = li
			switch {
			case o.FetchJWKSTLS != nil:
				fetchRemoteKeys(li, g.clusters, func(cluster, uri, endpoint string) ([]byte, error) {
					return o.FetchJWKSTLS(uri, endpoint, tlsConfigs[cluster])
				})
			case o.FetchJWKS != nil:
				fetchRemoteKeys(li, g.clusters, func(_, uri, endpoint string) ([]byte, error) { return o.FetchJWKS(uri, endpoint) })
			}
		}
		e.gateways = append(e.gateways, g)
	}
	return e, nil
}

func newListener(l *listenerv3.Listener, routes map[string]*routev3.RouteConfiguration, scopes map[string]map[string]*routev3.RouteConfiguration) (*listener, error) {
	li := &listener{name: l.Name, providers: map[string]*provider{}}
	for _, fc := range l.FilterChains {
		for _, f := range fc.Filters {
			hcm := &hcmv3.HttpConnectionManager{}
			if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
				return nil, fmt.Errorf("listener %s: %w", l.Name, err)
			}
			li.hcm = hcm
			li.routes = hcm.GetRouteConfig()
			if rds := hcm.GetRds(); rds != nil {
				li.routes = routes[rds.RouteConfigName]
			}
			if sr := hcm.GetScopedRoutes(); sr != nil {
				li.scopes = scopes[sr.Name]
				if li.scopes == nil {
					li.scopes = map[string]*routev3.RouteConfiguration{}
				}
			}
			for _, hf := range hcm.HttpFilters {
				switch hf.Name {
				case jwtFilter:
					li.jwt = &jwtauthnv3.JwtAuthentication{}
					if err := hf.GetTypedConfig().UnmarshalTo(li.jwt); err != nil {
						return nil, err
					}
					for name, p := range li.jwt.Providers {
						prov, err := newProvider(name, p)
						if err != nil {
							return nil, fmt.Errorf("listener %s: provider %s: %w", l.Name, name, err)
						}
						li.providers[name] = prov
					}
				case rbacFilter:
					li.rbac = true
				case pathHardeningFilter:
					if err := li.readPathHardening(hf); err != nil {
						return nil, fmt.Errorf("listener %s: %w", l.Name, err)
					}
				}
			}
		}
	}
	if li.hcm == nil || (li.routes == nil && li.scopes == nil) {
		return nil, fmt.Errorf("listener %s has no HTTP connection manager with routes", l.Name)
	}
	return li, nil
}

// Explain decides one request. gatewayKey ("namespace/name") may be empty
// when only one Gateway has a listener on the request's port.
func (e *Explainer) Explain(gatewayKey string, r Request) (*Decision, error) {
	d, err := e.explain(gatewayKey, r)
	if err == nil && isGRPC(r.Header) {
		d.asGRPC()
	}
	return d, err
}

func (e *Explainer) explain(gatewayKey string, r Request) (*Decision, error) {
	d := &Decision{}
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("url %q: an absolute URL is required (http://host:port/path)", r.URL)
	}
	port := uint32(80)
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("url %q: bad port", r.URL)
		}
		port = uint32(n)
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	header := http.Header{}
	for k, v := range r.Header {
		header[http.CanonicalHeaderKey(k)] = append([]string(nil), v...)
	}
	host := header.Get("Host")
	if host == "" {
		host = u.Host
	}
	header.Del("Host")
	now := r.Now
	if now.IsZero() {
		now = time.Now()
	}

	var g *gateway
	var li *listener
	for _, cand := range e.gateways {
		if gatewayKey != "" && cand.key != gatewayKey {
			continue
		}
		if l := cand.listeners[port]; l != nil {
			if li != nil {
				return nil, fmt.Errorf("gateways %s and %s both listen on port %d: choose one with --gateway", g.key, cand.key, port)
			}
			g, li = cand, l
		}
	}
	if li == nil {
		d.step("no listener on port %d: the connection is refused", port)
		return d.answer(0, "connection refused"), nil
	}
	d.Gateway, d.Listener = g.key, li.name
	d.step("gateway %s, listener %s (port %d)", g.key, li.name, port)

	path, query := u.EscapedPath(), u.RawQuery
	if path == "" {
		path = "/"
	}
	if redirect, ok := escapedSlashes(path); ok {
		switch li.hcm.PathWithEscapedSlashesAction {
		case hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT:
			d.step("the path has escaped slashes: Envoy redirects to %s", redirect)
			d.Headers = map[string]string{"location": redirect}
			return d.answer(307, ""), nil
		case hcmv3.HttpConnectionManager_REJECT_REQUEST:
			d.step("the path has an escaped slash or backslash: Envoy refuses it")
			return d.answer(400, "Bad Request"), nil
		}
	}
	if code, body, ok := li.refusedPath(host, path); ok {
		d.step("the Host or the path is ambiguous: the path hardening filter refuses it")
		return d.answer(code, body), nil
	}
	path = normalizePath(path, li.hcm.GetNormalizePath().GetValue(), li.hcm.MergeSlashes)
	if li.hcm.StripTrailingHostDot {
		host = stripTrailingHostDot(host)
	}
	req := &request{method: method, host: host, path: path, query: query, header: header, now: now}

	rc := li.routes
	if li.scopes != nil {
		// Scoped RDS: the Host header up to its port picks the route
		// configuration, by exact key.
		key, _, _ := strings.Cut(host, ":")
		if rc = li.scopes[key]; rc == nil {
			d.step("no route scope has the key %q (the Host header up to its port)", key)
			return d.answer(404, ""), nil
		}
	}
	vhHost := host
	if rc.IgnorePortInHostMatching {
		vhHost, _, _ = strings.Cut(host, ":")
	}
	vh := selectVirtualHost(rc, vhHost)
	if vh == nil {
		d.step("no virtual host matches Host %q", host)
		return d.answer(404, ""), nil
	}
	d.VirtualHost = vh.Name
	d.step("virtual host %s (Host %q)", vh.Name, host)
	rt := selectRoute(vh, req)
	if rt == nil {
		d.step("no route of %s matches %s %s", vh.Name, method, path)
		return d.answer(404, ""), nil
	}
	d.Route = rt.Name
	d.step("route %s", rt.Name)

	// HTTP filters in their configured order: jwt_authn, rbac, router.
	metadata := map[string]any{}
	if li.jwt != nil {
		jd := e.evalJWT(li, perFilter(vh, rt, jwtFilter), req, metadata)
		d.JWT = jd
		for _, s := range jd.Steps {
			d.step("jwt: %s", s)
		}
		if jd.Status != statusOK {
			code, body := jd.Status.response()
			d.Headers = map[string]string{"www-authenticate": wwwAuthenticate(u, host, path, jd.Status)}
			return d.answer(code, body), nil
		}
	}
	if li.rbac {
		rd := evalRBAC(perFilter(vh, rt, rbacFilter), req, metadata)
		d.RBAC = rd
		for _, s := range rd.Steps {
			d.step("rbac: %s", s)
		}
		if !rd.Allowed {
			return d.answer(403, "RBAC: access denied"), nil
		}
	}
	switch a := rt.Action.(type) {
	case *routev3.Route_DirectResponse:
		d.step("direct response %d", a.DirectResponse.Status)
		return d.answer(int(a.DirectResponse.Status), a.DirectResponse.GetBody().GetInlineString()), nil
	case *routev3.Route_Redirect:
		code := map[routev3.RedirectAction_RedirectResponseCode]int{
			routev3.RedirectAction_MOVED_PERMANENTLY:  301,
			routev3.RedirectAction_FOUND:              302,
			routev3.RedirectAction_SEE_OTHER:          303,
			routev3.RedirectAction_TEMPORARY_REDIRECT: 307,
			routev3.RedirectAction_PERMANENT_REDIRECT: 308,
		}[a.Redirect.ResponseCode]
		r := a.Redirect
		d.step("redirect %d (scheme %q, host %q, port %d, path %q)", code, r.GetSchemeRedirect(), r.HostRedirect, r.PortRedirect, r.GetPathRedirect())
		return d.answer(code, ""), nil
	case *routev3.Route_Route:
		cluster := a.Route.GetCluster()
		if wc := a.Route.GetWeightedClusters(); wc != nil {
			var names []string
			for _, c := range wc.Clusters {
				names = append(names, c.Name)
			}
			cluster = strings.Join(names, ",")
		}
		for _, c := range strings.Split(cluster, ",") {
			if cla, ok := g.clusters[c]; ok && !hasEndpoints(cla) {
				d.step("cluster %s has no ready endpoint", c)
				return d.answer(503, "no healthy upstream"), nil
			}
		}
		d.Upstream = cluster
		d.step("forwarded to %s", cluster)
		return d.answer(200, ""), nil
	}
	return d.answer(500, ""), nil
}

func hasEndpoints(cla *endpointv3.ClusterLoadAssignment) bool {
	if cla == nil {
		return true // not EDS: endpoints are not known here
	}
	for _, l := range cla.Endpoints {
		if len(l.LbEndpoints) > 0 {
			return true
		}
	}
	return false
}

// perFilter is the most specific per-filter config: the route's, else the
// virtual host's.
func perFilter(vh *routev3.VirtualHost, rt *routev3.Route, name string) *anypb.Any {
	if a, ok := rt.TypedPerFilterConfig[name]; ok {
		return a
	}
	return vh.TypedPerFilterConfig[name]
}

// decodeRBAC reads an RBACPerRoute.
func decodeRBAC(a *anypb.Any) (*rbacv3.RBACPerRoute, error) {
	if a == nil {
		return nil, nil
	}
	pr := &rbacv3.RBACPerRoute{}
	return pr, a.UnmarshalTo(pr)
}

func wwwAuthenticate(u *url.URL, host, path string, s status) string {
	realm := fmt.Sprintf("%s://%s%s", u.Scheme, host, path)
	if s == statusMissing {
		return fmt.Sprintf("Bearer realm=%q", realm)
	}
	return fmt.Sprintf("Bearer realm=%q, error=\"invalid_token\"", realm)
}
