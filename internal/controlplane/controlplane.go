// Package controlplane is gatewarden's control loop: the long-running
// components between the sources and the xDS server (translate and publish,
// keep the statuses, mark the Gateways an Envoy rejected, write statuses
// back, return memory after bursts, issue the proxies' credentials). Each is
// a Runnable, started by Run; cmd/gatewarden parses flags and wires them.
package controlplane

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"
)

// Runnable is a long-running component, in the style of controller-runtime's
// manager.Runnable: Start blocks until ctx ends or the component fails, and
// returns nil when ctx ended.
type Runnable interface {
	Start(ctx context.Context) error
}

// RunnableFunc makes a function a Runnable.
type RunnableFunc func(context.Context) error

// Start calls f.
func (f RunnableFunc) Start(ctx context.Context) error { return f(ctx) }

// Run starts every component and waits for all of them. The first one that
// fails stops the others (their context ends) and its error is returned;
// components ending because ctx ended are not an error.
func Run(ctx context.Context, components ...Runnable) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, c := range components {
		g.Go(func() error { return c.Start(ctx) })
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
