package translator

import (
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestGRPCMatch checks the path each gRPC method match becomes: exact names
// are quoted (a dot in a service name is a dot), an absent name is one path
// segment, regular expressions are grouped so that an alternation stays
// inside its part.
func TestGRPCMatch(t *testing.T) {
	exact, regex := gwv1.GRPCMethodMatchExact, gwv1.GRPCMethodMatchRegularExpression
	for name, tc := range map[string]struct {
		m        *gwv1.GRPCMethodMatch
		typ      gwv1.PathMatchType
		value    string
		noPathOK bool
	}{
		"no method match":    {m: nil, noPathOK: true},
		"service and method": {m: &gwv1.GRPCMethodMatch{Type: &exact, Service: ptr("a.v1.Echo"), Method: ptr("Say")}, typ: gwv1.PathMatchExact, value: "/a.v1.Echo/Say"},
		"service alone":      {m: &gwv1.GRPCMethodMatch{Service: ptr("a.v1.Echo")}, typ: gwv1.PathMatchPathPrefix, value: "/a.v1.Echo/"},
		"method alone":       {m: &gwv1.GRPCMethodMatch{Method: ptr("Say")}, typ: gwv1.PathMatchRegularExpression, value: `/[^/]+/Say`},
		"regex service and method": {m: &gwv1.GRPCMethodMatch{Type: &regex, Service: ptr(`a\.v[0-9]\.Echo`), Method: ptr("Say|Shout")},
			typ: gwv1.PathMatchRegularExpression, value: `/(?:a\.v[0-9]\.Echo)/(?:Say|Shout)`},
		"regex method alone": {m: &gwv1.GRPCMethodMatch{Type: &regex, Method: ptr("S.*")}, typ: gwv1.PathMatchRegularExpression, value: `/[^/]+/(?:S.*)`},
	} {
		t.Run(name, func(t *testing.T) {
			hm := grpcMatch(gwv1.GRPCRouteMatch{Method: tc.m})
			if tc.noPathOK {
				if hm.Path != nil {
					t.Fatalf("path %v, want none (every call)", *hm.Path.Value)
				}
				return
			}
			if hm.Path == nil || *hm.Path.Type != tc.typ || *hm.Path.Value != tc.value {
				t.Fatalf("path %+v, want %s %q", hm.Path, tc.typ, tc.value)
			}
			if msg := checkMatch(hm); msg != "" {
				t.Errorf("the match is refused: %s", msg)
			}
		})
	}
	// A header match keeps its name, value and type.
	re := gwv1.GRPCHeaderMatchRegularExpression
	hm := grpcMatch(gwv1.GRPCRouteMatch{Headers: []gwv1.GRPCHeaderMatch{{Name: "x-tenant", Value: "b.*", Type: &re}}})
	if len(hm.Headers) != 1 || hm.Headers[0].Name != "x-tenant" || hm.Headers[0].Value != "b.*" || *hm.Headers[0].Type != gwv1.HeaderMatchRegularExpression {
		t.Errorf("header match %+v", hm.Headers)
	}
}

// TestListenerKinds checks which route kinds each listener takes.
func TestListenerKinds(t *testing.T) {
	pass, term, other := gwv1.TLSModePassthrough, gwv1.TLSModeTerminate, gwv1.TLSModeType("Reencrypt")
	for name, tc := range map[string]struct {
		l    gwv1.Listener
		want []string
	}{
		"HTTP":            {gwv1.Listener{Protocol: gwv1.HTTPProtocolType}, []string{"HTTPRoute", "GRPCRoute"}},
		"HTTPS":           {gwv1.Listener{Protocol: gwv1.HTTPSProtocolType}, []string{"HTTPRoute", "GRPCRoute"}},
		"TLS passthrough": {gwv1.Listener{Protocol: gwv1.TLSProtocolType, TLS: &gwv1.ListenerTLSConfig{Mode: &pass}}, []string{"TLSRoute"}},
		"TLS terminate":   {gwv1.Listener{Protocol: gwv1.TLSProtocolType, TLS: &gwv1.ListenerTLSConfig{Mode: &term}}, []string{"TLSRoute"}},
		"TLS, no mode":    {gwv1.Listener{Protocol: gwv1.TLSProtocolType}, []string{"TLSRoute"}},
		"TLS, other mode": {gwv1.Listener{Protocol: gwv1.TLSProtocolType, TLS: &gwv1.ListenerTLSConfig{Mode: &other}}, nil},
		"TCP":             {gwv1.Listener{Protocol: gwv1.TCPProtocolType}, []string{"TCPRoute"}},
		"UDP":             {gwv1.Listener{Protocol: gwv1.UDPProtocolType}, []string{"UDPRoute"}},
		"SCTP":            {gwv1.Listener{Protocol: "SCTP"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			got := listenerKinds(tc.l)
			if len(got) != len(tc.want) {
				t.Fatalf("%v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("%v, want %v", got, tc.want)
				}
			}
		})
	}
}
