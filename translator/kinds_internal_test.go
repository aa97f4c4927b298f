package translator

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// TestEveryRouteKindHasAStatus keeps the translator in step with
// resource.RouteKinds: a route of every kind there is told apart by
// routeKind, gets a status of its own kind, and the status writer finds it
// under that kind (Status.RouteStatus).
func TestEveryRouteKindHasAStatus(t *testing.T) {
	for _, k := range resource.RouteKinds {
		t.Run(k.Kind, func(t *testing.T) {
			tr := &translation{status: newStatus()}
			r := &gwv1.HTTPRoute{
				TypeMeta:   metav1.TypeMeta{APIVersion: gwv1.GroupVersion.String(), Kind: k.Kind},
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "r"},
			}
			if got := routeKind(r); got != k.Kind {
				t.Fatalf("routeKind = %q, want %q", got, k.Kind)
			}
			st := tr.newRouteStatus(r)
			key := types.NamespacedName{Namespace: "ns", Name: "r"}
			if got := tr.status.RouteStatus(k.Kind, key); got != st {
				t.Fatalf("Status.RouteStatus(%q) = %p, want the status newRouteStatus made (%p)", k.Kind, got, st)
			}
			for _, other := range resource.RouteKinds {
				if other.Kind != k.Kind && tr.status.RouteStatus(other.Kind, key) != nil {
					t.Errorf("a %s has a status under kind %s too", k.Kind, other.Kind)
				}
			}
		})
	}
}
