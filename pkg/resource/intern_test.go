package resource

import (
	"runtime"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

func routeOptionDoc(t *testing.T, name, team string) string {
	t.Helper()
	return testenv.Fixture(t, "intern.yaml", name, team)
}

// TestEqualRulesAreHeldOnce loads options with equal and different rules:
// equal ones share one value, and values no document uses are let go.
func TestEqualRulesAreHeldOnce(t *testing.T) {
	before := rbacRules.len()
	docs, err := Load("routes.yaml", []byte(routeOptionDoc(t, "a", "red")+"---\n"+routeOptionDoc(t, "b", "red")+"---\n"+routeOptionDoc(t, "c", "blue")))
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
