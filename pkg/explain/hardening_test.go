package explain

import (
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// TestNormalisers checks the rewrites explain applies to a request as
// Envoy does before matching it: the path's percent-encoded unreserved
// characters decoded, the Host header's trailing dot removed.
func TestNormalisers(t *testing.T) {
	for _, n := range []struct {
		name  string
		apply func(string) string
		cases map[string]string
	}{
		{"decodeUnreserved", decodeUnreserved, map[string]string{
			"/public/%2e%2e;/admin": "/public/..;/admin",
			"/a%2Fb":                "/a%2Fb", // a slash is reserved: left encoded
			"/%252e%252e":           "/%252e%252e",
			"/%7Euser/%41":          "/~user/A",
			"/100%25":               "/100%25",
			"/trailing%2":           "/trailing%2",
			"/%zz":                  "/%zz",
		}},
		{"stripTrailingHostDot", stripTrailingHostDot, map[string]string{
			"api.test.":      "api.test",
			"api.test.:8080": "api.test:8080",
			"api.test:8080":  "api.test:8080",
			"api.test":       "api.test",
		}},
	} {
		t.Run(n.name, func(t *testing.T) {
			for in, want := range n.cases {
				if got := n.apply(in); got != want {
					t.Errorf("%s(%q) = %q, want %q", n.name, in, got, want)
				}
			}
		})
	}
}

// TestRefusedPath checks the hardening filter's expressions as gatewarden
// writes them (translator/hardening.go), on paths as Envoy normalises them.
func TestRefusedPath(t *testing.T) {
	li := &listener{
		hcm:         &hcmv3.HttpConnectionManager{MergeSlashes: true},
		refused:     []string{`.*(;|%(25)*(3[bB]|2[eEfF]|5[cC])|\\).*`},
		refusedHost: []string{`.*,.*`},
		refusedCode: 400, refusedBody: "Bad Request",
	}
	cases := map[string]struct {
		host, path string
		refused    bool
	}{
		"encoded dots and a path parameter": {"api.test", "/public/%2e%2e;/admin", true},
		"an encoded semicolon":              {"api.test", "/public/..%3B/admin", true},
		"a double-encoded dot":              {"api.test", "/public/%252e%252e/admin", true},
		"a double-encoded slash":            {"api.test", "/a%252Fb", true},
		"two Host headers":                  {"a.test,api.test", "/", true},
		"an ordinary path":                  {"api.test", "/public/admin", false},
		"an encoded percent":                {"api.test", "/files/100%25.txt", false},
		"a path parameter":                  {"api.test", "/admin;x", true},
		"a colon":                           {"api.test", "/a:b/x", false},
	}
	for name, c := range cases {
		_, _, refused := li.refusedPath(c.host, c.path)
		if refused != c.refused {
			t.Errorf("%s: %s %s refused=%v, want %v", name, c.host, c.path, refused, c.refused)
		}
	}
}

func TestSelectVirtualHostOrder(t *testing.T) {
	rc := &routev3.RouteConfiguration{IgnorePortInHostMatching: true, VirtualHosts: []*routev3.VirtualHost{
		{Name: "api", Domains: []string{"api.test"}},
		{Name: "wild", Domains: []string{"*.wild.test"}},
		{Name: "any", Domains: []string{"*"}},
	}}
	for host, want := range map[string]string{"API.test": "api", "x.wild.test": "wild", "other.test": "any"} {
		if vh := selectVirtualHost(rc, host); vh == nil || vh.Name != want {
			t.Errorf("Host %q: got %v, want %s", host, vh.GetName(), want)
		}
	}
}
