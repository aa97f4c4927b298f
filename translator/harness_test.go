package translator_test

import (
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
	"github.com/gatewarden/gatewarden/translator"
)

// readable returns the objects of docs that gatewarden reads; the others
// (unknown kinds, empty documents) are passed over, as serve passes them.
func readable(docs []resource.Doc) *resource.Resources {
	res := &resource.Resources{}
	for _, d := range docs {
		if d.Object != nil {
			res.Add(d.Object)
		}
	}
	return res
}

// translateExpecting translates the manifests in (file names them in load
// errors) and checks the conditions that report a problem: none when want
// is "", otherwise one whose message holds want. It returns what is served
// for the Gateway infra/gw, which must be served.
func translateExpecting(t *testing.T, file, in, want string) *xdsconfig.GatewayConfig {
	t.Helper()
	docs, err := resource.Load(file, []byte(in))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	out := translator.Translate(readable(docs), translator.Options{})
	var msgs []string
	for _, p := range out.Status.Problems() {
		msgs = append(msgs, p.Condition.Message)
	}
	all := strings.Join(msgs, "\n")
	switch {
	case want == "" && len(msgs) > 0:
		t.Fatalf("unexpected problems:\n%s", all)
	case want != "" && !strings.Contains(all, want):
		t.Fatalf("no condition says %q; conditions:\n%s", want, all)
	}
	gc := out.Gateway("infra/gw")
	if gc == nil {
		t.Fatal("the Gateway is not served")
	}
	return gc
}

// translateInput translates the test input path (loadInput) with the
// default options. It returns the result and what is served for gateway
// ("namespace/name"), which must be served.
func translateInput(t *testing.T, path, gateway string) (*translator.Result, *xdsconfig.GatewayConfig) {
	t.Helper()
	res := translator.Translate(loadInput(t, path), translator.Options{})
	gc := res.Gateway(gateway)
	if gc == nil {
		t.Fatalf("no configuration for %s", gateway)
	}
	return res, gc
}
