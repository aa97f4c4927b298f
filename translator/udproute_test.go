package translator_test

import (
	"strings"
	"testing"

	udpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/udp/udp_proxy/v3"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// udpBase is a Gateway whose UDP listener "tenant" takes routes of the
// tenant namespace a only, a's Service, and a Service of tenant b that must
// stay out of a's reach.
const udpBase = testenv.GatewayClassManifest + `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: gatewarden
  listeners:
  - name: tenant
    protocol: UDP
    port: 5300
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {tenant: a}}}}
  - {name: web, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}
---
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {tenant: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {tenant: b}}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: a}
spec: {ports: [{name: udp, port: 8080, protocol: UDP}]}
---
apiVersion: v1
kind: Service
metadata: {name: secret, namespace: b}
spec: {ports: [{name: udp, port: 8080, protocol: UDP}]}
`

// udpLegit is the tenant's own route to its own Service.
const udpLegit = `
---
apiVersion: gateway.networking.k8s.io/v1
kind: UDPRoute
metadata: {name: echo, namespace: a, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: tenant}]
  rules: [{backendRefs: [{name: echo, port: 8080}]}]
`

// TestUDPRouteHostile applies what a hostile tenant would to reach a UDP
// listener or a Service that is not its own: each is refused with a
// condition that says why, and the listener keeps sending every datagram to
// the legitimate route's Service and to nothing else.
func TestUDPRouteHostile(t *testing.T) {
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
			extra: `
---
apiVersion: gateway.networking.k8s.io/v1
kind: UDPRoute
metadata: {name: hijack, namespace: b, creationTimestamp: "2025-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: tenant}]
  rules: [{backendRefs: [{name: secret, port: 8080}]}]
`,
			own:    true,
			want:   `listener "tenant" does not allow routes from namespace "b"`,
			served: "a/echo/8080/udp",
		},
		"route to another namespace's Service without a ReferenceGrant": {
			extra: `
---
apiVersion: gateway.networking.k8s.io/v1
kind: UDPRoute
metadata: {name: echo, namespace: a, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: tenant}]
  rules: [{backendRefs: [{name: secret, namespace: b, port: 8080}]}]
`,
			want: "Service b/secret is in another namespace and no ReferenceGrant allows it",
		},
		"ReferenceGrant for another kind of route": {
			extra: `
---
apiVersion: gateway.networking.k8s.io/v1
kind: UDPRoute
metadata: {name: echo, namespace: a, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: tenant}]
  rules: [{backendRefs: [{name: secret, namespace: b, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: tcp-only, namespace: b}
spec:
  from: [{group: gateway.networking.k8s.io, kind: TCPRoute, namespace: a}]
  to: [{group: "", kind: Service}]
`,
			want: "Service b/secret is in another namespace and no ReferenceGrant allows it",
		},
		"UDPRoute on the HTTP listener": {
			extra: `
---
apiVersion: gateway.networking.k8s.io/v1
kind: UDPRoute
metadata: {name: sneak, namespace: b}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: web}]
  rules: [{backendRefs: [{name: secret, port: 8080}]}]
`,
			own:    true,
			want:   `listener "web" does not allow UDPRoutes`,
			served: "a/echo/8080/udp",
		},
		"ReferenceGrant for UDPRoutes lets the route through": {
			extra: `
---
apiVersion: gateway.networking.k8s.io/v1
kind: UDPRoute
metadata: {name: echo, namespace: a, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: gw, namespace: infra, sectionName: tenant}]
  rules: [{backendRefs: [{name: secret, namespace: b, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: udp, namespace: b}
spec:
  from: [{group: gateway.networking.k8s.io, kind: UDPRoute, namespace: a}]
  to: [{group: "", kind: Service, name: secret}]
`,
			served: "b/secret/8080/udp",
		},
	} {
		t.Run(name, func(t *testing.T) {
			in := udpBase + tc.extra
			if tc.own {
				in += udpLegit
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
