package provision

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// campaign runs lead while this replica holds the provisioner's Lease, and
// campaigns again when it loses it, until ctx ends. It is a Lease of its
// own, not the status writer's: losing it stops provisioning on this
// replica and nothing else (xDS keeps being served).
func campaign(ctx context.Context, o Options, lead func(context.Context) error) error {
	cs, err := kubernetes.NewForConfig(o.Manager.GetConfig())
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		host = "gatewarden"
	}
	id := fmt.Sprintf("%s_%s", host, uuid.NewString())
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, o.LeaderElectionNamespace, o.LeaderElectionID,
		cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return err
	}
	lease := o.LeaseDuration
	if lease <= 0 {
		lease = 15 * time.Second
	}
	renew := lease * 2 / 3
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   lease,
			RenewDeadline:   renew,
			RetryPeriod:     renew / 4,
			ReleaseOnCancel: true,
			Name:            o.LeaderElectionID,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					if err := lead(lctx); err != nil {
						o.Log.Error("provisioner", "error", err)
					}
				},
				OnStoppedLeading: func() {
					if ctx.Err() == nil {
						o.Log.Warn("lost the provisioner lease; campaigning again", "identity", id)
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
