package translator

import (
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestCheckBackendFilters: a backendRef takes one request and one response
// header modifier; a second, a missing one, a bad header name or another
// filter type is refused with the field named.
func TestCheckBackendFilters(t *testing.T) {
	req := gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterRequestHeaderModifier,
		RequestHeaderModifier: &gwv1.HTTPHeaderFilter{Set: []gwv1.HTTPHeader{{Name: "x-a", Value: "1"}}}}
	resp := gwv1.HTTPRouteFilter{Type: gwv1.HTTPRouteFilterResponseHeaderModifier,
		ResponseHeaderModifier: &gwv1.HTTPHeaderFilter{Remove: []string{"server"}}}
	for name, tc := range map[string]struct {
		filters []gwv1.HTTPRouteFilter
		msg     string
	}{
		"one of each":      {[]gwv1.HTTPRouteFilter{req, resp}, ""},
		"two requests":     {[]gwv1.HTTPRouteFilter{req, req}, "spec.rules[1].backendRefs[2].filters[1]: requestHeaderModifier must be set, once per backendRef"},
		"two responses":    {[]gwv1.HTTPRouteFilter{resp, resp}, "spec.rules[1].backendRefs[2].filters[1]: responseHeaderModifier must be set, once per backendRef"},
		"modifier missing": {[]gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterResponseHeaderModifier}}, "spec.rules[1].backendRefs[2].filters[0]: responseHeaderModifier must be set, once per backendRef"},
		"bad header name":  {[]gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gwv1.HTTPHeaderFilter{Set: []gwv1.HTTPHeader{{Name: "a b"}}}}}, `spec.rules[1].backendRefs[2].filters[0].requestHeaderModifier.set[0].name: "a b" is not a valid HTTP header name`},
		"unsupported type": {[]gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterURLRewrite}}, `spec.rules[1].backendRefs[2].filters[0]: filter type "URLRewrite" is not supported on a backendRef; supported: RequestHeaderModifier, ResponseHeaderModifier`},
	} {
		t.Run(name, func(t *testing.T) {
			out, msg := checkBackendFilters(1, 2, tc.filters)
			if msg != tc.msg {
				t.Fatalf("message %q, want %q", msg, tc.msg)
			}
			if msg == "" && (out.request != req.RequestHeaderModifier || out.response != resp.ResponseHeaderModifier) {
				t.Errorf("filters taken: %+v", out)
			}
			if msg != "" && out != nil {
				t.Errorf("refused filters returned %+v", out)
			}
		})
	}
}
