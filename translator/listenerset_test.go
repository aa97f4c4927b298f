package translator_test

import (
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
	"github.com/gatewarden/gatewarden/translator"
)

// TestListenerSetInheritsGatewayPolicy checks, on the translation of
// testdata/listenerset.in.yaml, that every virtual host a tenant's
// ListenerSet adds carries the platform's JWT requirement (never the
// tenant's provider) and the RBAC of the listener whose hosts it takes,
// that the tenant's RouteOption does not turn JWT off there, and that the
// ListenerSet of a namespace the Gateway does not select adds nothing.
func TestListenerSetInheritsGatewayPolicy(t *testing.T) {
	res, gc := translateInput(t, "testdata/listenerset.in.yaml", "infra/gw")
	vhosts := map[string]*routev3.VirtualHost{}
	for _, rc := range gc.Routes {
		for _, vh := range rc.VirtualHosts {
			vhosts[rc.Name+" "+vh.Name] = vh
		}
	}
	for key, wantRBAC := range map[string]string{
		"http-8080 tenant.test": "tenant-team",   // the Gateway sets no RBAC: the ListenerSet's option may
		"http-9080 *":           "tenant-team",   // a port of the ListenerSet's own
		"http-8080 x.wild.test": "platform-team", // inside *.wild.test: its RBAC, not the tenant's
	} {
		vh := vhosts[key]
		if vh == nil {
			t.Errorf("%s: no virtual host", key)
			continue
		}
		var jwtCfg jwtauthnv3.PerRouteConfig
		if err := vh.TypedPerFilterConfig[xdsconfig.JWTAuthnFilter].UnmarshalTo(&jwtCfg); err != nil {
			t.Errorf("%s: no JWT requirement: %v", key, err)
		} else if req := jwtCfg.GetRequirementName(); !strings.Contains(req, "infra/platform-jwt") {
			t.Errorf("%s: JWT requirement %q, want the platform's (infra/platform-jwt)", key, req)
		}
		var rbacCfg rbacv3.RBACPerRoute
		if err := vh.TypedPerFilterConfig[xdsconfig.RBACFilter].UnmarshalTo(&rbacCfg); err != nil {
			t.Errorf("%s: no RBAC: %v", key, err)
		} else if _, ok := rbacCfg.GetRbac().GetRules().GetPolicies()[wantRBAC]; !ok {
			t.Errorf("%s: RBAC policies %v, want %s", key, rbacCfg.GetRbac().GetRules().GetPolicies(), wantRBAC)
		}
		for _, r := range vh.Routes {
			if strings.HasPrefix(r.Name, "tenant/open/") && r.GetDirectResponse().GetStatus() != 500 {
				t.Errorf("%s: route %s, whose RouteOption turns JWT off, is served: %v", key, r.Name, r.Action)
			}
			if _, ok := r.TypedPerFilterConfig[xdsconfig.JWTAuthnFilter]; ok {
				t.Errorf("%s: route %s overrides the JWT requirement", key, r.Name)
			}
		}
	}
	for key := range vhosts {
		if strings.Contains(key, "other.test") {
			t.Errorf("the refused ListenerSet's hostname has a virtual host: %s", key)
		}
	}
	st := res.Status.ListenerSets[types.NamespacedName{Namespace: "other", Name: "ls"}]
	if st == nil || len(st.Conditions) == 0 || st.Conditions[0].Reason != "NotAllowed" {
		t.Errorf("other/ls status %+v, want Accepted=False NotAllowed", st)
	}
}

// TestListenerSetRejectedWithItsGateway: when an Envoy rejects a Gateway's
// configuration, the ListenerSets attached to it are not Programmed either;
// the original status is left as it was.
func TestListenerSetRejectedWithItsGateway(t *testing.T) {
	res := translator.Translate(loadInput(t, "testdata/listenerset.in.yaml"), translator.Options{})
	key := types.NamespacedName{Namespace: "tenant", Name: "ls"}
	rejected := res.Status.WithRejected("infra", "gw", "bad listener")
	programmed := func(s *translator.Status) string {
		for _, c := range s.ListenerSets[key].Conditions {
			if c.Type == "Programmed" {
				return string(c.Status) + " " + c.Reason
			}
		}
		return "none"
	}
	if got := programmed(rejected); got != "False Invalid" {
		t.Errorf("rejected: ListenerSet Programmed %s, want False Invalid", got)
	}
	if got := programmed(res.Status); got != "True Programmed" {
		t.Errorf("original: ListenerSet Programmed %s, want True Programmed (unchanged)", got)
	}
}
