package kube

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// statusLeader campaigns for the status-writing Lease and runs OnElected
// while it holds it. Unlike controller-runtime's manager, which exits the
// process when it loses the lease, losing it here only stops status writing:
// the replica keeps serving xDS and campaigns again, because an xDS server
// that exits on an API server hiccup takes its Envoys' control plane with it.
type statusLeader struct {
	cfg *rest.Config
	o   Options
}

// NeedLeaderElection: the campaign itself runs on every replica.
func (l *statusLeader) NeedLeaderElection() bool { return false }

func (l *statusLeader) Start(ctx context.Context) error {
	if l.o.OnElected == nil {
		return nil
	}
	if !l.o.LeaderElection {
		return l.o.OnElected(ctx)
	}
	cs, err := kubernetes.NewForConfig(l.cfg)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	id := fmt.Sprintf("%s_%s", host, uuid.NewString())
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, l.o.LeaderElectionNamespace, l.o.LeaderElectionID,
		cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return err
	}
	lease, renew := l.o.LeaseDuration, l.o.RenewDeadline
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
			Name:            l.o.LeaderElectionID,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					if err := l.o.OnElected(lctx); err != nil {
						l.o.Log.Error("status writer", "error", err)
					}
				},
				OnStoppedLeading: func() {
					if ctx.Err() == nil {
						l.o.Log.Warn("lost the status-writing lease; still serving xDS, campaigning again", "identity", id)
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
