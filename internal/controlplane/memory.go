package controlplane

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// MemoryReleaser returns the memory of a burst of translations and pushes
// to the system once the burst is over. Most of what a translation of thousands
// of routes allocates is garbage as soon as it is published, and the Go
// runtime keeps the heap it grew to (up to twice the heap live at its last
// collection, which may have run in the middle of a translation) and hands
// it back only gradually: without this, a container's memory stays near
// the peak of the last change.
type MemoryReleaser struct {
	quiet time.Duration
	log   *slog.Logger
	drop  func() // lets go of what is kept only while busy, if set
	free  func() // debug.FreeOSMemory when nil
	mu    sync.Mutex
	timer *time.Timer
}

// NewMemoryReleaser releases memory once Kick has not been called for quiet
// (never when quiet is 0), after calling drop (if not nil) to let go of what
// is kept only while busy.
func NewMemoryReleaser(quiet time.Duration, log *slog.Logger, drop func()) *MemoryReleaser {
	return &MemoryReleaser{quiet: quiet, log: log, drop: drop}
}

// Kick (re)starts the quiet period: after a translation, an xDS push.
func (r *MemoryReleaser) Kick() {
	if r.quiet <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer == nil {
		r.timer = time.AfterFunc(r.quiet, r.release)
		return
	}
	r.timer.Reset(r.quiet)
}

func (r *MemoryReleaser) release() {
	if r.drop != nil {
		r.drop()
	}
	free := r.free
	if free == nil {
		free = func() {
			// Two collections: objects cached in sync.Pools (gRPC's buffers)
			// outlive the first.
			runtime.GC()
			debug.FreeOSMemory()
		}
	}
	// Reading the memory statistics stops the world: only for the log.
	if !r.log.Enabled(context.Background(), slog.LevelDebug) {
		free()
		return
	}
	start := time.Now()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	before := m.HeapSys - m.HeapReleased
	free()
	runtime.ReadMemStats(&m)
	r.log.Debug("returned freed memory to the system", "heapBefore", before, "heapAfter", m.HeapSys-m.HeapReleased, "took", time.Since(start).Round(time.Millisecond))
}

// Start stops the pending release when ctx ends: the releaser works from
// Kick, on its own timer.
func (r *MemoryReleaser) Start(ctx context.Context) error {
	<-ctx.Done()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
	}
	return nil
}
