package translator

import (
	"fmt"
	"strconv"
	"strings"

	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// corsFilter answers CORS preflights. It runs before jwt_authn and rbac
// (filters.go): a browser sends its preflight without credentials, so a
// preflight that reached jwt_authn would be refused and the browser would
// never send the actual request. The filter answers only preflights (OPTIONS
// with Origin and Access-Control-Request-Method) whose origin the route
// allows; every other request, the actual cross-origin ones included, goes
// on to jwt_authn and rbac as before, and merely gets the CORS response
// headers added on its way back.
const corsFilter = "envoy.filters.http.cors"

// defaultCORSMaxAge is the Gateway API default of cors.maxAge, in seconds,
// applied when the field is left out (as in directory mode, where no API
// server fills in defaults).
const defaultCORSMaxAge = 5

// checkCORS finds what cannot be served in a CORS filter: an origin that is
// not scheme://host[:port], a method or header name that is not an HTTP
// token, a wildcard alongside other values.
func checkCORS(field string, c *gwv1.HTTPCORSFilter) string {
	for i, o := range c.AllowOrigins {
		if _, err := originPattern(string(o)); err != nil {
			return fmt.Sprintf("%s.allowOrigins[%d]: %q %v", field, i, o, err)
		}
		if o == "*" && len(c.AllowOrigins) > 1 {
			return field + ".allowOrigins: \"*\" cannot be used alongside other origins"
		}
	}
	for i, m := range c.AllowMethods {
		if m == "*" && len(c.AllowMethods) > 1 {
			return field + ".allowMethods: \"*\" cannot be used alongside other methods"
		}
		if m != "*" && !isToken(string(m)) {
			return fmt.Sprintf("%s.allowMethods[%d]: %q is not an HTTP method", field, i, m)
		}
	}
	lists := []struct {
		name  string
		names []gwv1.HTTPHeaderName
	}{{"allowHeaders", c.AllowHeaders}, {"exposeHeaders", c.ExposeHeaders}}
	for _, l := range lists {
		for i, h := range l.names {
			if h == "*" && len(l.names) > 1 {
				return fmt.Sprintf("%s.%s: \"*\" cannot be used alongside other header names", field, l.name)
			}
			if h != "*" && !isToken(string(h)) {
				return fmt.Sprintf("%s.%s[%d]: %q is not a valid HTTP header name", field, l.name, i, h)
			}
		}
	}
	if c.MaxAge < 0 {
		return fmt.Sprintf("%s.maxAge: %d must be at least 1", field, c.MaxAge)
	}
	return ""
}

// originPattern is the RE2 expression, matched against the whole Origin
// header, of one allowOrigins entry: `*` alone matches every origin, a `*`
// in the host matches any number of labels to its left, and an origin
// without a port also matches its scheme's default port spelled out.
func originPattern(o string) (string, error) {
	if o == "*" {
		return ".*", nil
	}
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return "", fmt.Errorf("must be <scheme>://<host>[:<port>] with scheme http or https")
	}
	host, port, hasPort := strings.Cut(rest, ":")
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", fmt.Errorf("has an invalid port (1-65535)")
		}
	}
	if host == "" || strings.ContainsAny(host, "/?#@[]\\ ") || strings.Count(host, "*") > 1 || (strings.Contains(host, "*") && !strings.HasPrefix(host, "*")) {
		return "", fmt.Errorf("has an invalid host (a DNS name, optionally starting with *)")
	}
	var b strings.Builder
	b.WriteString(regexQuote(scheme) + "://")
	if h, wild := strings.CutPrefix(host, "*"); wild {
		b.WriteString(".*" + regexQuote(h))
	} else {
		b.WriteString(regexQuote(host))
	}
	switch {
	case hasPort:
		b.WriteString(":" + port)
	case scheme == "http":
		b.WriteString("(:80)?")
	default:
		b.WriteString("(:443)?")
	}
	return b.String(), nil
}

// corsPolicy is the Envoy per-route CORS policy of an HTTPRoute CORS filter
// (checked by checkCORS).
func corsPolicy(c *gwv1.HTTPCORSFilter) *corsv3.CorsPolicy {
	p := &corsv3.CorsPolicy{
		// A preflight from an origin the route does not allow is answered
		// by Envoy without CORS headers, never forwarded: the backend does
		// not see it, and the browser does not send the actual request.
		ForwardNotMatchingPreflights: wrapperspb.Bool(false),
	}
	for _, o := range c.AllowOrigins {
		re, err := originPattern(string(o))
		if err != nil {
			continue // refused by checkCORS
		}
		p.AllowOriginStringMatch = append(p.AllowOriginStringMatch, &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}},
		})
	}
	methods := make([]string, len(c.AllowMethods))
	for i, m := range c.AllowMethods {
		methods[i] = string(m)
	}
	p.AllowMethods = strings.Join(methods, ", ")
	p.AllowHeaders = joinHeaderNames(c.AllowHeaders)
	p.ExposeHeaders = joinHeaderNames(c.ExposeHeaders)
	maxAge := c.MaxAge
	if maxAge == 0 {
		maxAge = defaultCORSMaxAge
	}
	p.MaxAge = strconv.Itoa(int(maxAge))
	if c.AllowCredentials != nil && *c.AllowCredentials {
		p.AllowCredentials = wrapperspb.Bool(true)
	}
	return p
}

func joinHeaderNames(names []gwv1.HTTPHeaderName) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

// withCORS is a route's per-filter configs with its rule's CORS policy
// added (one encoding per rule, so equal maps stay shared). The map typed may
// be shared between routes, so it is copied, never changed.
func (t *translation) withCORS(typed map[string]*anypb.Any, f *ruleFilters) map[string]*anypb.Any {
	if f.cors == nil {
		return typed
	}
	if f.corsAny == nil {
		f.corsAny = mustAny(corsPolicy(f.cors))
	}
	out := make(map[string]*anypb.Any, len(typed)+1)
	for k, v := range typed {
		out[k] = v
	}
	out[corsFilter] = f.corsAny
	return t.sharedTyped(out)
}

// usesCORS reports whether a route of the port carries a CORS policy: only
// then does its listener get the CORS filter.
func (p *portBuild) usesCORS() bool {
	for _, vh := range p.vhosts {
		for _, r := range vh.built {
			if _, ok := r.TypedPerFilterConfig[corsFilter]; ok {
				return true
			}
		}
	}
	return false
}
