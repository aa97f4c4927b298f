package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fixture is the manifest testdata/NAME of the calling test's package
// (tests run in their package's folder), its fmt verbs filled by args:
// manifests live as YAML files beside the tests, each saying in its
// first comment what its verbs stand for. A missing file or a verb left
// without an argument fails the test.
func Fixture(t testing.TB, name string, args ...any) string {
	t.Helper()
	s, err := fixture(filepath.Join("testdata", name), args...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fixture(path string, args ...any) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("fixture: %w", err)
	}
	if len(args) == 0 {
		return string(b), nil
	}
	s := fmt.Sprintf(string(b), args...)
	if i := strings.Index(s, "%!"); i >= 0 {
		end := min(len(s), i+40)
		return "", fmt.Errorf("fixture %s: a verb has no argument (%d given), at %q", path, len(args), s[i:end])
	}
	return s, nil
}
