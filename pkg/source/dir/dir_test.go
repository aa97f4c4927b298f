package dir

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const routeOption = `apiVersion: gateway.solo.io/v1
kind: RouteOption
metadata:
  name: jwt
  namespace: httpbin
spec:
  targetRefs:
  - group: gateway.networking.k8s.io
    kind: HTTPRoute
    name: httpbin
`

const service = "apiVersion: v1\nkind: Service\nmetadata:\n  name: httpbin\n  namespace: httpbin\n"

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestScanKeepsLastGoodVersionOfABrokenFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "ro.yaml", routeOption)
	write(t, dir, "sub/svc.yml", service)
	write(t, dir, ".hidden.yaml", "not: [valid")
	write(t, dir, "notes.txt", "not a manifest")
	l := NewLoader(dir)

	s := l.Scan()
	if len(s.Problems) != 0 || len(s.Resources.RouteOptions) != 1 || len(s.Resources.Services) != 1 || s.Files != 2 {
		t.Fatalf("first scan: problems %v, %d route options, %d services, %d files", s.Problems, len(s.Resources.RouteOptions), len(s.Resources.Services), s.Files)
	}
	if !s.Changed {
		t.Fatal("first scan reports no change")
	}
	if s := l.Scan(); s.Changed {
		t.Fatal("a scan of an unchanged directory reports a change")
	}

	// Truncated mid-write: the last good RouteOption stays.
	write(t, dir, "ro.yaml", routeOption[:len(routeOption)-40]+"\n  - [")
	s = l.Scan()
	if len(s.Resources.RouteOptions) != 1 {
		t.Fatalf("the broken file's last good RouteOption was dropped")
	}
	if len(s.Problems) != 1 || !strings.Contains(s.Problems[0].Error(), "ro.yaml:") || !strings.Contains(s.Problems[0].Error(), "keeping the last good version") {
		t.Fatalf("problems = %v, want one naming ro.yaml with its line", s.Problems)
	}
	// A new file that never parsed adds nothing and is reported.
	write(t, dir, "new.yaml", "kind: [")
	s = l.Scan()
	if len(s.Problems) != 2 || s.Resources.Len() != 2 {
		t.Fatalf("problems %v, %d objects", s.Problems, s.Resources.Len())
	}
	// Fixed files are used again; removed files are dropped.
	write(t, dir, "ro.yaml", strings.Replace(routeOption, "name: jwt", "name: jwt2", 1))
	for _, f := range []string{"new.yaml", "sub/svc.yml"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	s = l.Scan()
	if len(s.Problems) != 0 || s.Resources.Len() != 1 || s.Resources.RouteOptions[0].Name != "jwt2" {
		t.Fatalf("after fixes: problems %v, %d objects", s.Problems, s.Resources.Len())
	}
}

func TestScanReportsDuplicates(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", service)
	write(t, dir, "b.yaml", "# again\n"+service)
	s := Load(dir)
	if len(s.Resources.Services) != 1 {
		t.Fatalf("%d services, want the first definition only", len(s.Resources.Services))
	}
	if len(s.Problems) != 1 || !strings.Contains(s.Problems[0].Error(), "b.yaml:1: Service httpbin/httpbin is already defined at") {
		t.Fatalf("problems = %v", s.Problems)
	}
}

func TestWatchDebouncesAndFollowsChanges(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "svc.yaml", service)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var scans []Scan
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, NewLoader(dir), WatchOptions{Debounce: 100 * time.Millisecond}, func(s Scan) {
			mu.Lock()
			scans = append(scans, s)
			mu.Unlock()
		})
	}()
	waitScans := func(n int) []Scan {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			got := append([]Scan(nil), scans...)
			mu.Unlock()
			if len(got) >= n {
				return got
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("fewer than %d scans", n)
		return nil
	}
	waitScans(1)
	// A burst of writes, including in a new subdirectory, makes one scan.
	for i := 0; i < 10; i++ {
		write(t, dir, "ro.yaml", strings.Replace(routeOption, "name: jwt", "name: jwt"+string(rune('a'+i)), 1))
		time.Sleep(5 * time.Millisecond)
	}
	got := waitScans(2)
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	n := len(scans)
	mu.Unlock()
	if n != 2 {
		t.Fatalf("a burst of 10 writes made %d scans, want 1", n-1)
	}
	if ro := got[1].Resources.RouteOptions; len(ro) != 1 || ro[0].Name != "jwtj" {
		t.Fatalf("after the burst: %v", ro)
	}
	write(t, dir, "deeper/x/svc2.yaml", strings.Replace(service, "name: httpbin\n", "name: other\n", 1))
	got = waitScans(3)
	if len(got[2].Resources.Services) != 2 {
		t.Fatalf("a file in a new subdirectory was not seen: %d services", len(got[2].Resources.Services))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
