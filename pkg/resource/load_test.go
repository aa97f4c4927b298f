package resource

import (
	"strings"
	"testing"
	"time"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

func TestLoad(t *testing.T) {
	tests := map[string]struct {
		in        string
		wantErr   string // substring of the error; "" = no error
		wantKinds []string
		wantLines []int
	}{
		"multi-document with line numbers": {
			in:        "# comment\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ns\n---\n\n---\napiVersion: gateway.solo.io/v1\nkind: RouteOption\nmetadata:\n  name: r\n",
			wantKinds: []string{"Gateway", "Namespace", "RouteOption"},
			wantLines: []int{1, 7, 14},
		},
		"unknown field named with its path and line": {
			in:      "apiVersion: gateway.solo.io/v1\nkind: VirtualHostOption\nmetadata:\n  name: jwt\n  namespace: gloo-system\nspec:\n  options:\n    jwtt:\n      providers: {}\n",
			wantErr: `x.yaml:8: VirtualHostOption gloo-system/jwt: unknown field "spec.options.jwtt"`,
		},
		"unknown field in a list item": {
			in:      "apiVersion: gateway.solo.io/v1\nkind: RouteOption\nmetadata:\n  name: r\nspec:\n  options:\n    rbac:\n      policies:\n        viewer:\n          principals:\n          - jwtPrincipal: {}\n            other: 1\n",
			wantErr: `x.yaml:12: RouteOption r: unknown field "spec.options.rbac.policies.viewer.principals[0].other"`,
		},
		"duplicate field": {
			in:      "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  name: t\n",
			wantErr: `duplicate field`,
		},
		"YAML syntax error with its line": {
			in:      "apiVersion: v1\nkind: Service\nmetadata:\n  name: [s\n",
			wantErr: "x.yaml:",
		},
		"not an object": {
			in:      "just a string\n",
			wantErr: "x.yaml:1: not a Kubernetes object",
		},
		"missing name": {
			in:      "apiVersion: v1\nkind: Service\nmetadata: {}\n",
			wantErr: "metadata.name is required",
		},
		"wrong type": {
			in:      "apiVersion: gateway.solo.io/v1\nkind: RouteOption\nmetadata:\n  name: r\nspec:\n  targetRefs: 3\n",
			wantErr: "RouteOption",
		},
		"JSON document": {
			in:        `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}}`,
			wantKinds: []string{"Service"},
			wantLines: []int{1},
		},
		"empty file": {in: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			docs, err := Load("x.yaml", []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				if docs != nil {
					t.Fatalf("a file with an error returned %d documents", len(docs))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != len(tc.wantKinds) {
				t.Fatalf("got %d documents, want %d", len(docs), len(tc.wantKinds))
			}
			for i, d := range docs {
				if d.GVK.Kind != tc.wantKinds[i] || d.Line != tc.wantLines[i] {
					t.Errorf("doc %d = %s at line %d, want %s at line %d", i, d.GVK.Kind, d.Line, tc.wantKinds[i], tc.wantLines[i])
				}
			}
		})
	}
}

func TestLoadDecodesTypesAndDefaultsNamespace(t *testing.T) {
	docs, err := Load("x.yaml", []byte("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: r\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: c\n---\napiVersion: gateway.solo.io/v1\nkind: RouteOption\nmetadata:\n  name: o\n  namespace: x\nspec:\n  options:\n    rbac:\n      policies:\n        p:\n          principals:\n          - jwtPrincipal:\n              matcher: LIST_CONTAINS\n"))
	if err != nil {
		t.Fatal(err)
	}
	route, ok := docs[0].Object.(*gwv1.HTTPRoute)
	if !ok || route.Namespace != DefaultNamespace {
		t.Fatalf("doc 0 = %#v, want an HTTPRoute in %q", docs[0].Object, DefaultNamespace)
	}
	if docs[1].Object != nil {
		t.Fatalf("a PersistentVolumeClaim decoded to %T; kinds gatewarden does not read have no Object", docs[1].Object)
	}
	ro := docs[2].Object.(*optv1.RouteOption)
	if got := ro.Spec.Options.Rbac.Policies["p"].Principals[0].JwtPrincipal.Matcher; got != optv1.ClaimMatcherListContains {
		t.Fatalf("matcher = %q", got)
	}
	var res Resources
	for _, d := range docs {
		if d.Object != nil && !res.Add(d.Object) {
			t.Fatalf("Add refused %T", d.Object)
		}
	}
	if res.Len() != 2 {
		t.Fatalf("Len = %d, want 2", res.Len())
	}
}

func TestLoadRefusesAliasBombs(t *testing.T) {
	for name, in := range map[string]string{
		"self-referring alias": "apiVersion: v1\nkind: Service\nmetadata: &m {name: s, labels: *m}\n",
		"self-referring merge": "apiVersion: v1\nkind: Service\nmetadata: &m {name: s, <<: *m}\n",
		"billion laughs":       "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n  g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := Load("x.yaml", []byte(in)); done <- err }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("accepted")
				}
				t.Log(err)
			case <-time.After(5 * time.Second):
				t.Fatal("the loader did not return within 5 s")
			}
		})
	}
}
