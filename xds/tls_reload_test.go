package xds

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReloadingFollowsItsFiles: the value is loaded again once any of its
// files is newer; a load that fails keeps the last value, or is an error
// naming what was loaded when there is none yet.
func TestReloadingFollowsItsFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write := func(path, content string, at time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, at, at); err != nil {
			t.Fatal(err)
		}
	}
	loads := 0
	r := &reloading[string]{what: "test pair", paths: []string{a, b}, load: func() (string, error) {
		loads++
		da, errA := os.ReadFile(a)
		db, errB := os.ReadFile(b)
		if err := errors.Join(errA, errB); err != nil {
			return "", err
		}
		if strings.Contains(string(da)+string(db), "half") {
			return "", errors.New("half written")
		}
		return string(da) + string(db), nil
	}}
	if _, err := r.get(); err == nil || !strings.Contains(err.Error(), "test pair") {
		t.Fatalf("no files yet: err %v, want one naming the test pair", err)
	}
	t0 := time.Now().Add(-time.Hour)
	write(a, "1", t0)
	write(b, "x", t0)
	step := func(want string, wantLoads int) {
		t.Helper()
		got, err := r.get()
		if err != nil || got != want || loads != wantLoads {
			t.Fatalf("get() = %q, %v after %d loads; want %q after %d", got, err, loads, want, wantLoads)
		}
	}
	step("1x", 1)
	step("1x", 1) // unchanged files: not loaded again
	write(b, "y", t0.Add(time.Minute))
	step("1y", 2) // the second file is newer
	write(a, "half", t0.Add(2*time.Minute))
	step("1y", 3) // a failed load keeps the last value
	write(a, "2", t0.Add(3*time.Minute))
	step("2y", 4)
}
