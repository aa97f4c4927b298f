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
	"github.com/gatewarden/gatewarden/translator"
)

func newKubeSource(o serveOptions, log *slog.Logger, onResources func(context.Context, *resource.Resources) *translator.Result) (*kubeSource, error) {
	cfg, err := ctrlconfig.GetConfig()
	if o.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes configuration (give --resources DIR for directory mode): %w", err)
	}
	ns := o.leaderNS
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		ns = "gatewarden-system"
	}
	return withProvisioner(o, log, ns, func(mark func(*translator.Result) *translator.Result) (*kube.Source, error) {
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
			OnResources: func(ctx context.Context, res *resource.Resources) *translator.Result {
				return mark(onResources(ctx, res))
			},
		})
	})
}
