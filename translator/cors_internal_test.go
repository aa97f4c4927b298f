package translator

import (
	"regexp"
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestOriginPattern checks which Origin headers an allowOrigins entry
// matches, as Envoy will (RE2, whole header), with look-alike origins an
// attacker would send.
func TestOriginPattern(t *testing.T) {
	tests := map[string]struct {
		origin       string
		match, other []string
	}{
		"exact": {"https://www.foo.com",
			[]string{"https://www.foo.com", "https://www.foo.com:443"},
			[]string{"http://www.foo.com", "https://www.foo.com:8443", "https://www.foo.com.evil.com", "https://wwwxfoo.com", "https://evil.com/https://www.foo.com", "https://x.www.foo.com"}},
		"wildcard": {"https://*.bar.com",
			[]string{"https://www.bar.com", "https://a.b.bar.com"},
			[]string{"https://bar.com", "https://evilbar.com", "https://www.bar.com.evil", "http://www.bar.com"}},
		"port": {"http://localhost:3000",
			[]string{"http://localhost:3000"},
			[]string{"http://localhost", "http://localhost:30000", "http://localhost:300"}},
		"http default port": {"http://a.example",
			[]string{"http://a.example", "http://a.example:80"},
			[]string{"http://a.example:8080", "https://a.example"}},
		"any": {"*", []string{"https://x.y", "null"}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := originPattern(tc.origin)
			if err != nil {
				t.Fatal(err)
			}
			re := regexp.MustCompile("^(?:" + p + ")$")
			for _, o := range tc.match {
				if !re.MatchString(o) {
					t.Errorf("%q (%s) does not match %q", tc.origin, p, o)
				}
			}
			for _, o := range tc.other {
				if re.MatchString(o) {
					t.Errorf("%q (%s) matches %q", tc.origin, p, o)
				}
			}
		})
	}
}

// TestCheckCORS checks that what Envoy would serve differently from the
// filter is refused, naming the field.
func TestCheckCORS(t *testing.T) {
	tests := map[string]struct {
		cors gwv1.HTTPCORSFilter
		want string // substring of the message; "" for valid
	}{
		"valid": {gwv1.HTTPCORSFilter{AllowOrigins: []gwv1.CORSOrigin{"https://a.example", "https://*.b.example:8443"},
			AllowMethods: []gwv1.HTTPMethodWithWildcard{"GET", "PUT"}, AllowHeaders: []gwv1.HTTPHeaderName{"*"}}, ""},
		"scheme":           {gwv1.HTTPCORSFilter{AllowOrigins: []gwv1.CORSOrigin{"ftp://a.example"}}, "allowOrigins[0]"},
		"path":             {gwv1.HTTPCORSFilter{AllowOrigins: []gwv1.CORSOrigin{"https://a.example/x"}}, "invalid host"},
		"inner wildcard":   {gwv1.HTTPCORSFilter{AllowOrigins: []gwv1.CORSOrigin{"https://a.*.example"}}, "invalid host"},
		"port":             {gwv1.HTTPCORSFilter{AllowOrigins: []gwv1.CORSOrigin{"https://a.example:0"}}, "invalid port"},
		"star with others": {gwv1.HTTPCORSFilter{AllowOrigins: []gwv1.CORSOrigin{"*", "https://a.example"}}, "alongside"},
		"method":           {gwv1.HTTPCORSFilter{AllowMethods: []gwv1.HTTPMethodWithWildcard{"GET, PUT"}}, "allowMethods[0]"},
		"header":           {gwv1.HTTPCORSFilter{AllowHeaders: []gwv1.HTTPHeaderName{"x\r\ny"}}, "allowHeaders[0]"},
		"expose with star": {gwv1.HTTPCORSFilter{ExposeHeaders: []gwv1.HTTPHeaderName{"*", "x"}}, "exposeHeaders"},
		"negative max age": {gwv1.HTTPCORSFilter{MaxAge: -1}, "maxAge"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := checkCORS("spec.rules[0].filters[0].cors", &tc.cors)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("checkCORS = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCORSPolicyDefaults checks the Gateway API defaults Envoy does not
// apply itself: maxAge 5 seconds, no credentials header unless asked for,
// and non-matching preflights answered by Envoy.
func TestCORSPolicyDefaults(t *testing.T) {
	p := corsPolicy(&gwv1.HTTPCORSFilter{AllowOrigins: []gwv1.CORSOrigin{"*"}})
	if p.MaxAge != "5" || p.AllowCredentials != nil || p.ForwardNotMatchingPreflights.GetValue() {
		t.Errorf("policy %v: want max age 5, no credentials, non-matching preflights not forwarded", p)
	}
}
