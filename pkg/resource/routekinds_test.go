package resource

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestRouteKindsAreRead: every route kind of the table is loaded from a
// manifest of each of its versions into its Go type, which Resources takes
// and which the table's status reaches.
func TestRouteKindsAreRead(t *testing.T) {
	for _, k := range RouteKinds {
		for _, v := range k.Versions {
			t.Run(k.Kind+"/"+v, func(t *testing.T) {
				doc := fmt.Sprintf("apiVersion: %s/%s\nkind: %s\nmetadata: {name: r}\n", gwv1.GroupName, v, k.Kind)
				docs, err := Load("route.yaml", []byte(doc))
				if err != nil {
					t.Fatal(err)
				}
				if len(docs) != 1 || docs[0].Object == nil {
					t.Fatalf("docs = %+v, want one %s", docs, k.Kind)
				}
				if got, want := reflect.TypeOf(docs[0].Object), reflect.TypeOf(k.New()); got != want {
					t.Fatalf("loaded a %v, want %v", got, want)
				}
				var res Resources
				if !res.Add(docs[0].Object) || res.Len() != 1 {
					t.Fatalf("Resources does not take a %s", k.Kind)
				}
				obj, ok := docs[0].Object.(APIObject)
				if !ok {
					t.Fatalf("%T is not an APIObject", docs[0].Object)
				}
				if k.Status(obj) == nil {
					t.Fatalf("no status for a %s", k.Kind)
				}
			})
		}
	}
}

// TestREADMENamesRouteKinds keeps the README's list of what gatewarden
// reads in step with the table.
func TestREADMENamesRouteKinds(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	intro, _, _ := strings.Cut(string(b), "\n\n#")
	intro = strings.Join(strings.Fields(intro), " ")
	for _, k := range RouteKinds {
		if !strings.Contains(intro, k.Kind+",") {
			t.Errorf("README.md's introduction does not name %s among the kinds gatewarden reads", k.Kind)
		}
	}
}

func TestRouteOptionTargets(t *testing.T) {
	if got, want := RouteOptionTargets(), "gateway.networking.k8s.io/HTTPRoute or gateway.networking.k8s.io/GRPCRoute"; got != want {
		t.Errorf("RouteOptionTargets() = %q, want %q", got, want)
	}
	for kind, want := range map[string]bool{"HTTPRoute": true, "GRPCRoute": true, "TLSRoute": false, "TCPRoute": false, "Gateway": false} {
		if got := IsRouteOptionTarget(kind); got != want {
			t.Errorf("IsRouteOptionTarget(%q) = %v, want %v", kind, got, want)
		}
	}
}
