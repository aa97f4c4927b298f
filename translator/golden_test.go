package translator_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/render"
	"github.com/gatewarden/gatewarden/internal/testenv"
	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/translator"
	"github.com/gatewarden/gatewarden/xds"
)

var update = flag.Bool("update", false, "rewrite testdata/*.out.yaml from the current translator and delete outputs whose input is gone")

// loadInput reads a multi-document test input into Resources.
func loadInput(t *testing.T, path string) *resource.Resources {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := resource.Load(filepath.Base(path), data)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	res := &resource.Resources{}
	for _, d := range docs {
		if d.Object == nil {
			t.Fatalf("%s:%d: kind %s is not read by gatewarden", path, d.Line, d.GVK.Kind)
		}
		res.Add(d.Object)
	}
	res.Sort()
	return res
}

// TestGolden translates every testdata/NAME.in.yaml and compares the xDS
// output and statuses with testdata/NAME.out.yaml. Every Gateway's output is
// also loaded by the real Envoy in validate mode.
func TestGolden(t *testing.T) {
	// Envoy's validate mode creates the access log file a golden names
	// (observability-dry-run): removed again unless it was there before.
	const goldenAccessLog = "/tmp/gatewarden-golden-access.log"
	if _, err := os.Stat(goldenAccessLog); os.IsNotExist(err) {
		t.Cleanup(func() { _ = os.Remove(goldenAccessLog) })
	}
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/*.in.yaml")
	}
	if *update {
		outputs, _ := filepath.Glob("testdata/*.out.yaml")
		for _, out := range outputs {
			if _, err := os.Stat(strings.TrimSuffix(out, ".out.yaml") + ".in.yaml"); os.IsNotExist(err) {
				if err := os.Remove(out); err != nil {
					t.Fatal(err)
				}
				t.Logf("removed %s: its input is gone", out)
			}
		}
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := goldenOptions(t, in)
			res := translator.Translate(loadInput(t, in), opts)
			got, err := render.YAML(res)
			if err != nil {
				t.Fatalf("render result: %v", err)
			}
			// Translating again gives the same bytes: output is deterministic.
			again, err := render.YAML(translator.Translate(loadInput(t, in), opts))
			if err != nil {
				t.Fatalf("render result: %v", err)
			}
			if !bytes.Equal(got, again) {
				t.Fatalf("two translations of the same input differ:\n%s", cmp.Diff(string(got), string(again)))
			}
			checkYAMLReadsBack(t, res, got)
			outPath := strings.TrimSuffix(in, ".in.yaml") + ".out.yaml"
			if *update {
				if err := os.WriteFile(outPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				want, err := os.ReadFile(outPath)
				if err != nil {
					t.Fatalf("%v (run `go test ./translator -update` to create it)", err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("%s differs (-want +got); if the change is intended, run `go test ./translator -update` and review the diff:\n%s", outPath, diff)
				}
			}
			for _, gc := range res.Gateways {
				if _, err := xds.BuildSnapshot(gc, nil); err != nil {
					t.Errorf("gateway %s: %v", gc.Key(), err)
				}
				b, err := testenv.StaticBootstrap(gc)
				if err != nil {
					t.Fatalf("gateway %s: %v", gc.Key(), err)
				}
				if len(b.StaticResources.Listeners) > 0 {
					testenv.ValidateEnvoyConfig(t, b)
				}
			}
		})
	}
}

// checkYAMLReadsBack checks that yaml, the YAML rendering of res, reads
// back as exactly the JSON of the same result.
func checkYAMLReadsBack(t *testing.T, res *translator.Result, yaml []byte) {
	t.Helper()
	d, err := render.Of(res)
	if err != nil {
		t.Fatalf("render result: %v", err)
	}
	wantJSON, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("the result as JSON: %v", err)
	}
	gotJSON, err := sigsyaml.YAMLToJSON(yaml)
	if err != nil {
		t.Fatalf("the YAML output does not parse: %v", err)
	}
	want := decodeJSON(t, "the JSON output", wantJSON)
	got := decodeJSON(t, "the YAML output, as JSON,", gotJSON)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("the YAML output reads back differently (-json +yaml):\n%s", diff)
	}
}

// decodeJSON is the JSON data as generic values; what names it when it
// does not parse.
func decodeJSON(t *testing.T, what string, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s does not parse: %v", what, err)
	}
	return v
}

// goldenOptions reads the translation options an input asks for in comment
// lines "# golden:NAME=VALUE" (scoped-routes-min-hosts,
// allow-loopback-backends, bind-gateway-address). Loopback backends are allowed unless an input
// says otherwise, as in directory mode, which most inputs are written for.
func goldenOptions(t *testing.T, path string) translator.Options {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o := translator.Options{AllowLoopbackBackends: true}
	for _, line := range strings.Split(string(data), "\n") {
		kv, ok := strings.CutPrefix(line, "# golden:")
		if !ok {
			continue
		}
		name, value, _ := strings.Cut(kv, "=")
		switch name {
		case "scoped-routes-min-hosts":
			n, err := strconv.Atoi(value)
			if err != nil {
				t.Fatalf("%s: %s: %v", path, line, err)
			}
			o.ScopedRoutesMinHosts = n
		case "bind-gateway-address":
			b, err := strconv.ParseBool(value)
			if err != nil {
				t.Fatalf("%s: %s: %v", path, line, err)
			}
			o.BindGatewayAddress = b
		case "allow-loopback-backends":
			b, err := strconv.ParseBool(value)
			if err != nil {
				t.Fatalf("%s: %s: %v", path, line, err)
			}
			o.AllowLoopbackBackends = b
		default:
			t.Fatalf("%s: unknown option %q", path, line)
		}
	}
	return o
}
