package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/explain"
	"github.com/gatewarden/gatewarden/pkg/jwt"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/translator"
)

// keys of the option tests; each scenario's providers use some of them.
type optionKeys struct {
	k1, k2, remote, pem, noKid *jwt.Key
}

func newOptionKeys(t *testing.T) optionKeys {
	t.Helper()
	return optionKeys{
		k1:     newKey(t, jwt.GenerateRSA, "k1"),
		k2:     newKey(t, jwt.GenerateEC, "k2"),
		remote: newKey(t, jwt.GenerateRSA, "remote-1"),
		pem:    newKey(t, jwt.GenerateRSA, ""),
		noKid:  newKey(t, jwt.GenerateRSA, ""),
	}
}

var optionScenarios = []string{"aud", "header", "query", "keep", "claims", "skew", "allowmissing", "allowfailed",
	"routejwt", "routerbac", "perm", "matchers", "provider", "remote", "pem", "nokid", "or", "and", "staged", "invalid"}

var matcherPolicies = map[string]string{
	"exact":   `{nestedClaimDelimiter: ".", principals: [{jwtPrincipal: {claims: {org.team: dev}}}]}`,
	"bool":    `{principals: [{jwtPrincipal: {claims: {admin: "true"}, matcher: BOOLEAN}}]}`,
	"list":    `{principals: [{jwtPrincipal: {claims: {roles: admin}, matcher: LIST_CONTAINS}}]}`,
	"nlist":   `{nestedClaimDelimiter: ".", principals: [{jwtPrincipal: {claims: {llms.mistralai: mistral-large-latest}, matcher: LIST_CONTAINS}}]}`,
	"regex":   `{principals: [{jwtPrincipal: {claims: {team: de.}, matcher: REGEX_MATCH}}]}`,
	"nregex":  `{nestedClaimDelimiter: ".", principals: [{jwtPrincipal: {claims: {org.team: "d.v"}, matcher: REGEX_MATCH}}]}`,
	"literal": `{principals: [{jwtPrincipal: {claims: {org.team: dev}}}]}`,
	"nbool":   `{nestedClaimDelimiter: "/", principals: [{jwtPrincipal: {claims: {flags/beta: "false"}, matcher: BOOLEAN}}]}`,
}

func render(t *testing.T, text string, data any) string {
	t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("m").Parse(text)).Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestOptionsAgainstEnvoy proves each field of the option API by the answer
// real Envoy gives: one Gateway, a listener per scenario, every case a
// request with its token and the status (and body or echoed header) wanted.
func TestOptionsAgainstEnvoy(t *testing.T) {
	keys := newOptionKeys(t)
	jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, keys.remote.JWKS())
	}))
	defer jwksSrv.Close()
	jwksPort := jwksSrv.Listener.Addr().(*net.TCPAddr).Port

	noKidJWKS := func() string {
		j := keys.noKid.PublicJWK()
		j.KeyID = ""
		b, err := json.Marshal(map[string]any{"keys": []any{j}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}()
	var matchers []string
	for m := range matcherPolicies {
		matchers = append(matchers, m)
	}
	e := startDirEnv(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("gateway.yaml", testenv.GatewayClassManifest+render(t, testenv.Fixture(t, "options-gateway.yaml"), map[string]any{
			"Scenarios": optionScenarios, "Port": e.gwPort, "Matchers": matchers,
			"Backends": testenv.Backend("apps", "httpbin", "http", 8000, e.httpbinPort, "127.0.0.1") +
				testenv.Backend("infra", "jwks", "http", 8080, jwksPort, "127.0.0.1"),
		}))
		e.write("options.yaml", render(t, testenv.Fixture(t, "options-policies.yaml"), map[string]any{
			"K1": keys.k1.JWKS(), "K2": keys.k2.JWKS(), "PEM": strings.ReplaceAll(strings.TrimSpace(keys.pem.PublicPEM()), "\n", "\n                "),
			"NoKid": noKidJWKS, "MatcherPolicies": matcherPolicies,
		}))
	})

	mint := func(k *jwt.Key, iss string, claims jwt.Claims, o ...func(*jwt.MintOptions)) string {
		mo := jwt.MintOptions{Issuer: iss, TTL: time.Hour}
		for _, f := range o {
			f(&mo)
		}
		tok, err := jwt.Mint(k, claims, mo)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	aud := func(a ...string) func(*jwt.MintOptions) { return func(o *jwt.MintOptions) { o.Audience = a } }
	expiredBy := func(d time.Duration) func(*jwt.MintOptions) {
		return func(o *jwt.MintOptions) { o.Now = time.Now().Add(-d - time.Minute); o.TTL = time.Minute }
	}
	bearer := func(tok string) string { return "Authorization: Bearer " + tok }
	alice := mint(keys.k1, "iss-1", jwt.Claims{"sub": "alice", "team": "dev", "org": "solo.io"})
	bob := mint(keys.k1, "iss-1", jwt.Claims{"sub": "bob", "team": "ops", "org": "solo.io"})
	otherKey := mint(keys.k2, "iss-1", jwt.Claims{"sub": "mallory", "team": "dev"})
	// Bob's payload with Alice's signature: claims changed after signing.
	aliceParts, bobParts := strings.Split(alice, "."), strings.Split(bob, ".")
	tampered := aliceParts[0] + "." + bobParts[1] + "." + aliceParts[2]
	impostor := newKey(t, jwt.GenerateRSA, "k1") // another key claiming k1's kid
	remoteImpostor := newKey(t, jwt.GenerateRSA, "remote-1")

	type tc struct {
		name, host, method, path string
		headers                  []string
		code                     int
		body                     string // substring of the body
		notBody                  string // must not be in the body
	}
	cases := []tc{
		{name: "audience accepted", host: "aud", headers: []string{bearer(mint(keys.k1, "iss-1", nil, aud("api")))}, code: 200},
		// Envoy answers a valid token for another audience with 403, not 401.
		{name: "audience rejected", host: "aud", headers: []string{bearer(mint(keys.k1, "iss-1", nil, aud("other")))}, code: 403, body: "Audiences in Jwt are not allowed"},
		{name: "audience missing", host: "aud", headers: []string{bearer(alice)}, code: 403, body: "Audiences in Jwt are not allowed"},
		{name: "expired beyond default skew", host: "aud", headers: []string{bearer(mint(keys.k1, "iss-1", nil, aud("api"), expiredBy(2*time.Minute)))}, code: 401, body: "Jwt is expired"},
		{name: "expired within default skew", host: "aud", headers: []string{bearer(mint(keys.k1, "iss-1", nil, aud("api"), expiredBy(20*time.Second)))}, code: 200},
		{name: "wrong issuer", host: "or", headers: []string{bearer(mint(keys.k1, "iss-other", jwt.Claims{"team": "dev"}))}, code: 401, body: "Jwt issuer is not configured"},
		{name: "custom header with prefix", host: "header", headers: []string{"x-token: Token " + alice}, code: 200},
		{name: "custom header, wrong prefix", host: "header", headers: []string{"x-token: Bearer " + alice}, code: 401},
		{name: "custom header only: Authorization ignored", host: "header", headers: []string{bearer(alice)}, code: 401, body: "Jwt is missing"},
		{name: "query parameter", host: "query", path: "/headers?jwt=" + alice, code: 200},
		{name: "query parameter only: header ignored", host: "query", headers: []string{bearer(alice)}, code: 401, body: "Jwt is missing"},
		{name: "keepToken true forwards it", host: "keep", headers: []string{bearer(alice)}, code: 200, body: alice},
		{name: "keepToken false strips it", host: "or", headers: []string{bearer(alice)}, code: 200, notBody: alice},
		{name: "claimsToHeaders", host: "claims", headers: []string{bearer(mint(keys.k1, "iss-1", jwt.Claims{"sub": "alice", "org": map[string]any{"team": "platform"}})), "x-sub: forged"}, code: 200, body: `"X-Sub": [
      "alice"`},
		{name: "claimsToHeaders nested claim", host: "claims", headers: []string{bearer(mint(keys.k1, "iss-1", jwt.Claims{"sub": "alice", "org": map[string]any{"team": "platform"}}))}, code: 200, body: `"X-Team": [
      "platform"`},
		{name: "claimsToHeaders: forged header replaced", host: "claims", headers: []string{bearer(alice), "x-sub: forged"}, code: 200, notBody: "forged"},
		{name: "expired within clockSkewSeconds 300", host: "skew", headers: []string{bearer(mint(keys.k1, "iss-1", nil, expiredBy(4*time.Minute)))}, code: 200},
		{name: "expired beyond clockSkewSeconds 300", host: "skew", headers: []string{bearer(mint(keys.k1, "iss-1", nil, expiredBy(6*time.Minute)))}, code: 401, body: "Jwt is expired"},
		{name: "ALLOW_MISSING, no token", host: "allowmissing", code: 200},
		{name: "ALLOW_MISSING, bad token", host: "allowmissing", headers: []string{bearer(tampered)}, code: 401, body: "Jwt verification fails"},
		{name: "ALLOW_MISSING, good token", host: "allowmissing", headers: []string{bearer(alice)}, code: 200},
		{name: "ALLOW_MISSING_OR_FAILED, bad token, no RBAC", host: "allowfailed", path: "/anything", headers: []string{bearer(tampered)}, code: 200},
		{name: "ALLOW_MISSING_OR_FAILED, bad token, RBAC still applies", host: "allowfailed", headers: []string{bearer(tampered)}, code: 403, body: "RBAC: access denied"},
		{name: "ALLOW_MISSING_OR_FAILED, no token, RBAC still applies", host: "allowfailed", code: 403, body: "RBAC: access denied"},
		{name: "ALLOW_MISSING_OR_FAILED, good token passes RBAC", host: "allowfailed", headers: []string{bearer(alice)}, code: 200},
		{name: "route jwt disabled", host: "routejwt", path: "/anything", code: 200},
		{name: "route jwt kept elsewhere", host: "routejwt", code: 401, body: "Jwt is missing"},
		{name: "route rbac disabled", host: "routerbac", path: "/anything", headers: []string{bearer(bob)}, code: 200},
		{name: "virtual host rbac elsewhere: ops denied", host: "routerbac", headers: []string{bearer(bob)}, code: 403, body: "RBAC: access denied"},
		{name: "virtual host rbac elsewhere: dev allowed", host: "routerbac", headers: []string{bearer(alice)}, code: 200},
		{name: "permission: path and method allowed", host: "perm", path: "/anything/allowed/x", headers: []string{bearer(alice)}, code: 200},
		{name: "permission: method denied", host: "perm", method: "POST", path: "/anything/allowed/x", headers: []string{bearer(alice)}, code: 403},
		{name: "permission: path denied", host: "perm", path: "/anything/other", headers: []string{bearer(alice)}, code: 403},
		{name: "permission: principal denied", host: "perm", path: "/anything/allowed", headers: []string{bearer(bob)}, code: 403},
		{name: "provider p2 selected: p2 token", host: "provider", headers: []string{bearer(mint(keys.k2, "iss-2", jwt.Claims{"team": "dev"}))}, code: 200},
		{name: "provider p2 selected: p1 token with the same claim", host: "provider", headers: []string{bearer(alice)}, code: 403},
		{name: "remote JWKS: its key", host: "remote", headers: []string{bearer(mint(keys.remote, "iss-r", nil))}, code: 200},
		{name: "remote JWKS: another key with its kid", host: "remote", headers: []string{bearer(mint(remoteImpostor, "iss-r", nil))}, code: 401, body: "Jwt verification fails"},
		{name: "remote JWKS: unknown kid", host: "remote", headers: []string{bearer(mint(keys.k1, "iss-r", nil))}, code: 401, body: "Jwks doesn't have key to match kid or alg from Jwt"},
		{name: "PEM key", host: "pem", headers: []string{bearer(mint(keys.pem, "iss-pem", nil))}, code: 200},
		{name: "PEM key: another key", host: "pem", headers: []string{bearer(mint(keys.k1, "iss-pem", nil))}, code: 401},
		{name: "JWK without kid verifies a token with kid", host: "nokid", headers: []string{bearer(mint(&jwt.Key{Signer: keys.noKid.Signer, KeyID: "any-kid", Alg: keys.noKid.Alg}, "iss-nokid", nil))}, code: 200},
		{name: "two policies OR-ed: first", host: "or", headers: []string{bearer(alice)}, code: 200},
		{name: "two policies OR-ed: second", host: "or", headers: []string{bearer(bob)}, code: 200},
		{name: "two policies OR-ed: neither", host: "or", headers: []string{bearer(mint(keys.k1, "iss-1", jwt.Claims{"team": "qa"}))}, code: 403},
		{name: "two claims AND-ed: both", host: "and", headers: []string{bearer(alice)}, code: 200},
		{name: "two claims AND-ed: one", host: "and", headers: []string{bearer(mint(keys.k1, "iss-1", jwt.Claims{"team": "dev", "org": "other"}))}, code: 403},
		{name: "staged: both stages", host: "staged", headers: []string{bearer(alice), "x-second: " + mint(keys.k2, "iss-2", nil)}, code: 200},
		{name: "staged: before only", host: "staged", headers: []string{bearer(alice)}, code: 401},
		{name: "staged: after only", host: "staged", headers: []string{"x-second: " + mint(keys.k2, "iss-2", nil)}, code: 401},
		{name: "staged: route replaces the after stage", host: "staged", path: "/status/200", headers: []string{bearer(alice), "x-route: " + mint(keys.k2, "iss-3", nil)}, code: 200},
		{name: "staged: route replaced stage ignores the old one", host: "staged", path: "/status/200", headers: []string{bearer(alice), "x-second: " + mint(keys.k2, "iss-2", nil)}, code: 401},
		{name: "staged: route with both stages disabled", host: "staged", path: "/anything", code: 200},
		{name: "invalid regex fails closed", host: "invalid", headers: []string{bearer(alice)}, code: 500, body: "policy of this route is invalid"},
		{name: "other key, unknown kid", host: "or", headers: []string{bearer(otherKey)}, code: 401, body: "Jwks doesn't have key to match kid or alg from Jwt"},
		{name: "other key, same kid", host: "or", headers: []string{bearer(mint(impostor, "iss-1", jwt.Claims{"team": "dev"}))}, code: 401, body: "Jwt verification fails"},
		{name: "tampered payload", host: "or", headers: []string{bearer(tampered)}, code: 401, body: "Jwt verification fails"},
	}
	m := func(claims jwt.Claims) []string { return []string{bearer(mint(keys.k1, "iss-1", claims))} }
	matcherCases := []tc{
		{name: "EXACT_STRING nested: match", path: "/anything/exact", headers: m(jwt.Claims{"org": map[string]any{"team": "dev"}}), code: 200},
		{name: "EXACT_STRING nested: other value", path: "/anything/exact", headers: m(jwt.Claims{"org": map[string]any{"team": "devops"}}), code: 403},
		{name: "EXACT_STRING nested: literal dotted key does not match", path: "/anything/exact", headers: m(jwt.Claims{"org.team": "dev"}), code: 403},
		{name: "EXACT_STRING literal dotted key: match", path: "/anything/literal", headers: m(jwt.Claims{"org.team": "dev"}), code: 200},
		{name: "EXACT_STRING literal dotted key: nested does not match", path: "/anything/literal", headers: m(jwt.Claims{"org": map[string]any{"team": "dev"}}), code: 403},
		{name: "BOOLEAN true", path: "/anything/bool", headers: m(jwt.Claims{"admin": true}), code: 200},
		{name: "BOOLEAN false", path: "/anything/bool", headers: m(jwt.Claims{"admin": false}), code: 403},
		{name: "BOOLEAN: the string \"true\" does not match", path: "/anything/bool", headers: m(jwt.Claims{"admin": "true"}), code: 403},
		{name: "BOOLEAN nested false, delimiter /", path: "/anything/nbool", headers: m(jwt.Claims{"flags": map[string]any{"beta": false}}), code: 200},
		{name: "BOOLEAN nested: true is not false", path: "/anything/nbool", headers: m(jwt.Claims{"flags": map[string]any{"beta": true}}), code: 403},
		{name: "LIST_CONTAINS", path: "/anything/list", headers: m(jwt.Claims{"roles": []string{"viewer", "admin"}}), code: 200},
		{name: "LIST_CONTAINS: not in list", path: "/anything/list", headers: m(jwt.Claims{"roles": []string{"viewer"}}), code: 403},
		{name: "LIST_CONTAINS: a string is not a list", path: "/anything/list", headers: m(jwt.Claims{"roles": "admin"}), code: 403},
		{name: "LIST_CONTAINS nested (the guide's Bob)", path: "/anything/nlist", headers: m(jwt.Claims{"llms": map[string]any{"mistralai": []string{"mistral-large-latest"}}}), code: 200},
		{name: "LIST_CONTAINS nested: claim absent", path: "/anything/nlist", headers: m(jwt.Claims{"llms": map[string]any{"openai": []string{"gpt-3.5-turbo"}}}), code: 403},
		{name: "REGEX_MATCH full match", path: "/anything/regex", headers: m(jwt.Claims{"team": "dev"}), code: 200},
		{name: "REGEX_MATCH is anchored at the end", path: "/anything/regex", headers: m(jwt.Claims{"team": "devops"}), code: 403},
		{name: "REGEX_MATCH is anchored at the start", path: "/anything/regex", headers: m(jwt.Claims{"team": "ode"}), code: 403},
		{name: "REGEX_MATCH: a list does not match", path: "/anything/regex", headers: m(jwt.Claims{"team": []string{"dev"}}), code: 403},
		{name: "REGEX_MATCH nested", path: "/anything/nregex", headers: m(jwt.Claims{"org": map[string]any{"team": "dav"}}), code: 200},
		{name: "no token on a matcher route", path: "/anything/exact", code: 401, body: "Jwt is missing"},
	}
	for _, c := range matcherCases {
		c.host = "matchers"
		cases = append(cases, c)
	}

	// Wait until the configuration is served: the last scenario answers.
	eventually(t, 15*time.Second, "configuration served", func() string {
		if a := do(t, "GET", e.url+"/headers", "and.test", bearer(alice)); a.code != 200 {
			return a.String()
		}
		return ""
	})
	failed := 0
	for _, c := range cases {
		method, path := c.method, c.path
		if method == "" {
			method = "GET"
		}
		if path == "" {
			path = "/headers"
		}
		host := c.host + ".test"
		a := do(t, method, e.url+path, host, c.headers...)
		ok := a.code == c.code && strings.Contains(a.body, c.body) && (c.notBody == "" || !strings.Contains(a.body, c.notBody))
		if !ok {
			failed++
			t.Errorf("%-60s %s %s%s: got %v, want %d %q (not %q)\n%s", c.name, method, host, path, a, c.code, c.body, c.notBody, a.body)
		}
	}
	t.Logf("%d option cases against Envoy, %d failed", len(cases), failed)

	// explain must agree with Envoy on every request of a matrix of hosts,
	// paths, methods and tokens.
	t.Run("explain agrees with Envoy", func(t *testing.T) {
		claims := func(c jwt.Claims) string { return bearer(mint(keys.k1, "iss-1", c)) }
		tokens := map[string][]string{
			"none": nil, "alice": {bearer(alice)}, "bob": {bearer(bob)}, "tampered": {bearer(tampered)},
			"other key": {bearer(otherKey)}, "impostor": {bearer(mint(impostor, "iss-1", jwt.Claims{"team": "dev"}))},
			"expired 2m":    {bearer(mint(keys.k1, "iss-1", jwt.Claims{"team": "dev"}, expiredBy(2*time.Minute)))},
			"expired 6m":    {bearer(mint(keys.k1, "iss-1", jwt.Claims{"team": "dev"}, expiredBy(6*time.Minute)))},
			"not yet valid": {bearer(mint(keys.k1, "iss-1", jwt.Claims{"team": "dev", "nbf": time.Now().Add(10 * time.Minute).Unix()}))},
			"wrong issuer":  {bearer(mint(keys.k1, "iss-x", jwt.Claims{"team": "dev"}))},
			"aud api":       {bearer(mint(keys.k1, "iss-1", jwt.Claims{"team": "dev"}, aud("api")))},
			"aud other":     {bearer(mint(keys.k1, "iss-1", nil, aud("other")))},
			"p2 dev":        {bearer(mint(keys.k2, "iss-2", jwt.Claims{"team": "dev"}))},
			"remote":        {bearer(mint(keys.remote, "iss-r", nil))}, "remote impostor": {bearer(mint(remoteImpostor, "iss-r", nil))},
			"pem":    {bearer(mint(keys.pem, "iss-pem", nil))},
			"no kid": {bearer(mint(&jwt.Key{Signer: keys.noKid.Signer, KeyID: "x", Alg: keys.noKid.Alg}, "iss-nokid", nil))},
			"qa":     {claims(jwt.Claims{"team": "qa"})}, "devops": {claims(jwt.Claims{"team": "devops"})},
			"nested dev": {claims(jwt.Claims{"org": map[string]any{"team": "dev"}})}, "literal dev": {claims(jwt.Claims{"org.team": "dev"})},
			"admin true": {claims(jwt.Claims{"admin": true})}, "admin string": {claims(jwt.Claims{"admin": "true"})},
			"roles": {claims(jwt.Claims{"roles": []string{"admin"}})}, "beta false": {claims(jwt.Claims{"flags": map[string]any{"beta": false}})},
			"mistral":          {claims(jwt.Claims{"llms": map[string]any{"mistralai": []string{"mistral-large-latest"}}})},
			"lowercase bearer": {"Authorization: bearer " + alice}, "x-token": {"x-token: Token " + alice},
			"two stages":  {bearer(alice), "x-second: " + mint(keys.k2, "iss-2", nil)},
			"route stage": {bearer(alice), "x-route: " + mint(keys.k2, "iss-3", nil)},
			"not a jwt":   {"Authorization: Bearer not-a-jwt"},
		}
		type probe struct{ method, path string }
		probes := []probe{{"GET", "/headers"}, {"GET", "/anything"}, {"POST", "/anything/allowed/x"}, {"GET", "/anything/allowed/x"}, {"GET", "/status/200"}, {"GET", "/headers?jwt=" + alice}}
		for m := range matcherPolicies {
			probes = append(probes, probe{"GET", "/anything/" + m})
		}
		scan := dir.Load(e.dir)
		if len(scan.Problems) > 0 {
			t.Fatal(scan.Problems)
		}
		ex, err := explain.New(translator.Translate(scan.Resources, translator.Options{AllowLoopbackBackends: true}).Gateways, explain.Options{FetchJWKS: explain.HTTPFetch})
		if err != nil {
			t.Fatal(err)
		}
		hosts := append(append([]string{}, optionScenarios...), "unknown")
		pairs, disagreements := 0, 0
		for _, h := range hosts {
			host := h + ".test"
			for _, p := range probes {
				if h != "matchers" && strings.HasPrefix(p.path, "/anything/") && !strings.HasPrefix(p.path, "/anything/allowed") {
					continue // matcher paths only matter on the matchers host
				}
				for _, name := range sortedTokenNames(tokens) {
					hdrs := tokens[name]
					got := do(t, p.method, e.url+p.path, host, hdrs...)
					header := http.Header{"Host": {host}}
					for _, kv := range hdrs {
						k, v, _ := strings.Cut(kv, ":")
						header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
					}
					d, err := ex.Explain("", explain.Request{Method: p.method, URL: e.url + p.path, Header: header})
					if err != nil {
						t.Fatal(err)
					}
					pairs++
					if d.Code != got.code || (d.Body != "" && !strings.Contains(got.body, strings.TrimSpace(d.Body))) {
						disagreements++
						if disagreements <= 5 {
							t.Errorf("%s %s%s with %s: Envoy %v, explain %s\n%s", p.method, host, p.path, name, got, d.Summary(), strings.Join(d.Steps, "\n"))
						}
					}
				}
			}
		}
		t.Logf("explain vs Envoy: %d request pairs compared, %d disagreements", pairs, disagreements)
		if pairs < 200 {
			t.Fatalf("only %d pairs compared; the matrix must have at least 200", pairs)
		}
	})
	e.checkEnvoy()
}

func sortedTokenNames(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
