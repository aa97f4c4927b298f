package kube

import (
	"context"

	"k8s.io/client-go/rest"
)

// statusLeader campaigns for the status-writing Lease and runs OnElected
// while it holds it (see Campaign).
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
	return Campaign(ctx, CampaignOptions{
		Config: l.cfg, Namespace: l.o.LeaderElectionNamespace, Name: l.o.LeaderElectionID,
		LeaseDuration: l.o.LeaseDuration, RenewDeadline: l.o.RenewDeadline, Log: l.o.Log,
		What: "status-writing", Lost: "still serving xDS, campaigning again",
	}, l.o.OnElected)
}
