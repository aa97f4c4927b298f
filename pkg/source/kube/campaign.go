package kube

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// CampaignOptions name a Lease and how long it is held.
type CampaignOptions struct {
	Config          *rest.Config
	Namespace, Name string
	// LeaseDuration defaults to 15 s; RenewDeadline to two thirds of it.
	LeaseDuration, RenewDeadline time.Duration
	Log                          *slog.Logger
	// What the Lease is for, and what losing it means, for the log.
	What, Lost string
}

// Campaign runs lead while this replica holds the Lease, and campaigns
// again when it loses it, until ctx ends. Unlike controller-runtime's
// manager, which exits the process when it loses its lease, losing one here
// stops lead only: the replica keeps serving xDS, because an xDS server
// that exits on an API server hiccup takes its Envoys' control plane with
// it.
func Campaign(ctx context.Context, o CampaignOptions, lead func(context.Context) error) error {
	cs, err := kubernetes.NewForConfig(o.Config)
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		host = "gatewarden" // the identity stays unique by its UUID
	}
	id := fmt.Sprintf("%s_%s", host, uuid.NewString())
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, o.Namespace, o.Name,
		cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return err
	}
	lease, renew := o.LeaseDuration, o.RenewDeadline
	if lease <= 0 {
		lease = 15 * time.Second
	}
	if renew <= 0 || renew >= lease {
		renew = lease * 2 / 3
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   lease,
			RenewDeadline:   renew,
			RetryPeriod:     renew / 4,
			ReleaseOnCancel: true,
			Name:            o.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					if err := lead(lctx); err != nil {
						o.Log.Error(o.What+" lease holder", "error", err)
					}
				},
				OnStoppedLeading: func() {
					if ctx.Err() == nil {
						o.Log.Warn("lost the "+o.What+" lease; "+o.Lost, "identity", id)
					}
				},
			},
		})
		if err != nil {
			return err
		}
		le.Run(ctx)
	}
	return nil
}
