package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"k8s.io/client-go/tools/clientcmd"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/source/kube"
)

func newKubeSource(o serveOptions, log *slog.Logger, onResources func(context.Context, *resource.Resources), onElected func(context.Context) error) (*kube.Source, error) {
	cfg, err := ctrlconfig.GetConfig()
	if o.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes configuration (give --resources DIR for directory mode): %w", err)
	}
	ns := leaseNamespace(o)
	return kube.New(kube.Options{
		Config:                  cfg,
		Log:                     log,
		ControllerName:          o.controllerName,
		Debounce:                o.debounce,
		LeaderElection:          o.leaderElect,
		LeaderElectionNamespace: ns,
		LeaseDuration:           o.leaseDuration,
		RenewDeadline:           o.leaseDuration * 2 / 3,
		CacheByObject:           cacheByObject(o),
		OnResources:             onResources,
		OnElected:               onElected,
	})
}

// leaseNamespace is where the Leases live: --leader-election-namespace,
// else gatewarden's own namespace ($POD_NAMESPACE), else gatewarden-system.
func leaseNamespace(o serveOptions) string {
	if o.leaderNS != "" {
		return o.leaderNS
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return "gatewarden-system"
}
