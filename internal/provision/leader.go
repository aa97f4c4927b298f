package provision

import (
	"context"

	"github.com/gatewarden/gatewarden/pkg/source/kube"
)

// campaign runs lead while this replica holds the provisioner's Lease, and
// campaigns again when it loses it, until ctx ends. It is a Lease of its
// own, not the status writer's: losing it stops provisioning on this
// replica and nothing else (xDS keeps being served).
func campaign(ctx context.Context, o Options, lead func(context.Context) error) error {
	return kube.Campaign(ctx, kube.CampaignOptions{
		Config: o.Manager.GetConfig(), Namespace: o.LeaderElectionNamespace, Name: o.LeaderElectionID,
		LeaseDuration: o.LeaseDuration, Log: o.Log,
		What: "provisioner", Lost: "campaigning again",
	}, lead)
}
