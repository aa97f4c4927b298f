package translator

import (
	"fmt"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// ruleFilters are the HTTPRoute filters of one rule that change the request,
// the response or the action: header modifiers, a redirect, a rewrite.
type ruleFilters struct {
	request, response *gwv1.HTTPHeaderFilter
	redirect          *gwv1.HTTPRequestRedirectFilter
	rewrite           *gwv1.HTTPURLRewriteFilter
	cors              *gwv1.HTTPCORSFilter
	corsAny           *anypb.Any // cors encoded, once per rule (cors.go)
	mirrors           []mirror   // mirror.go
	retry             *retry     // retry.go
	// timeout is the rule's timeouts.request (else its backendRequest);
	// backendTimeout its timeouts.backendRequest. Zero disables.
	timeout, backendTimeout *time.Duration
}

// setTimeouts reads the timeouts of rule i.
func (f *ruleFilters) setTimeouts(i int, t *gwv1.HTTPRouteTimeouts) string {
	if t == nil {
		return ""
	}
	parse := func(name string, d *gwv1.Duration) (*time.Duration, string) {
		if d == nil {
			return nil, ""
		}
		v, err := time.ParseDuration(string(*d))
		if err != nil || v < 0 {
			return nil, fmt.Sprintf("spec.rules[%d].timeouts.%s: %q is not a duration", i, name, *d)
		}
		return &v, ""
	}
	var msg string
	if f.timeout, msg = parse("request", t.Request); msg != "" {
		return msg
	}
	if f.backendTimeout, msg = parse("backendRequest", t.BackendRequest); msg != "" {
		return msg
	}
	if f.timeout != nil && f.backendTimeout != nil && *f.timeout != 0 && (*f.backendTimeout == 0 || *f.backendTimeout > *f.timeout) {
		return fmt.Sprintf("spec.rules[%d].timeouts.backendRequest: %s must not be longer than timeouts.request (%s)", i, *t.BackendRequest, *t.Request)
	}
	return ""
}

// applyTimeouts sets the route's timeouts: request bounds the whole
// exchange, backendRequest each try.
func (f *ruleFilters) applyTimeouts(ra *routev3.RouteAction) {
	switch {
	case f.timeout != nil:
		ra.Timeout = durationpb.New(*f.timeout)
		if f.backendTimeout != nil {
			ra.RetryPolicy = &routev3.RetryPolicy{PerTryTimeout: durationpb.New(*f.backendTimeout)}
		}
	case f.backendTimeout != nil:
		ra.Timeout = durationpb.New(*f.backendTimeout)
	}
}

// addFilter records one filter of rule i; it returns why gatewarden cannot
// serve it, or "".
func (f *ruleFilters) add(i, k int, filter gwv1.HTTPRouteFilter) string {
	field := fmt.Sprintf("spec.rules[%d].filters[%d]", i, k)
	switch filter.Type {
	case gwv1.HTTPRouteFilterRequestHeaderModifier:
		if filter.RequestHeaderModifier == nil || f.request != nil {
			return field + ": requestHeaderModifier must be set, once per rule"
		}
		f.request = filter.RequestHeaderModifier
		return checkHeaderFilter(field+".requestHeaderModifier", f.request)
	case gwv1.HTTPRouteFilterResponseHeaderModifier:
		if filter.ResponseHeaderModifier == nil || f.response != nil {
			return field + ": responseHeaderModifier must be set, once per rule"
		}
		f.response = filter.ResponseHeaderModifier
		return checkHeaderFilter(field+".responseHeaderModifier", f.response)
	case gwv1.HTTPRouteFilterRequestRedirect:
		if filter.RequestRedirect == nil || f.redirect != nil {
			return field + ": requestRedirect must be set, once per rule"
		}
		f.redirect = filter.RequestRedirect
	case gwv1.HTTPRouteFilterURLRewrite:
		if filter.URLRewrite == nil || f.rewrite != nil {
			return field + ": urlRewrite must be set, once per rule"
		}
		f.rewrite = filter.URLRewrite
	case gwv1.HTTPRouteFilterRequestMirror:
		if filter.RequestMirror == nil {
			return field + ": requestMirror must be set"
		}
		// Its backend is resolved with the rule's (resolveMirrors).
		f.mirrors = append(f.mirrors, mirror{field: field, filter: filter.RequestMirror})
	case gwv1.HTTPRouteFilterCORS:
		if filter.CORS == nil || f.cors != nil {
			return field + ": cors must be set, once per rule"
		}
		f.cors = filter.CORS
		return checkCORS(field+".cors", f.cors)
	default:
		return fmt.Sprintf("%s: filter type %q is not supported; supported: RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, RequestRedirect, URLRewrite, CORS, ExtensionRef (RouteOption)", field, filter.Type)
	}
	if f.redirect != nil && f.rewrite != nil {
		return field + ": requestRedirect and urlRewrite cannot be used in the same rule"
	}
	return ""
}

func checkHeaderFilter(field string, h *gwv1.HTTPHeaderFilter) string {
	for i, s := range h.Set {
		if !isToken(string(s.Name)) {
			return fmt.Sprintf("%s.set[%d].name: %q is not a valid HTTP header name", field, i, s.Name)
		}
	}
	for i, s := range h.Add {
		if !isToken(string(s.Name)) {
			return fmt.Sprintf("%s.add[%d].name: %q is not a valid HTTP header name", field, i, s.Name)
		}
	}
	for i, s := range h.Remove {
		if !isToken(s) {
			return fmt.Sprintf("%s.remove[%d]: %q is not a valid HTTP header name", field, i, s)
		}
	}
	return ""
}

// checkPathModifier finds what cannot be served in a redirect's or a
// rewrite's path: ReplacePrefixMatch needs a PathPrefix match.
func checkPathModifier(field string, p *gwv1.HTTPPathModifier, matches []gwv1.HTTPRouteMatch) string {
	if p == nil || p.Type != gwv1.PrefixMatchHTTPPathModifier {
		return ""
	}
	for _, m := range matches {
		if typ, _ := pathOf(m); typ != gwv1.PathMatchPathPrefix {
			return field + ".path: ReplacePrefixMatch needs every match of the rule to be a PathPrefix match"
		}
	}
	return ""
}

func headerOptions(h *gwv1.HTTPHeaderFilter) ([]*corev3.HeaderValueOption, []string) {
	if h == nil {
		return nil, nil
	}
	var add []*corev3.HeaderValueOption
	for _, s := range h.Set {
		add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: string(s.Name), Value: s.Value},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	for _, s := range h.Add {
		add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: string(s.Name), Value: s.Value},
			AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD})
	}
	return add, h.Remove
}

// applyHeaders adds a rule's header modifiers to its Envoy route.
func (f *ruleFilters) applyHeaders(r *routev3.Route) {
	r.RequestHeadersToAdd, r.RequestHeadersToRemove = headerOptions(f.request)
	r.ResponseHeadersToAdd, r.ResponseHeadersToRemove = headerOptions(f.response)
}

// redirectAction is the Envoy redirect of a RequestRedirect filter on a
// route matched by m, served on listenerPort.
func (f *ruleFilters) redirectAction(m gwv1.HTTPRouteMatch, listenerPort int32) *routev3.Route_Redirect {
	rr := f.redirect
	ra := &routev3.RedirectAction{}
	if rr.Scheme != nil {
		ra.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: *rr.Scheme}
	}
	if rr.Hostname != nil {
		ra.HostRedirect = string(*rr.Hostname)
	}
	// The port: the one asked for, else the scheme's well-known port when
	// the scheme changes, else the listener's. A well-known port for the
	// scheme is left out of the Location, as browsers do.
	port := listenerPort
	switch {
	case rr.Port != nil:
		port = int32(*rr.Port)
	case rr.Scheme != nil && *rr.Scheme == "https":
		port = 443
	case rr.Scheme != nil && *rr.Scheme == "http":
		port = 80
	}
	ra.PortRedirect = uint32(port)
	if rr.Path != nil {
		switch rr.Path.Type {
		case gwv1.FullPathHTTPPathModifier:
			if rr.Path.ReplaceFullPath != nil {
				ra.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: *rr.Path.ReplaceFullPath}
			}
		case gwv1.PrefixMatchHTTPPathModifier:
			if rr.Path.ReplacePrefixMatch != nil {
				ra.PathRewriteSpecifier = &routev3.RedirectAction_RegexRewrite{RegexRewrite: prefixRewrite(m, *rr.Path.ReplacePrefixMatch)}
			}
		}
	}
	code := 302
	if rr.StatusCode != nil {
		code = *rr.StatusCode
	}
	switch code {
	case 301:
		ra.ResponseCode = routev3.RedirectAction_MOVED_PERMANENTLY
	case 303:
		ra.ResponseCode = routev3.RedirectAction_SEE_OTHER
	case 307:
		ra.ResponseCode = routev3.RedirectAction_TEMPORARY_REDIRECT
	case 308:
		ra.ResponseCode = routev3.RedirectAction_PERMANENT_REDIRECT
	default:
		ra.ResponseCode = routev3.RedirectAction_FOUND
	}
	return &routev3.Route_Redirect{Redirect: ra}
}

// applyRewrite adds a URLRewrite filter to a route action.
func (f *ruleFilters) applyRewrite(ra *routev3.RouteAction, m gwv1.HTTPRouteMatch) {
	rw := f.rewrite
	if rw == nil {
		return
	}
	if rw.Hostname != nil {
		ra.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: string(*rw.Hostname)}
	}
	if rw.Path == nil {
		return
	}
	switch rw.Path.Type {
	case gwv1.FullPathHTTPPathModifier:
		if rw.Path.ReplaceFullPath != nil {
			ra.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
				Pattern:      &matcherv3.RegexMatcher{Regex: "^/[^?]*"},
				Substitution: *rw.Path.ReplaceFullPath,
			}
		}
	case gwv1.PrefixMatchHTTPPathModifier:
		if rw.Path.ReplacePrefixMatch != nil {
			ra.RegexRewrite = prefixRewrite(m, *rw.Path.ReplacePrefixMatch)
		}
	}
}

// prefixRewrite replaces the matched path prefix of m (a PathPrefix match,
// matched on whole segments) by replacement, keeping the rest of the path
// and never producing a double or a missing slash.
func prefixRewrite(m gwv1.HTTPRouteMatch, replacement string) *matcherv3.RegexMatchAndSubstitute {
	_, prefix := pathOf(m)
	prefix = strings.TrimRight(prefix, "/")
	replacement = strings.TrimRight(replacement, "/")
	if replacement == "" {
		// "/prefix/rest" -> "/rest", "/prefix" -> "/"
		return &matcherv3.RegexMatchAndSubstitute{
			Pattern:      &matcherv3.RegexMatcher{Regex: "^" + regexQuote(prefix) + `(/|$)(.*)`},
			Substitution: `/\2`,
		}
	}
	return &matcherv3.RegexMatchAndSubstitute{
		Pattern:      &matcherv3.RegexMatcher{Regex: "^" + regexQuote(prefix) + `(/.*)?$`},
		Substitution: regexSubstitutionQuote(replacement) + `\1`,
	}
}

func regexQuote(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, c) {
			b.WriteRune('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// regexSubstitutionQuote escapes the backslashes of a literal substitution.
func regexSubstitutionQuote(s string) string { return strings.ReplaceAll(s, `\`, `\\`) }
