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
	"github.com/gatewarden/gatewarden/translator"
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

// kubeSource is the Kubernetes source with, when provisioning, the
// provisioner's word added to every status it writes.
type kubeSource struct {
	*kube.Source
	prov *provision.Provisioner
}

// Offer hands a re-marked translation (an Envoy's NACK) to the status
// writer, with provisioning's conditions.
func (k *kubeSource) Offer(r *translator.Result) {
	if k.prov != nil {
		r = k.prov.Mark(r)
	}
	k.Source.Offer(r)
}

// withProvisioner adds the provisioner to the source's manager when
// provisioning is on. mark is where the source's OnResources sends each
// translation through the provisioner's Mark.
func withProvisioner(o serveOptions, log *slog.Logger, ns string, build func(mark func(*translator.Result) *translator.Result) (*kube.Source, error)) (*kubeSource, error) {
	if !o.provision.enabled {
		src, err := build(func(r *translator.Result) *translator.Result { return r })
		return &kubeSource{Source: src}, err
	}
	k := &kubeSource{}
	src, err := build(func(r *translator.Result) *translator.Result { return k.prov.Mark(r) })
	if err != nil {
		return nil, err
	}
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
	prov.SetOffer(src.Offer)
	k.Source, k.prov = src, prov
	return k, nil
}

// cacheByObject are the informer settings provisioning needs, if on.
func cacheByObject(o serveOptions) map[client.Object]cache.ByObject {
	if !o.provision.enabled {
		return nil
	}
	return provision.CacheByObject()
}
