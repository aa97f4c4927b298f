package resource

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// TestNodeToJSONMatchesKubernetesYAML compares the one-pass conversion with
// sigs.k8s.io/yaml, which kubectl uses, on the scalars where YAML versions
// differ.
func TestNodeToJSONMatchesKubernetesYAML(t *testing.T) {
	docs := []string{
		"a: yes\nb: 'yes'\nc: on\nd: Off\ne: y\nf: N\ng: true\nh: \"false\"\n",
		"n: 12\nm: 0x1F\nf: 1.5\ne: 1e3\nz: ~\ns: hello\nq: '12'\nt: 2024-01-01T00:00:00Z\n",
		"list: [1, two, 'three', {k: v}]\nnested: {a: {b: [true, null]}}\nempty: {}\nnone: []\n",
		"base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nalias: *b\n",
		"multi: |\n  line1\n  line2\nfolded: >\n  a\n  b\n",
		"key with spaces: v\n'quoted key': w\n",
	}
	for _, d := range docs {
		want, err := sigsyaml.YAMLToJSON([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(d), &node); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := nodeToJSON(&node, &buf); err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal(want, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(buf.Bytes(), &b); err != nil {
			t.Fatalf("%s: invalid JSON %s", d, buf.String())
		}
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("%q (-sigs.k8s.io/yaml +gatewarden):\n%s", d, diff)
		}
	}
}
