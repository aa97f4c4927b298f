package dir

import (
	"context"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/gatewarden/gatewarden/pkg/debounce"
)

// WatchOptions tune Watch.
type WatchOptions struct {
	// Debounce is how long the directory must be quiet before it is read
	// again, so that an editor's or kubectl's several writes make one change
	// (debounce.DefaultQuiet when zero); MaxDelay bounds the wait while
	// changes never pause (debounce.DefaultMaxDelay when zero).
	Debounce, MaxDelay time.Duration
	// Resync re-reads the directory this often even without events, for
	// file systems whose events are unreliable. Zero disables it.
	Resync time.Duration
	Log    *slog.Logger
}

// Watch scans the directory once, then again after every burst of changes,
// and calls onScan with each Scan, from one goroutine, until ctx ends.
func Watch(ctx context.Context, l *Loader, o WatchOptions, onScan func(Scan)) error {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	addTree(w, l.root, o.Log)
	onScan(l.Scan())

	d := debounce.New(o.Debounce, o.MaxDelay)
	// The watcher's events are read on their own goroutine, so that the
	// ones arriving while a burst settles extend it rather than queue up.
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Create) {
					addTree(w, ev.Name, o.Log) // a new subdirectory
				}
				d.Notify()
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				o.Log.Warn("watching the resource directory", "dir", l.root, "error", err)
			}
		}
	}()
	defer func() {
		if err := w.Close(); err != nil {
			o.Log.Warn("closing the directory watcher", "dir", l.root, "error", err)
		}
		<-stopped
	}()
	var resync <-chan time.Time
	if o.Resync > 0 {
		t := time.NewTicker(o.Resync)
		defer t.Stop()
		resync = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-stopped:
			return nil // the watcher closed
		case <-d.C():
			if !d.Settle(ctx) {
				return nil
			}
			onScan(l.Scan())
		case <-resync:
			if s := l.Scan(); s.Changed {
				onScan(s)
			}
		}
	}
}

// addTree watches path and every directory below it (hidden ones excepted).
// A path that is a file is ignored.
func addTree(w *fsnotify.Watcher, path string, log *slog.Logger) {
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if err := w.Add(p); err != nil {
			log.Warn("cannot watch directory", "dir", p, "error", err)
		}
		return nil
	})
}
