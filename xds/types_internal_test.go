package xds

import (
	"reflect"
	"slices"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// TestTypeTable: every resource list of a Gateway's configuration has its
// entry in the table, and the push stages keep the make-before-break order
// (what routes use before the routes).
func TestTypeTable(t *testing.T) {
	lists := 0
	gt := reflect.TypeFor[xdsconfig.GatewayConfig]()
	for i := range gt.NumField() {
		if gt.Field(i).Type.Kind() == reflect.Slice {
			lists++
		}
	}
	if lists != len(resourceTypes) {
		t.Fatalf("GatewayConfig has %d resource lists, the type table %d entries", lists, len(resourceTypes))
	}
	for name, c := range map[string]struct{ got, want []string }{
		"version order": {typeOrder, []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ScopedRouteType, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType}},
		"warm stage":    {warmTypes, []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType}},
		"route stage":   {routeTypes, []string{resourcev3.ListenerType, resourcev3.ScopedRouteType, resourcev3.RouteType}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
}
