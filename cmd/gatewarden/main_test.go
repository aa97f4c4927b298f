package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// run executes the command line in-process and returns stdout, stderr and
// the exit code main would use.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	code := 0
	if err := cmd.Execute(); err != nil {
		code = exitCode(err)
	}
	return out.String(), errOut.String(), code
}

func copyExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(testenv.RepoRoot(), "examples", "gateway-jwt")
	for _, f := range []string{"gateway.yaml", "httpbin.yaml", "virtualhostoption.yaml", "routeoption.yaml"} {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestJWTKeygenMintDecodeAndExplain(t *testing.T) {
	dir := copyExample(t)
	key := filepath.Join(t.TempDir(), "team.pem")
	jwks, stderr, code := run(t, "jwt", "keygen", "--key", key, "--kid", "team-1")
	if code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, stderr)
	}
	// Replace the guide's key with ours.
	vho := filepath.Join(dir, "virtualhostoption.yaml")
	data, _ := os.ReadFile(vho)
	i := strings.Index(string(data), "key: '")
	if i < 0 {
		t.Fatal("no key in the example VirtualHostOption")
	}
	if err := os.WriteFile(vho, []byte(string(data[:i])+"key: '"+strings.TrimSpace(jwks)+"'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mint := func(claims string) string {
		tok, stderr, code := run(t, "jwt", "mint", "--key", key, "--iss", "solo.io", "--claims", claims)
		if code != 0 {
			t.Fatalf("mint: exit %d: %s", code, stderr)
		}
		return strings.TrimSpace(tok)
	}
	dev, ops := mint(`{"team":"dev","sub":"alice"}`), mint(`{"team":"ops"}`)
	decoded, _, code := run(t, "jwt", "decode", dev)
	if code != 0 || !strings.Contains(decoded, `"kid": "team-1"`) || !strings.Contains(decoded, `"team": "dev"`) {
		t.Fatalf("decode: exit %d:\n%s", code, decoded)
	}
	url := "http://www.example.com:8080/headers"
	for _, tc := range []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"--token", dev}, 0, "200 (forwarded to httpbin/httpbin/8000)"},
		{[]string{"--token", ops}, 1, "403 RBAC: access denied"},
		{nil, 1, "401 Jwt is missing"},
		{[]string{"--token", dev, "--url", "http://other.example.com:8080/"}, 1, "404"},
		{[]string{"--token", "garbage"}, 1, "401"},
	} {
		args := append([]string{"explain", "--resources", dir, "--url", url}, tc.args...)
		out, stderr, code := run(t, args...)
		if code != tc.code || !strings.Contains(out, tc.contains) {
			t.Errorf("explain %v: exit %d, want %d; output:\n%s%s", tc.args, code, tc.code, out, stderr)
		}
	}
	out, _, code := run(t, "explain", "--resources", dir, "--url", url, "--token", ops, "-o", "json")
	var d struct {
		Code int    `json:"code"`
		Body string `json:"body"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &d) != nil || d.Code != 403 || d.Body != "RBAC: access denied" {
		t.Fatalf("explain -o json: exit %d, %+v\n%s", code, d, out)
	}
	for _, bad := range [][]string{
		{"explain", "--url", url},
		{"explain", "--resources", dir},
		{"explain", "--resources", dir, "--url", "not-a-url"},
		{"explain", "--resources", dir, "--url", url, "-o", "xml"},
		{"explain", "--resources", dir, "--url", url, "--no-such-flag"},
	} {
		if _, _, code := run(t, bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", bad, code)
		}
	}
}

func TestTranslateStrictAndOutput(t *testing.T) {
	dir := copyExample(t)
	out, stderr, code := run(t, "translate", "--resources", dir, "--strict", "-o", "json")
	var doc map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil {
		t.Fatalf("translate --strict -o json: exit %d: %s", code, stderr)
	}
	if _, _, code := run(t, "translate", "--resources", dir, "--gateway", "gloo-system/http"); code != 0 {
		t.Fatalf("--gateway gloo-system/http: exit %d", code)
	}
	if _, _, code := run(t, "translate", "--resources", dir, "--gateway", "nope/nope"); code != 2 {
		t.Fatalf("--gateway nope/nope: exit %d, want 2", code)
	}
	ro := filepath.Join(dir, "routeoption.yaml")
	data, err := os.ReadFile(ro)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ro, []byte(strings.Replace(string(data), "team: de.", `team: "de(("`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := run(t, "translate", "--resources", dir); code != 0 {
		t.Fatalf("without --strict an invalid option still translates: exit %d", code)
	}
	_, stderr, code = run(t, "translate", "--resources", dir, "--strict")
	if code != 1 || !strings.Contains(stderr, "RouteOption httpbin/jwt") || !strings.Contains(stderr, "de((") {
		t.Fatalf("--strict: exit %d, want 1 naming the option:\n%s", code, stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("kind: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = run(t, "translate", "--resources", dir)
	if code != 1 || !strings.Contains(stderr, "broken.yaml:") {
		t.Fatalf("a file that does not parse: exit %d:\n%s", code, stderr)
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, _, code := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "gatewarden ") {
		t.Fatalf("version: %d %q", code, out)
	}
	out, _, code = run(t, "--help")
	for _, c := range []string{"serve", "translate", "bootstrap", "explain", "jwt"} {
		if code != 0 || !strings.Contains(out, c) {
			t.Fatalf("help does not list %s", c)
		}
	}
}
