package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFixture(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(path, []byte("# %[1]d: the listener's port\nport: %[1]d\nhost: %[2]s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := fixture(path, 8080, "api.test")
	if err != nil {
		t.Fatal(err)
	}
	if want := "# 8080: the listener's port\nport: 8080\nhost: api.test\n"; got != want {
		t.Errorf("fixture = %q, want %q", got, want)
	}
	if _, err := fixture(path, 8080); err == nil || !strings.Contains(err.Error(), "a verb has no argument") {
		t.Errorf("fixture with one argument for two verbs: error %v, want one saying a verb has no argument", err)
	}
	if _, err := fixture(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("fixture of a missing file: no error")
	}
	raw, err := fixture(path)
	if err != nil || !strings.Contains(raw, "%[1]d") {
		t.Errorf("fixture without arguments = %q, %v; want the file as it is", raw, err)
	}
}
