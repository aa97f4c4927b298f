package v1_test

import (
	"reflect"
	"slices"
	"testing"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// TestContentKeyCoversEveryField keeps ContentKey complete: a field
// it does not encode would let two different rule sets share a translation.
func TestContentKeyCoversEveryField(t *testing.T) {
	encoded := map[reflect.Type][]string{
		reflect.TypeFor[optv1.RBACExtension]():   {"Disable", "Policies"},
		reflect.TypeFor[optv1.RBACPolicy]():      {"Principals", "Permissions", "NestedClaimDelimiter"},
		reflect.TypeFor[optv1.RBACPrincipal]():   {"JwtPrincipal"},
		reflect.TypeFor[optv1.JWTPrincipal]():    {"Claims", "Provider", "Matcher"},
		reflect.TypeFor[optv1.RBACPermissions](): {"PathPrefix", "Methods"},
	}
	for typ, fields := range encoded {
		var have []string
		for i := range typ.NumField() {
			have = append(have, typ.Field(i).Name)
		}
		slices.Sort(have)
		want := slices.Sorted(slices.Values(fields))
		if !slices.Equal(have, want) {
			t.Errorf("%s has fields %v; ContentKey encodes %v: update it", typ, have, want)
		}
	}
}

// TestContentKeyDistinguishes checks that changing any one field changes
// the key, and that map order does not.
func TestContentKeyDistinguishes(t *testing.T) {
	base := func() *optv1.RBACExtension {
		return &optv1.RBACExtension{Policies: map[string]optv1.RBACPolicy{
			"a": {NestedClaimDelimiter: ".", Principals: []optv1.RBACPrincipal{{JwtPrincipal: optv1.JWTPrincipal{
				Claims: map[string]string{"x": "1", "y": "2"}, Provider: "p", Matcher: optv1.ClaimMatcherExactString}}},
				Permissions: &optv1.RBACPermissions{PathPrefix: "/a", Methods: []string{"GET"}}},
			"b": {},
		}}
	}
	k := base().ContentKey()
	if k != base().ContentKey() {
		t.Fatal("the key of equal extensions differs")
	}
	changes := map[string]func(*optv1.RBACExtension){
		"disable":   func(e *optv1.RBACExtension) { e.Disable = true },
		"policy":    func(e *optv1.RBACExtension) { e.Policies["c"] = optv1.RBACPolicy{} },
		"delimiter": func(e *optv1.RBACExtension) { p := e.Policies["a"]; p.NestedClaimDelimiter = "/"; e.Policies["a"] = p },
		"claim value": func(e *optv1.RBACExtension) {
			e.Policies["a"].Principals[0].JwtPrincipal.Claims["x"] = "2"
		},
		"claim split": func(e *optv1.RBACExtension) {
			c := e.Policies["a"].Principals[0].JwtPrincipal.Claims
			delete(c, "x")
			c["x1"] = ""
		},
		"provider": func(e *optv1.RBACExtension) { e.Policies["a"].Principals[0].JwtPrincipal.Provider = "q" },
		"matcher": func(e *optv1.RBACExtension) {
			e.Policies["a"].Principals[0].JwtPrincipal.Matcher = optv1.ClaimMatcherRegexMatch
		},
		"path":        func(e *optv1.RBACExtension) { e.Policies["a"].Permissions.PathPrefix = "/b" },
		"methods":     func(e *optv1.RBACExtension) { e.Policies["a"].Permissions.Methods = nil },
		"permissions": func(e *optv1.RBACExtension) { p := e.Policies["a"]; p.Permissions = nil; e.Policies["a"] = p },
		"principal": func(e *optv1.RBACExtension) {
			p := e.Policies["a"]
			p.Principals = append(p.Principals, optv1.RBACPrincipal{})
			e.Policies["a"] = p
		},
		"policy names": func(e *optv1.RBACExtension) { e.Policies["ab"] = e.Policies["b"]; delete(e.Policies, "b") },
	}
	for name, change := range changes {
		e := base()
		change(e)
		if e.ContentKey() == k {
			t.Errorf("%s: the key did not change", name)
		}
	}
}
