package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/pflag"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatewarden/gatewarden/internal/provision"
	"github.com/gatewarden/gatewarden/pkg/source/kube"
)

// provisionOptions configure the automated deployment of each Gateway's
// Envoys (Kubernetes mode).
type provisionOptions struct {
	enabled    bool
	image      string
	xdsAddress string
	serverName string
}

func addProvisionFlags(f *pflag.FlagSet, o *provisionOptions) {
	f.BoolVar(&o.enabled, "provision", false, "Kubernetes mode: create and keep, for each Gateway of gatewarden's classes, its Envoy Deployment, bootstrap ConfigMap, ServiceAccount and Service (named <gateway>-<gatewayclass>, in the Gateway's namespace), with xDS client certificates written next to them; a GatewayClass opts out with the annotation "+provision.AnnotationProvision+"=false or GatewayParameters spec.provision false")
	f.StringVar(&o.image, "envoy-image", provision.DefaultImage, "Kubernetes mode, --provision: Envoy image of the Deployments (a GatewayClass's GatewayParameters may name another); the default is the Envoy release gatewarden's xDS API matches")
	f.StringVar(&o.xdsAddress, "provision-xds-address", "", "Kubernetes mode, --provision: HOST:PORT where the provisioned Envoys reach gatewarden's xDS (default gatewarden.$POD_NAMESPACE.svc.cluster.local:18000, gatewarden's Service)")
	f.StringVar(&o.serverName, "provision-xds-server-name", "", "Kubernetes mode, --provision: name the Envoys check in gatewarden's xDS certificate (default the host of --provision-xds-address)")
}

// newProvisioner adds the provisioner to the Kubernetes source's manager
// when provisioning is on; nil when it is off.
func newProvisioner(o serveOptions, log *slog.Logger, src *kube.Source) (*provision.Provisioner, error) {
	if !o.provision.enabled {
		return nil, nil
	}
	ns := leaseNamespace(o)
	addr := o.provision.xdsAddress
	if addr == "" {
		// gatewarden's Service, in gatewarden's namespace (that of its
		// Lease unless $POD_NAMESPACE says otherwise).
		svcNS := os.Getenv("POD_NAMESPACE")
		if svcNS == "" {
			svcNS = ns
		}
		addr = "gatewarden." + svcNS + ".svc.cluster.local:18000"
	}
	prov, err := provision.New(provision.Options{
		Manager:        src.Manager(),
		Log:            log.With("component", "provisioner"),
		ControllerName: o.controllerName,
		Config:         provision.Config{XDSAddress: addr, XDSServerName: o.provision.serverName, Image: o.provision.image},
		LeaderElection: o.leaderElect, LeaderElectionNamespace: ns, LeaseDuration: o.leaseDuration,
	})
	if err != nil {
		return nil, fmt.Errorf("--provision: %w", err)
	}
	return prov, nil
}

// cacheByObject are the informer settings provisioning needs, if on.
func cacheByObject(o serveOptions) map[client.Object]cache.ByObject {
	if !o.provision.enabled {
		return nil
	}
	return provision.CacheByObject()
}
