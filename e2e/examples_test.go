package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/explain"
	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/translator"
)

// exampleCase is one request of an example's README, with Envoy's answer.
type exampleCase struct {
	path, token string // token: a name from the examples' tokens.env files, or ""
	code        int
	body        []string // substrings of the body
	notBody     []string
}

var exampleCases = map[string][]exampleCase{
	"gateway-jwt": {
		{path: "/headers", code: 401, body: []string{"Jwt is missing"}},
		{path: "/headers", token: "ALICE_TOKEN", code: 200},
		{path: "/headers", token: "BOB_TOKEN", code: 403, body: []string{"RBAC: access denied"}},
	},
	"route-jwt": {
		{path: "/anything/public", code: 200},
		{path: "/headers", code: 401, body: []string{"Jwt is missing"}},
		{path: "/headers", token: "ALICE_TOKEN", code: 200},
		{path: "/headers", token: "BOB_TOKEN", code: 403},
	},
	"remote-jwks": {
		{path: "/headers", code: 401},
		{path: "/headers", token: "ALICE_TOKEN", code: 200},
		{path: "/headers", token: "CAROL_TOKEN", code: 401, body: []string{"Jwt issuer is not configured"}},
	},
	"claims-to-headers": {
		{path: "/headers", token: "ALICE_TOKEN", code: 200, body: []string{"\"X-User\": [\n      \"alice\"", "\"X-Team\": [\n      \"dev\""}, notBody: []string{"Authorization"}},
		{path: "/headers", token: "BOB_TOKEN", code: 200, body: []string{"\"X-Team\": [\n      \"ops\""}},
	},
	"several-providers": {
		{path: "/headers", code: 401},
		{path: "/headers", token: "ALICE_TOKEN", code: 200},
		{path: "/headers", token: "BOB_TOKEN", code: 403},
		{path: "/headers", token: "CAROL_TOKEN", code: 200},
	},
}

// TestExamples serves each example directory (ports rewritten for the test)
// to real Envoy and checks the answers its README shows, and that explain
// gives the same codes; each example must also translate with every object
// accepted.
func TestExamples(t *testing.T) {
	root := testenv.RepoRoot()
	tokens := readEnv(t, filepath.Join(root, "examples/gateway-jwt/tokens.env"))
	for k, v := range readEnv(t, filepath.Join(root, "examples/keys/tokens.env")) {
		tokens[k] = v
	}
	for name, cases := range exampleCases {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(root, "examples", name)
			scan := dir.Load(src)
			if len(scan.Problems) > 0 {
				t.Fatalf("%s does not load: %v", src, scan.Problems)
			}
			if p := translator.Translate(scan.Resources, translator.Options{AllowLoopbackBackends: true}).Status.Problems(); len(p) > 0 {
				t.Fatalf("%s: not every object is accepted: %+v", src, p)
			}
			jwks := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(src, "jwks"))))
			defer jwks.Close()
			jwksPort := jwks.Listener.Addr().(*net.TCPAddr).Port
			e := startDirEnv(t, false, func(e *dirEnv) {
				writeRewritten(t, scan.Resources, e.dir, map[string]int{
					"listener": e.gwPort, "httpbin.localhost": e.httpbinPort, "jwks.localhost": jwksPort})
			})
			rescan := dir.Load(e.dir)
			ex, err := explain.New(translator.Translate(rescan.Resources, translator.Options{AllowLoopbackBackends: true}).Gateways, explain.Options{FetchJWKS: explain.HTTPFetch})
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range cases {
				var headers []string
				if c.token != "" {
					headers = append(headers, "Authorization: Bearer "+tokens[c.token])
				}
				check := func() string {
					a := get(t, e.url+c.path, guideHost, headers...)
					if a.code != c.code {
						return a.String()
					}
					for _, b := range c.body {
						if !strings.Contains(a.body, b) {
							return fmt.Sprintf("body lacks %q:\n%s", b, a.body)
						}
					}
					for _, b := range c.notBody {
						if strings.Contains(a.body, b) {
							return fmt.Sprintf("body has %q:\n%s", b, a.body)
						}
					}
					return ""
				}
				deadline := propagation
				if i == 0 {
					deadline = 15 * time.Second
				}
				eventually(t, deadline, fmt.Sprintf("%s %s with %q", name, c.path, c.token), check)
				h := http.Header{"Host": {guideHost}}
				if c.token != "" {
					h.Set("Authorization", "Bearer "+tokens[c.token])
				}
				d, err := ex.Explain("", explain.Request{URL: e.url + c.path, Header: h})
				if err != nil {
					t.Fatal(err)
				}
				if d.Code != c.code {
					t.Errorf("%s %s with %q: explain says %s, Envoy %d", name, c.path, c.token, d.Summary(), c.code)
				}
			}
			t.Logf("%s: %d requests answered as its README shows, by Envoy and by explain", name, len(cases))
		})
	}
}

// writeRewritten writes resources into dir as YAML, with the Gateway
// listeners on ports["listener"] and each FQDN endpoint on the port given for
// its name.
func writeRewritten(t *testing.T, res *resource.Resources, dir string, ports map[string]int) {
	t.Helper()
	var docs []string
	add := func(kind, apiVersion string, obj any) {
		b, err := sigsyaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		// The loader keeps each object's apiVersion and kind; check it did.
		if !strings.Contains(string(b), "kind: "+kind+"\n") || !strings.Contains(string(b), "apiVersion: "+apiVersion+"\n") {
			t.Fatalf("%s lost its apiVersion or kind:\n%s", kind, b)
		}
		docs = append(docs, string(b))
	}
	for _, g := range res.GatewayClasses {
		add("GatewayClass", "gateway.networking.k8s.io/v1", g)
	}
	for _, g := range res.Gateways {
		g = g.DeepCopy()
		for i := range g.Spec.Listeners {
			g.Spec.Listeners[i].Port = gwv1.PortNumber(ports["listener"])
		}
		add("Gateway", "gateway.networking.k8s.io/v1", g)
	}
	for _, r := range res.HTTPRoutes {
		add("HTTPRoute", "gateway.networking.k8s.io/v1", r)
	}
	for _, s := range res.Services {
		add("Service", "v1", s)
	}
	for _, es := range res.EndpointSlices {
		es = es.DeepCopy()
		if len(es.Endpoints) > 0 && len(es.Endpoints[0].Addresses) > 0 {
			if p, ok := ports[es.Endpoints[0].Addresses[0]]; ok {
				for i := range es.Ports {
					es.Ports[i].Port = ptrTo(int32(p))
				}
			}
		}
		add("EndpointSlice", discoveryv1.SchemeGroupVersion.String(), es)
	}
	for _, o := range res.VirtualHostOptions {
		add("VirtualHostOption", "gateway.solo.io/v1", o)
	}
	for _, o := range res.RouteOptions {
		add("RouteOption", "gateway.solo.io/v1", o)
	}
	if err := os.WriteFile(filepath.Join(dir, "all.yaml"), []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func ptrTo[T any](v T) *T { return &v }
