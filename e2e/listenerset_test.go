package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// TestListenerSetCannotEscapeGatewayPolicy plays a tenant that adds
// listeners to a shared Gateway with a ListenerSet, in directory mode
// against a real Envoy: on the Gateway's port with a new hostname, on a
// port of its own and inside the platform's wildcard, every request without
// the platform's token is answered 401 (403 without the platform's claim on
// the wildcard; where its RouteOption turns JWT off, 500 with a token), tokens of the
// tenant's own provider are refused, and no backend sees any of it; the
// platform's token reaches the tenant's routes. A ListenerSet from a
// namespace the Gateway does not select is refused and serves nothing.
// The manifests are testdata/listenerset.yaml.
func TestListenerSetCannotEscapeGatewayPolicy(t *testing.T) {
	platformKey, tenantKey := newKey(t, jwt.GenerateRSA, "platform"), newKey(t, jwt.GenerateRSA, "tenant")
	ownerPort, ownerCount := countingBackend(t, "owner")
	tenantPort, tenantCount := countingBackend(t, "tenant")
	outsiderPort, outsiderCount := countingBackend(t, "outsider")
	tenantListenerPort, outsiderListenerPort := freePort(t), freePort(t)
	e := startDirEnvWith(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("listenerset.yaml", testenv.GatewayClassManifest+testenv.Fixture(t, "listenerset.yaml", e.gwPort, tenantListenerPort,
			testenv.FQDNBackend("infra", "owner", "http", 80, ownerPort), testenv.FQDNBackend("tenant", "tenant", "http", 80, tenantPort),
			platformKey.JWKS(), tenantKey.JWKS(), outsiderListenerPort, testenv.FQDNBackend("outsider", "outsider", "http", 80, outsiderPort)))
	}, nil, nil)
	mint := func(key *jwt.Key, issuer, team string) string {
		tok, err := jwt.Mint(key, jwt.Claims{"sub": "someone", "team": team}, jwt.MintOptions{Issuer: issuer, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return "Authorization: Bearer " + tok
	}
	platform := mint(platformKey, "platform", "platform")
	platformOther := mint(platformKey, "platform", "tenant")
	tenantTok := mint(tenantKey, "tenant", "platform")
	tenantURL := fmt.Sprintf("http://127.0.0.1:%d", tenantListenerPort)

	// The ListenerSet is served: the platform's token reaches the tenant's
	// routes, on the Gateway's port and on its own.
	eventually(t, 15*time.Second, "the tenant's listeners served", func() string {
		if a := get(t, e.url+"/x", "api.test", platform); a.code != 200 || a.header.Get("x-backend") != "owner" {
			return "api.test: " + a.String()
		}
		if a := get(t, e.url+"/x", "tenant.test", platform); a.code != 200 || a.header.Get("x-backend") != "tenant" {
			return "tenant.test: " + a.String()
		}
		if a := get(t, tenantURL+"/x", "anything.test", platform); a.code != 200 || a.header.Get("x-backend") != "tenant" {
			return "new port: " + a.String()
		}
		if a := get(t, e.url+"/x", "x.wild.test", platform); a.code != 200 || a.header.Get("x-backend") != "tenant" {
			return "x.wild.test: " + a.String()
		}
		return ""
	})
	ownerCount.Store(0)
	tenantCount.Store(0)

	attacks := []struct {
		name        string
		url, host   string
		headers     []string
		want        int
		wantMessage string
	}{
		{"same port, new hostname, no token", e.url + "/x", "tenant.test", nil, 401, "Jwt is missing"},
		{"same port, new hostname, the tenant's own provider", e.url + "/x", "tenant.test", []string{tenantTok}, 401, "Jwt issuer is not configured"},
		{"new port, no token", tenantURL + "/x", "anything.test", nil, 401, "Jwt is missing"},
		{"new port, the tenant's own provider", tenantURL + "/x", "anything.test", []string{tenantTok}, 401, "Jwt issuer is not configured"},
		{"hostname inside the platform's wildcard, no token", e.url + "/x", "x.wild.test", nil, 401, "Jwt is missing"},
		{"hostname inside the platform's wildcard, without the platform's claim", e.url + "/x", "x.wild.test", []string{platformOther}, 403, "RBAC: access denied"},
		{"a RouteOption turning JWT off on the tenant's listener", e.url + "/open", "tenant.test", nil, 401, "Jwt is missing"},
		{"a RouteOption turning JWT off, on the new port", tenantURL + "/open", "anything.test", nil, 401, "Jwt is missing"},
		// The RouteOption is refused, not ignored: its route is not served
		// as written, even with the platform's token.
		{"the refused RouteOption's route, the platform's token", e.url + "/open", "tenant.test", []string{platform}, 500, "The policy of this route is invalid"},
		{"the refused ListenerSet's hostname", e.url + "/x", "outsider.test", []string{platform}, 404, ""},
	}
	for _, a := range attacks {
		expectRefused(t, a.name, get(t, a.url, a.host, a.headers...), a.wantMessage, a.want)
	}
	// Nothing listens on the refused ListenerSet's own port.
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", outsiderListenerPort), time.Second); err == nil {
		c.Close()
		t.Errorf("the refused ListenerSet's port %d accepts connections", outsiderListenerPort)
	}
	if o, n, m := ownerCount.Load(), tenantCount.Load(), outsiderCount.Load(); o != 0 || n != 0 || m != 0 {
		t.Fatalf("attack requests reached the backends: owner %d, tenant %d, outsider %d", o, n, m)
	}
	// The refusals are said (directory mode logs what is not accepted).
	out := e.gatewarden.Output()
	for _, want := range []string{
		`kind=ListenerSet name=outsider/ls where="" condition=Accepted reason=NotAllowed`,
		`kind=RouteOption name=tenant/open-up`,
		`kind=VirtualHostOption name=tenant/own-jwt`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("gatewarden's log does not say %q:\n%s", want, testenv.Tail(out, 40))
		}
	}
}
