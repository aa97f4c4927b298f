package explain

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// request is a request as the filters see it: path normalised, query apart.
type request struct {
	method, host, path, query string
	header                    http.Header
	now                       time.Time
}

// headerValues returns a header's values, with the pseudo-headers Envoy
// matchers see (:method, :path, :authority).
func (r *request) headerValues(name string) []string {
	switch strings.ToLower(name) {
	case ":method":
		return []string{r.method}
	case ":path":
		if r.query != "" {
			return []string{r.path + "?" + r.query}
		}
		return []string{r.path}
	case ":authority", "host":
		return []string{r.host}
	}
	return r.header.Values(name)
}

// escapedSlashes reports a path with %2F or %5C, which Envoy (with
// UNESCAPE_AND_REDIRECT) answers with a redirect to the unescaped path.
func escapedSlashes(path string) (string, bool) {
	lower := strings.ToLower(path)
	if !strings.Contains(lower, "%2f") && !strings.Contains(lower, "%5c") {
		return "", false
	}
	r := strings.NewReplacer("%2F", "/", "%2f", "/", "%5C", "\\", "%5c", "\\")
	return r.Replace(path), true
}

// normalizePath applies RFC 3986 dot-segment removal (normalize_path) and
// merges repeated slashes (merge_slashes), as Envoy does before routing.
func normalizePath(path string, normalize, merge bool) string {
	if normalize {
		if unescaped, err := url.PathUnescape(path); err == nil && !strings.ContainsAny(unescaped, "?#") {
			path = unescaped
		}
		path = removeDotSegments(path)
	}
	if merge {
		for strings.Contains(path, "//") {
			path = strings.ReplaceAll(path, "//", "/")
		}
	}
	return path
}

func removeDotSegments(p string) string {
	var out []string
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch s {
		case ".":
			if i == len(segs)-1 {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if i == len(segs)-1 {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	res := strings.Join(out, "/")
	if !strings.HasPrefix(res, "/") {
		res = "/" + res
	}
	return res
}

// selectVirtualHost follows Envoy's order: an exact domain, then the
// longest suffix wildcard ("*.example.com"), then the longest prefix
// wildcard ("www.example.com:*"), then "*". Domains compare case-insensitively.
func selectVirtualHost(rc *routev3.RouteConfiguration, host string) *routev3.VirtualHost {
	host = strings.ToLower(host)
	var suffix, prefix, star *routev3.VirtualHost
	suffixLen, prefixLen := -1, -1
	for _, vh := range rc.VirtualHosts {
		for _, d := range vh.Domains {
			d = strings.ToLower(d)
			switch {
			case d == "*":
				if star == nil {
					star = vh
				}
			case d == host:
				return vh
			case strings.HasPrefix(d, "*"):
				s := d[1:]
				if len(host) > len(s) && strings.HasSuffix(host, s) && len(s) > suffixLen {
					suffix, suffixLen = vh, len(s)
				}
			case strings.HasSuffix(d, "*"):
				p := d[:len(d)-1]
				if len(host) > len(p) && strings.HasPrefix(host, p) && len(p) > prefixLen {
					prefix, prefixLen = vh, len(p)
				}
			}
		}
	}
	switch {
	case suffix != nil:
		return suffix
	case prefix != nil:
		return prefix
	}
	return star
}

// selectRoute is the first route of the virtual host that matches.
func selectRoute(vh *routev3.VirtualHost, r *request) *routev3.Route {
	for _, rt := range vh.Routes {
		if routeMatches(rt.Match, r) {
			return rt
		}
	}
	return nil
}

func routeMatches(m *routev3.RouteMatch, r *request) bool {
	switch ps := m.PathSpecifier.(type) {
	case *routev3.RouteMatch_Prefix:
		if !strings.HasPrefix(r.path, ps.Prefix) {
			return false
		}
	case *routev3.RouteMatch_Path:
		if r.path != ps.Path {
			return false
		}
	case *routev3.RouteMatch_SafeRegex:
		if !fullMatch(ps.SafeRegex.Regex, r.path) {
			return false
		}
	case *routev3.RouteMatch_PathSeparatedPrefix:
		if r.path != ps.PathSeparatedPrefix && !strings.HasPrefix(r.path, ps.PathSeparatedPrefix+"/") {
			return false
		}
	default:
		return false
	}
	for _, h := range m.Headers {
		if !headerMatches(h, r) {
			return false
		}
	}
	if len(m.QueryParameters) > 0 {
		q, _ := url.ParseQuery(r.query)
		for _, qm := range m.QueryParameters {
			vals, ok := q[qm.Name]
			if !ok {
				return false
			}
			if sm := qm.GetStringMatch(); sm != nil && !stringMatches(sm, vals[0]) {
				return false
			}
		}
	}
	return true
}

func headerMatches(h *routev3.HeaderMatcher, r *request) bool {
	vals := r.headerValues(h.Name)
	var ok bool
	switch {
	case h.GetPresentMatch():
		ok = len(vals) > 0
	case h.GetStringMatch() != nil:
		// Envoy matches the values of a repeated header joined by commas.
		ok = len(vals) > 0 && stringMatches(h.GetStringMatch(), strings.Join(vals, ","))
	default:
		ok = len(vals) > 0
	}
	return ok != h.InvertMatch
}

func stringMatches(sm *matcherv3.StringMatcher, v string) bool {
	cmp := v
	if sm.IgnoreCase {
		cmp = strings.ToLower(v)
	}
	lower := func(s string) string {
		if sm.IgnoreCase {
			return strings.ToLower(s)
		}
		return s
	}
	switch p := sm.MatchPattern.(type) {
	case *matcherv3.StringMatcher_Exact:
		return cmp == lower(p.Exact)
	case *matcherv3.StringMatcher_Prefix:
		return strings.HasPrefix(cmp, lower(p.Prefix))
	case *matcherv3.StringMatcher_Suffix:
		return strings.HasSuffix(cmp, lower(p.Suffix))
	case *matcherv3.StringMatcher_Contains:
		return strings.Contains(cmp, lower(p.Contains))
	case *matcherv3.StringMatcher_SafeRegex:
		return fullMatch(p.SafeRegex.Regex, v)
	}
	return false
}

var (
	regexMu    sync.Mutex
	regexCache = map[string]*regexp.Regexp{}
)

// fullMatch is RE2 full matching, as Envoy's safe_regex.
func fullMatch(expr, s string) bool {
	regexMu.Lock()
	re, ok := regexCache[expr]
	if !ok {
		var err error
		re, err = regexp.Compile("^(?:" + expr + ")$")
		if err != nil {
			re = nil
		}
		regexCache[expr] = re
	}
	regexMu.Unlock()
	return re != nil && re.MatchString(s)
}
