package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADMEUpToDate fails when README.md's conformance table does not say
// what conformance/report.yaml does.
func TestREADMEUpToDate(t *testing.T) {
	root := filepath.Join("..", "..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(root, string(readme))
	if err != nil {
		t.Fatal(err)
	}
	if want != string(readme) {
		t.Fatal("README.md's conformance table is stale: run `go run ./hack/conformance-table`")
	}
	if !strings.Contains(want, "| GATEWAY-HTTP |") {
		t.Error("the table has no GATEWAY-HTTP row")
	}
}
