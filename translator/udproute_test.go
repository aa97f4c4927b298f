package translator_test

import (
	"strings"
	"testing"

	udpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// TestUDPRouteHostile applies what a hostile tenant would to reach a UDP
// listener or a Service that is not its own: each is refused with a
// condition that says why, and the listener keeps sending every datagram to
// the legitimate route's Service and to nothing else.
func TestUDPRouteHostile(t *testing.T) {
	// base is a Gateway whose UDP listener "tenant" takes routes of the
	// tenant namespace a only, a's Service, and a Service of tenant b that
	// must stay out of a's reach.
	base := testenv.GatewayClassManifest + testenv.Fixture(t, "udproute-tenants.yaml")
	route := func(metadata, section, backend string) string {
		return testenv.Fixture(t, "udproute-route.yaml", metadata, section, backend)
	}
	grant := func(name, kind, to string) string {
		return testenv.Fixture(t, "udproute-grant.yaml", name, kind, to)
	}
	const echo = `name: echo, namespace: a, creationTimestamp: "2026-01-01T00:00:00Z"`
	// legit is the tenant's own route to its own Service; toSecret the same
	// route sent to tenant b's Service instead.
	legit := route(echo, "tenant", "name: echo, port: 8080")
	toSecret := route(echo, "tenant", "name: secret, namespace: b, port: 8080")
	for name, tc := range map[string]struct {
		extra string
		// own: the tenant's legitimate route is applied too.
		own  bool
		want string // in a condition message
		// served is the cluster the listener's datagrams go to afterwards
		// ("" for none).
		served string
	}{
		"route from a namespace the listener does not select": {
			extra:  route(`name: hijack, namespace: b, creationTimestamp: "2025-01-01T00:00:00Z"`, "tenant", "name: secret, port: 8080"),
			own:    true,
			want:   `listener "tenant" does not allow routes from namespace "b"`,
			served: "a/echo/8080/udp",
		},
		"route to another namespace's Service without a ReferenceGrant": {
			extra: toSecret,
			want:  "Service b/secret is in another namespace and no ReferenceGrant allows it",
		},
		"ReferenceGrant for another kind of route": {
			extra: toSecret + grant("tcp-only", "TCPRoute", `group: "", kind: Service`),
			want:  "Service b/secret is in another namespace and no ReferenceGrant allows it",
		},
		"UDPRoute on the HTTP listener": {
			extra:  route("name: sneak, namespace: b", "web", "name: secret, port: 8080"),
			own:    true,
			want:   `listener "web" does not allow UDPRoutes`,
			served: "a/echo/8080/udp",
		},
		"ReferenceGrant for UDPRoutes lets the route through": {
			extra:  toSecret + grant("udp", "UDPRoute", `group: "", kind: Service, name: secret`),
			served: "b/secret/8080/udp",
		},
	} {
		t.Run(name, func(t *testing.T) {
			in := base + tc.extra
			if tc.own {
				in += legit
			}
			gc := translateExpecting(t, "udp.yaml", in, tc.want)
			if got := udpClusterOf(t, gc, "udp-5300"); got != tc.served {
				t.Errorf("listener udp-5300 sends datagrams to %q, want %q", got, tc.served)
			}
			for _, c := range gc.Clusters {
				if c.Name != tc.served && strings.HasPrefix(c.Name, "b/") {
					t.Errorf("cluster %s of the other tenant's Service is served", c.Name)
				}
			}
		})
	}
}

// udpClusterOf is the cluster the udp_proxy of the listener name routes
// every datagram to, "" when it routes none.
func udpClusterOf(t *testing.T, gc *xdsconfig.GatewayConfig, name string) string {
	t.Helper()
	for _, l := range gc.Listeners {
		if l.Name != name {
			continue
		}
		if len(l.ListenerFilters) != 1 || len(l.FilterChains) != 0 {
			t.Fatalf("listener %s: %d listener filters and %d filter chains, want udp_proxy alone", name, len(l.ListenerFilters), len(l.FilterChains))
		}
		var cfg udpv3.UdpProxyConfig
		if err := l.ListenerFilters[0].GetTypedConfig().UnmarshalTo(&cfg); err != nil {
			t.Fatalf("listener %s: %v", name, err)
		}
		m := cfg.GetMatcher()
		if m.GetMatcherList() != nil || m.GetMatcherTree() != nil {
			t.Fatalf("listener %s: a matcher with conditions; want on_no_match alone", name)
		}
		action := m.GetOnNoMatch().GetAction()
		if action == nil {
			return ""
		}
		var r udpv3.Route
		if err := action.GetTypedConfig().UnmarshalTo(&r); err != nil {
			t.Fatalf("listener %s: %v", name, err)
		}
		return r.Cluster
	}
	t.Fatalf("no listener %s", name)
	return ""
}
