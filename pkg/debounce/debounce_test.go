package debounce

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// run starts d with an action that counts, until the test ends.
func run(t *testing.T, d *Debouncer) *atomic.Int32 {
	t.Helper()
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx, func() { n.Add(1) })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &n
}

// TestBurstActsOnceAfterQuiet: a burst of notifications shorter than the
// maximum delay makes one action, after the burst and not during it.
func TestBurstActsOnceAfterQuiet(t *testing.T) {
	d := New(50*time.Millisecond, 10*time.Second)
	n := run(t, d)
	for i := 0; i < 20; i++ {
		d.Notify()
		time.Sleep(5 * time.Millisecond)
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("acted %d times during the burst", got)
	}
	time.Sleep(300 * time.Millisecond)
	if got := n.Load(); got != 1 {
		t.Fatalf("acted %d times after one burst, want 1", got)
	}
	d.Notify()
	time.Sleep(300 * time.Millisecond)
	if got := n.Load(); got != 2 {
		t.Fatalf("acted %d times after a second change, want 2", got)
	}
}

// TestSteadyStreamActsByMaxDelay: changes that never pause for the quiet
// period still act once per maximum delay.
func TestSteadyStreamActsByMaxDelay(t *testing.T) {
	d := New(100*time.Millisecond, 200*time.Millisecond)
	n := run(t, d)
	stop := time.Now().Add(time.Second)
	for time.Now().Before(stop) {
		d.Notify()
		time.Sleep(10 * time.Millisecond)
	}
	// About five in the second; the quiet period alone would give none.
	if got := n.Load(); got < 3 || got > 6 {
		t.Fatalf("acted %d times in a 1 s stream with a 200 ms maximum delay, want about 5", got)
	}
}

// TestDefaults: zero picks the documented defaults.
func TestDefaults(t *testing.T) {
	d := New(0, 0)
	if d.quiet != DefaultQuiet || d.maxDelay != DefaultMaxDelay {
		t.Fatalf("New(0, 0) = quiet %v, max %v; want %v, %v", d.quiet, d.maxDelay, DefaultQuiet, DefaultMaxDelay)
	}
}
