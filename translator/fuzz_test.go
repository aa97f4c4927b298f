package translator_test

import (
	"testing"

	"github.com/gatewarden/gatewarden/internal/render"
	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/translator"
	"github.com/gatewarden/gatewarden/xds"
)

// FuzzTranslate translates whatever the loader accepts from fuzzed YAML:
// the translator must not panic, and every Gateway's output must make a
// consistent snapshot.
func FuzzTranslate(f *testing.F) {
	testenv.AddFileSeeds(f, "testdata/*.in.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := resource.Load("fuzz.yaml", data)
		if err != nil {
			return
		}
		out := translator.Translate(readable(docs), translator.Options{})
		for _, gc := range out.Gateways {
			if _, err := xds.BuildSnapshot(gc, nil); err != nil {
				t.Fatalf("gateway %s: %v", gc.Key(), err)
			}
		}
		if _, err := render.YAML(out); err != nil {
			t.Fatal(err)
		}
	})
}
