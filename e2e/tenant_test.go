package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/jwt"
)

// countingBackend is an HTTP server that counts the requests it receives.
func countingBackend(t *testing.T, name string) (port int, count *atomic.Int64) {
	t.Helper()
	count = &atomic.Int64{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		w.Header().Set("x-backend", name)
		fmt.Fprintf(w, "%s saw %s %s %s\n", name, r.Method, r.Host, r.URL.RequestURI())
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().(*net.TCPAddr).Port, count
}

// dialTCP connects to addr over TCP: the connection, and any read or
// write on it, gives up after 5 s.
func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// rawHTTP sends one HTTP/1.1 request as written (request line and headers
// "K: V", possibly repeated) and returns the status code and body.
func rawHTTP(t *testing.T, addr, target string, headers ...string) answer {
	t.Helper()
	c := dialTCP(t, addr)
	defer c.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\n", target)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	return readAnswer(t, resp, err)
}

// h2cRequest sends one HTTP/2 request (prior knowledge, no TLS) with the
// given pseudo-header :authority and extra header fields, which may include
// a "host" that differs from it, and returns the status code.
func h2cRequest(t *testing.T, addr, authority, path string, fields ...string) int {
	t.Helper()
	c := dialTCP(t, addr)
	defer c.Close()
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", authority}, {":path", path}} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, ":")
		if err := enc.WriteField(hpack.HeaderField{Name: strings.ToLower(strings.TrimSpace(k)), Value: strings.TrimSpace(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	dec := hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("h2c %s%s: %v", authority, path, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					t.Fatal(err)
				}
			}
		case *http2.RSTStreamFrame:
			return 0 // refused as malformed
		case *http2.GoAwayFrame:
			return 0
		case *http2.HeadersFrame:
			hf, err := dec.DecodeFull(f.HeaderBlockFragment())
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hf {
				if h.Name == ":status" {
					var code int
					if _, err := fmt.Sscan(h.Value, &code); err != nil {
						t.Fatalf(":status %q: %v", h.Value, err)
					}
					return code
				}
			}
		}
	}
}

// TestTenantCannotWeakenListenerPolicy plays a hostile tenant on a shared
// Gateway in directory mode (loopback backends allowed, as by default there):
// each attack is answered 401, 400, 404, 500 or 503 and reaches neither the
// platform team's backend nor the tenant's, while the listener owner's routes
// keep working. Envoy's admin is on a Unix socket, as `bootstrap` makes it by
// default.
func TestTenantCannotWeakenListenerPolicy(t *testing.T) {
	key := newKey(t, jwt.GenerateRSA, "k1")
	ownerPort, ownerCount := countingBackend(t, "owner")
	tenantPort, tenantCount := countingBackend(t, "tenant")
	// Where a TCP admin would listen: nothing is there, Envoy's admin is on
	// a socket. The route to it must never answer with admin pages.
	adminPort := freePort(t)
	adminSocket := filepath.Join(t.TempDir(), "admin.sock")
	e := startDirEnvWith(t, false, func(e *dirEnv) {
		e.gateway = "infra/gw"
		e.write("tenant.yaml", testenv.GatewayClassManifest+testenv.Fixture(t, "tenant.yaml", e.gwPort, key.JWKS())+
			testenv.FQDNBackend("infra", "owner", "http", 80, ownerPort)+testenv.FQDNBackend("tenant", "tenant", "http", 80, tenantPort)+
			testenv.Backend("tenant", "admin", "http", 80, adminPort, "localhost")+testenv.Backend("tenant", "metadata", "http", 80, 80, "169.254.169.254"))
	}, nil, []string{"--envoy-admin-address", "unix:" + adminSocket})
	tok, err := jwt.Mint(key, jwt.Claims{"sub": "alice"}, jwt.MintOptions{Issuer: "iss-1", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	auth := "Authorization: Bearer " + tok
	addr := strings.TrimPrefix(e.url, "http://")
	port := e.gwPort

	eventually(t, 15*time.Second, "the owner's route served", func() string {
		if a := get(t, e.url+"/x", "api.test", auth); a.code != 200 || a.header.Get("x-backend") != "owner" {
			return a.String()
		}
		if a := get(t, e.url+"/x", "tenant.test"); a.code != 200 || a.header.Get("x-backend") != "tenant" {
			return "tenant.test: " + a.String()
		}
		return ""
	})
	ownerCount.Store(0)
	tenantCount.Store(0)

	type attack struct {
		name string
		send func() answer
		want []int
	}
	h1 := func(target string, headers ...string) func() answer {
		return func() answer { return rawHTTP(t, addr, target, headers...) }
	}
	h2 := func(authority, path string, fields ...string) func() answer {
		return func() answer { return answer{code: h2cRequest(t, addr, authority, path, fields...)} }
	}
	hostTo := func(host string) func() answer { return h1("/public", "Host: "+host) }
	attacks := []attack{
		// 1. The tenant's routes for the strict listener's hostname.
		{"Exact /public of api.test, JWT disabled by a RouteOption", hostTo("api.test"), []int{401}},
		{"any path of api.test", h1("/anything", "Host: api.test"), []int{401}},
		{"x.wild.test through the catch-all listener", hostTo("x.wild.test"), []int{401}},
		{"deeper.x.wild.test", hostTo("deeper.x.wild.test"), []int{401}},
		// 2. Spellings of the host.
		{"api.test:PORT", hostTo(fmt.Sprintf("api.test:%d", port)), []int{401}},
		{"api.test:1", hostTo("api.test:1"), []int{401}},
		{"api.test.", hostTo("api.test."), []int{401}},
		{"api.test.:PORT", hostTo(fmt.Sprintf("api.test.:%d", port)), []int{401}},
		{"API.TEST", hostTo("API.TEST"), []int{401}},
		{"Api.Test:PORT", hostTo(fmt.Sprintf("Api.Test:%d", port)), []int{401}},
		{"x.wild.test:PORT", hostTo(fmt.Sprintf("x.wild.test:%d", port)), []int{401}},
		{"X.WILD.TEST.", hostTo("X.WILD.TEST."), []int{401}},
		{"two Host headers, the strict one second", h1("/public", "Host: tenant.test", "Host: api.test"), []int{400}},
		{"two Host headers, the strict one first", h1("/public", "Host: api.test", "Host: tenant.test"), []int{400}},
		{"absolute URI naming api.test, Host tenant.test", h1(fmt.Sprintf("http://api.test:%d/public", port), "Host: tenant.test"), []int{401}},
		{"HTTP/2 :authority api.test", h2("api.test", "/public"), []int{401}},
		{"HTTP/2 :authority api.test, host tenant.test", h2("api.test", "/public", "host: tenant.test"), []int{401}},
		{"HTTP/2 :authority nobody.example, host api.test", h2("nobody.example", "/public", "host: api.test"), []int{404}},
		// 5. Paths that a second hop resolves differently.
		{"/public/%2e%2e;/admin", h1("/public/%2e%2e;/admin", "Host: api.test", auth), []int{400}},
		{"/public/..%3b/admin", h1("/public/..%3b/admin", "Host: api.test", auth), []int{400}},
		{"/public/%252e%252e/admin", h1("/public/%252e%252e/admin", "Host: api.test", auth), []int{400}},
		{"/public%2fadmin", h1("/public%2fadmin", "Host: api.test", auth), []int{400}},
		{"/public%5cadmin", h1("/public%5cadmin", "Host: api.test", auth), []int{400}},
		{"/public%252fadmin", h1("/public%252fadmin", "Host: api.test", auth), []int{400}},
		// 3. The proxy itself: nothing listens on that loopback port, and
		// the admin interface is on a socket no endpoint can name.
		{"the admin port through a localhost endpoint", h1("/config_dump", "Host: admin.test"), []int{503}},
		{"/quitquitquit through a localhost endpoint", h1("/quitquitquit", "Host: admin.test"), []int{503}},
		{"169.254.169.254 (metadata)", h1("/metadata/latest", "Host: admin.test"), []int{500}},
		// 4. A JWKS from another namespace without a ReferenceGrant.
		{"RouteOption fetching the platform's Service", h1("/x", "Host: fetch.test", auth), []int{500}},
	}
	for _, a := range attacks {
		expectRefused(t, a.name, a.send(), "", a.want...)
	}
	if n, m := ownerCount.Load(), tenantCount.Load(); n != 0 || m != 0 {
		t.Fatalf("attack requests reached the backends: owner %d, tenant %d", n, m)
	}

	// Path parameters that Envoy keeps but servlet containers drop
	// ("/admin;x" misses an Exact "/admin" route and its policy) are
	// refused before any route, with a token too.
	for _, target := range []string{"/admin;x", "/public;a=b/x", "/x/admin%3bx"} {
		if a := rawHTTP(t, addr, target, "Host: api.test", auth); a.code != 400 {
			t.Errorf("%s: %v, want 400", target, a)
		}
	}
	if n := ownerCount.Load(); n != 0 {
		t.Fatalf("refused paths reached the owner's backend %d times", n)
	}
	// Spellings that Envoy's own normalisation resolves: the route, the
	// policy and the upstream all see the same resolved path, so a
	// "/public" permission cannot be passed by them.
	for target, want := range map[string]string{
		"/public/..;/admin":             "GET api.test /admin",
		"/public/.;/admin":              "GET api.test /public/admin",
		"/public/..;jsessionid=x/admin": "GET api.test /admin",
		`/public\..\admin`:              "GET api.test /admin",
	} {
		if a := rawHTTP(t, addr, target, "Host: api.test"); a.code != 401 {
			t.Errorf("%s without a token: %v, want 401", target, a)
		}
		if a := rawHTTP(t, addr, target, "Host: api.test", auth); a.code != 200 || !strings.Contains(a.body, want) {
			t.Errorf("%s: %v, want 200 with the backend seeing %q", target, a, want)
		}
	}
	ownerCount.Store(0)
	if !e.envoy.Running() {
		t.Fatal("Envoy is no longer running")
	}

	// The owner's routes keep working, whatever the spelling of the host;
	// the tenant keeps its own.
	for _, host := range []string{"api.test", fmt.Sprintf("API.test:%d", port), "api.test.", "x.wild.test"} {
		if a := get(t, e.url+"/public", host, auth); a.code != 200 || a.header.Get("x-backend") != "owner" {
			t.Errorf("owner, Host %s: %v from %q", host, a, a.header.Get("x-backend"))
		}
	}
	if a := get(t, e.url+"/public", "tenant.test"); a.code != 200 || a.header.Get("x-backend") != "tenant" {
		t.Errorf("tenant.test: %v", a)
	}
	if n := ownerCount.Load(); n != 4 {
		t.Errorf("the owner's backend saw %d requests, want 4", n)
	}

	// The statuses say why: the JWKS option is not permitted.
	dump := httpGet(t, e.adminURL+"/debug/config")
	for _, want := range []string{"RefNotPermitted", "169.254.169.254", "link-local"} {
		if !strings.Contains(dump, want) {
			t.Errorf("/debug/config does not mention %q", want)
		}
	}
}
