package resource

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

func routeOptionDoc(name, team string) string {
	return fmt.Sprintf(`apiVersion: gateway.solo.io/v1
kind: RouteOption
metadata: {name: %s, namespace: ns}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: %s}]
  options:
    rbac:
      policies:
        team:
          nestedClaimDelimiter: .
          principals:
          - jwtPrincipal: {claims: {org.team: %s}}
`, name, name, team)
}

// TestEqualRulesAreHeldOnce loads options with equal and different rules:
// equal ones share one value, and values no document uses are let go.
func TestEqualRulesAreHeldOnce(t *testing.T) {
	before := rbacRules.len()
	docs, err := Load("routes.yaml", []byte(routeOptionDoc("a", "red")+"---\n"+routeOptionDoc("b", "red")+"---\n"+routeOptionDoc("c", "blue")))
	if err != nil {
		t.Fatal(err)
	}
	rbac := func(i int) *optv1.RBACExtension { return docs[i].Object.(*optv1.RouteOption).Spec.Options.Rbac }
	if rbac(0) != rbac(1) {
		t.Fatal("equal rules are held twice")
	}
	if rbac(0) == rbac(2) {
		t.Fatal("different rules were merged")
	}
	if got := rbac(2).Policies["team"].Principals[0].JwtPrincipal.Claims["org.team"]; got != "blue" {
		t.Fatalf("claim = %q", got)
	}
	if n := rbacRules.len(); n != before+2 {
		t.Fatalf("%d rule sets held, want %d", n, before+2)
	}
	docs = nil
	deadline := time.Now().Add(5 * time.Second)
	for rbacRules.len() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d rule sets still held after their documents were dropped, want %d", rbacRules.len(), before)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
