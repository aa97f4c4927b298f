package translator_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/jwt"
	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/xds"
)

// vhoFor is a VirtualHostOption on the listener section of the Gateway
// infra/gw with options (lines indented by four spaces).
func vhoFor(t *testing.T, section, options string) string {
	t.Helper()
	return testenv.Fixture(t, "hostile-vho.yaml", section, options)
}

// routeOption is a RouteOption of namespace ns on the HTTPRoute target with
// options (lines indented by four spaces).
func routeOption(t *testing.T, ns, target, options string) string {
	t.Helper()
	return testenv.Fixture(t, "hostile-routeoption.yaml", ns, target, options)
}

// TestHostileManifests feeds hostile objects next to a clean route: each is
// refused with a message that says why (or, for the loader's cases, with a
// load error naming the line), the route it targets never opens, the
// bystander keeps being served, and Envoy accepts the result.
func TestHostileManifests(t *testing.T) {
	k, err := jwt.GenerateEC("k")
	if err != nil {
		t.Fatal(err)
	}
	jwks := k.JWKS()
	var huge strings.Builder
	huge.WriteString(`{"keys":[`)
	for i := 0; huge.Len() < 300<<10; i++ {
		if i > 0 {
			huge.WriteString(",")
		}
		j := k.PublicJWK()
		j.KeyID = fmt.Sprintf("k%d", i)
		b, _ := j.MarshalJSON()
		huge.Write(b)
	}
	huge.WriteString("]}")
	claims := func(n int) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "c%d: v, ", i)
		}
		return strings.TrimSuffix(b.String(), ", ")
	}
	// base has two routes: victim, which the hostile objects target, and
	// bystander, which must keep being served whatever they do.
	base := testenv.GatewayClassManifest + testenv.Fixture(t, "hostile.yaml")
	jwt := fmt.Sprintf("    jwt: {providers: {p: {jwks: {local: {key: '%s'}}}}}\n", jwks)
	tests := map[string]struct {
		extra     string
		want      string // in a condition message (translation) ...
		loadError string // ... or in the load error
		// untargeted: the refused object does not apply to the victim's
		// route, which stays served as it was (without policy).
		untargeted bool
	}{
		"huge JWKS": {extra: vhoFor(t, "victim", fmt.Sprintf("    jwt: {providers: {p: {jwks: {local: {key: '%s'}}}}}\n", huge.String())),
			want: "larger than the 262144 allowed inline"},
		"10,000 claims": {extra: vhoFor(t, "victim", jwt+"    rbac: {policies: {p: {principals: [{jwtPrincipal: {claims: {"+claims(10000)+"}}}]}}}\n"),
			want: "10000 claims, at most 64 are allowed"},
		"catastrophic-looking regex is fine for RE2": {extra: vhoFor(t, "victim", jwt+"    rbac: {policies: {p: {principals: [{jwtPrincipal: {claims: {team: '(a+)+$'}, matcher: REGEX_MATCH}}]}}}\n")},
		"regex over Envoy's program size": {extra: vhoFor(t, "victim", jwt+"    rbac: {policies: {p: {principals: [{jwtPrincipal: {claims: {team: '"+strings.Repeat("(ab|cd|ef)", 20)+"'}, matcher: REGEX_MATCH}}]}}}\n"),
			want: "too complex"},
		"regex at Envoy's program size": {extra: vhoFor(t, "victim", jwt+"    rbac: {policies: {p: {principals: [{jwtPrincipal: {claims: {team: '"+strings.Repeat("x", 96)+"'}, matcher: REGEX_MATCH}}]}}}\n")},
		"regex one over Envoy's program size": {extra: vhoFor(t, "victim", jwt+"    rbac: {policies: {p: {principals: [{jwtPrincipal: {claims: {team: '"+strings.Repeat("x", 97)+"'}, matcher: REGEX_MATCH}}]}}}\n"),
			want: "too complex"},
		"regex of classes near the limit": {extra: vhoFor(t, "victim", jwt+"    rbac: {policies: {p: {principals: [{jwtPrincipal: {claims: {team: '"+strings.Repeat(`\\w`, 24)+"'}, matcher: REGEX_MATCH}}]}}}\n")},
		"deeply nested claim": {extra: vhoFor(t, "victim", jwt+"    rbac: {policies: {p: {nestedClaimDelimiter: '.', principals: [{jwtPrincipal: {claims: {"+strings.Repeat("a.", 100)+"z: v}}}]}}}\n"),
			want: "nested 101 deep, at most 16"},
		"empty claim segment": {extra: vhoFor(t, "victim", jwt+"    rbac: {policies: {p: {nestedClaimDelimiter: '.', principals: [{jwtPrincipal: {claims: {'a..b': v}}}]}}}\n"),
			want: "has an empty segment"},
		"cross-namespace target": {extra: routeOption(t, "elsewhere", "victim", "    rbac: {policies: {p: {principals: [{jwtPrincipal: {claims: {team: x}}}]}}}\n"),
			want: "HTTPRoute elsewhere/victim not found", untargeted: true},
		"VirtualHostOption targeting another namespace": {extra: strings.Replace(vhoFor(t, "victim", jwt), "name: gw,", "name: gw, namespace: other,", 1),
			want: `"other" differs from the option's namespace`, untargeted: true},
		"unknown field": {extra: vhoFor(t, "victim", "    jwt: {providers: {p: {jwks: {local: {key: x}}, issuerr: x}}}\n"),
			loadError: `unknown field "spec.options.jwt.providers.p.issuerr"`},
		"unknown matcher": {extra: vhoFor(t, "victim", jwt+"    rbac: {policies: {p: {principals: [{jwtPrincipal: {claims: {team: x}, matcher: SUBSTRING}}]}}}\n"),
			want: `matcher "SUBSTRING" is not supported`},
		"bad path regex on a route": {extra: "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: victim2, namespace: apps}\nspec:\n  parentRefs: [{name: gw, namespace: infra, sectionName: victim}]\n  rules: [{matches: [{path: {type: RegularExpression, value: '/(('}}], backendRefs: [{name: app, port: 80}]}]\n",
			want: "not a valid RE2 regular expression", untargeted: true},
		"bad header name on a route": {extra: "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: victim2, namespace: apps}\nspec:\n  parentRefs: [{name: gw, namespace: infra, sectionName: victim}]\n  rules: [{matches: [{headers: [{name: 'bad header', value: x}]}], backendRefs: [{name: app, port: 80}]}]\n",
			want: "is not a valid HTTP header name", untargeted: true},
		// Its targetRef names a Service of its own namespace (mallory/app),
		// not apps/app: the routes to apps/app are untouched.
		"BackendTLSPolicy naming another namespace's Service": {extra: "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: BackendTLSPolicy\nmetadata: {name: app, namespace: mallory, creationTimestamp: '2020-01-01T00:00:00Z'}\nspec:\n  targetRefs: [{group: '', kind: Service, name: app}]\n  validation: {wellKnownCACertificates: System, hostname: mallory.test}\n"},
		"ListenerSet the Gateway does not allow, and a route through it": {extra: "\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: ListenerSet\nmetadata: {name: ls, namespace: apps}\nspec:\n  parentRef: {name: gw, namespace: infra}\n  listeners: [{name: l, protocol: HTTP, port: 8080, hostname: x.victim.test}, {name: m, protocol: HTTP, port: 9090}]\n---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: victim2, namespace: apps}\nspec:\n  parentRefs: [{kind: ListenerSet, name: ls}]\n  rules: [{backendRefs: [{name: app, port: 80}]}]\n",
			want: `Gateway infra/gw does not allow ListenerSets from namespace "apps" (spec.allowedListeners.namespaces.from: None)`, untargeted: true},
		"VirtualHostOption targeting a ListenerSet of another namespace": {extra: strings.Replace(vhoFor(t, "victim", jwt), "kind: Gateway, name: gw, sectionName: victim", "kind: ListenerSet, name: ls, namespace: apps", 1),
			want: `"apps" differs from the option's namespace`, untargeted: true},
		"VirtualHostOption targeting a ListenerSet that does not exist": {extra: strings.Replace(vhoFor(t, "victim", jwt), "kind: Gateway, name: gw, sectionName: victim", "kind: ListenerSet, name: nope", 1),
			want: "ListenerSet infra/nope not found", untargeted: true},
		"binary garbage":  {extra: "\n---\n\x00\x01\x02\xff\xfe", loadError: "hostile.yaml:"},
		"empty documents": {extra: "\n---\n---\n\n---\n"},
		"unknown kind":    {extra: "\n---\napiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g}\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if tc.loadError != "" {
				_, err := resource.Load("hostile.yaml", []byte(base+tc.extra))
				if err == nil || !strings.Contains(err.Error(), tc.loadError) {
					t.Fatalf("load error = %v, want %q", err, tc.loadError)
				}
				return
			}
			gc := translateExpecting(t, "hostile.yaml", base+tc.extra, tc.want)
			for _, vh := range gc.Routes[0].VirtualHosts {
				for _, r := range vh.Routes {
					forwarded := r.GetRoute() != nil
					switch {
					case vh.Name == "bystander.test" && !forwarded:
						t.Errorf("the bystander route is not served: %v", r.Action)
					case strings.HasPrefix(r.Name, "apps/victim2/") && forwarded:
						t.Errorf("the refused route %s is forwarded: %v", r.Name, r.Action)
					case vh.Name == "victim.test" && tc.want != "" && !tc.untargeted && forwarded && r.TypedPerFilterConfig == nil && vh.TypedPerFilterConfig == nil:
						t.Errorf("route %s of the victim is forwarded with no policy after a refused option", r.Name)
					}
				}
			}
			for _, c := range gc.Clusters {
				if c.GetTransportSocket() != nil {
					t.Errorf("cluster %s is reached over TLS: no policy of apps targets it", c.Name)
				}
			}
			if _, err := xds.BuildSnapshot(gc, nil); err != nil {
				t.Fatal(err)
			}
			b, err := testenv.StaticBootstrap(gc)
			if err != nil {
				t.Fatal(err)
			}
			testenv.ValidateEnvoyConfig(t, b)
		})
	}
}
