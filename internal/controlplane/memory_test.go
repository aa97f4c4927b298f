package controlplane

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryIsReleasedOnceQuiet: a burst of translations releases memory
// once, after it; a disabled releaser never does.
func TestMemoryIsReleasedOnceQuiet(t *testing.T) {
	var n, dropped atomic.Int32
	r := &MemoryReleaser{quiet: 100 * time.Millisecond, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		free: func() { n.Add(1) }, drop: func() { dropped.Add(1) }}
	for i := 0; i < 5; i++ {
		r.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("released %d times during the burst", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for n.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if got := n.Load(); got != 1 {
		t.Fatalf("released %d times after the burst, want 1", got)
	}
	if got := dropped.Load(); got != 1 {
		t.Fatalf("the response lists were dropped %d times, want 1", got)
	}
	off := &MemoryReleaser{quiet: 0, log: r.log, free: func() { n.Add(1) }}
	off.Kick()
	time.Sleep(50 * time.Millisecond)
	if got := n.Load(); got != 1 {
		t.Fatal("a disabled releaser released")
	}
}
