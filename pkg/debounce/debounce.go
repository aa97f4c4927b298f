// Package debounce turns a burst of change notifications into one action,
// for both sources: a directory written by an editor or kubectl, and the
// informers of a cluster where a controller may change thousands of objects
// at once. The action runs once the changes have been quiet for a while, or
// after a maximum delay during a stream that never pauses, so that a steady
// trickle of changes cannot hold the configuration back forever.
package debounce

import (
	"context"
	"time"
)

// The defaults of both sources (and of gatewarden serve --debounce):
// 30 ms coalesces the several writes of one kubectl apply or editor save
// while adding little to the propagation time; one second bounds the wait
// during a storm of changes.
const (
	DefaultQuiet    = 30 * time.Millisecond
	DefaultMaxDelay = time.Second
)

// Debouncer collects notifications (Notify) and, from Run's goroutine, runs
// an action after each burst of them.
type Debouncer struct {
	quiet, maxDelay time.Duration
	kick            chan struct{}
}

// New returns a Debouncer that acts once notifications have stopped for
// quiet, or maxDelay after the first notification of a burst, whichever
// comes first. Zero (or less) picks DefaultQuiet and DefaultMaxDelay.
func New(quiet, maxDelay time.Duration) *Debouncer {
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	if maxDelay <= 0 {
		maxDelay = DefaultMaxDelay
	}
	return &Debouncer{quiet: quiet, maxDelay: maxDelay, kick: make(chan struct{}, 1)}
}

// Notify records a change. It never blocks: changes arriving while one is
// pending fold into it.
func (d *Debouncer) Notify() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// C receives a value for every pending notification, for callers that
// select on other channels too and call Settle when it fires.
func (d *Debouncer) C() <-chan struct{} { return d.kick }

// Settle waits, after a notification was received from C, until the
// changes have been quiet for the quiet period or the maximum delay has
// passed, and reports whether ctx is still live.
func (d *Debouncer) Settle(ctx context.Context) bool {
	deadline := time.NewTimer(d.maxDelay)
	defer deadline.Stop()
	quiet := time.NewTimer(d.quiet)
	defer quiet.Stop()
	for {
		select {
		case <-d.kick: // the burst goes on
			quiet.Reset(d.quiet)
		case <-quiet.C:
			return true
		case <-deadline.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

// Run calls act after each burst of notifications, from one goroutine,
// until ctx ends.
func (d *Debouncer) Run(ctx context.Context, act func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		}
		if !d.Settle(ctx) {
			return
		}
		act()
	}
}
