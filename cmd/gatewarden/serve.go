package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/gatewarden/gatewarden/internal/controlplane"
	"github.com/gatewarden/gatewarden/internal/render"
	"github.com/gatewarden/gatewarden/pkg/admin"
	"github.com/gatewarden/gatewarden/pkg/debounce"
	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/pkg/source/kube"
	"github.com/gatewarden/gatewarden/translator"
	"github.com/gatewarden/gatewarden/xds"
)

type serveOptions struct {
	resources      string
	kubeconfig     string
	leaderElect    bool
	leaderNS       string
	leaseDuration  time.Duration
	gatewayAddrs   []string
	bindGWAddr     bool
	scopedMinHosts int
	allowLoopback  bool
	releaseAfter   time.Duration
	tls            xds.TLSOptions
	auth           xdsAuthOptions
	xdsAddress     string
	adminAddress   string
	debugAddress   string
	controllerName string
	logLevel       string
	debounce       time.Duration
	provision      provisionOptions
}

func newServeCommand() *cobra.Command {
	o := serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [--resources DIR | --kubeconfig FILE]",
		Short: "Serve Envoy configuration over ADS from a directory or a Kubernetes cluster",
		Long: `serve translates Gateway API resources and VirtualHostOption / RouteOption
policies and serves the result to Envoys over ADS (delta and state of the
world). An Envoy selects its Gateway with its node cluster "namespace/name";
'gatewarden bootstrap' writes such a bootstrap.

Directory mode (--resources DIR): every *.yaml, *.yml and *.json manifest under
DIR is read and watched; a file that does not parse is reported and changes
nothing (its last good version stays in use).

Kubernetes mode (no --resources): the resources are watched through the API
server (in-cluster configuration, or --kubeconfig / $KUBECONFIG). Status is
written back by the replica elected leader; every replica serves xDS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if !cmd.Flags().Changed("allow-loopback-backends") {
				o.allowLoopback = o.resources != ""
			}
			return runServe(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.resources, "resources", "", "directory of manifests to serve; without it, serve from the Kubernetes API")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (Kubernetes mode; default in-cluster or $KUBECONFIG)")
	f.BoolVar(&o.leaderElect, "leader-elect", true, "elect one replica to write status (Kubernetes mode)")
	f.StringVar(&o.leaderNS, "leader-election-namespace", "", "namespace of the leader election Lease (default $POD_NAMESPACE, else gatewarden-system)")
	f.StringVar(&o.tls.CertFile, "xds-tls-cert", "", "certificate file: serve xDS over TLS (re-read when it changes)")
	f.StringVar(&o.tls.KeyFile, "xds-tls-key", "", "key file of --xds-tls-cert")
	f.StringVar(&o.tls.ClientCAFile, "xds-tls-client-ca", "", "CA file: require client certificates signed by it (mutual TLS)")
	addXDSAuthFlags(f, &o.auth)
	addProvisionFlags(f, &o.provision)
	f.StringSliceVar(&o.gatewayAddrs, "gateway-address", nil, "address (IP or host name) of the Envoys of each Gateway without a Service labelled "+translator.GatewayServiceLabel+"=<gateway>, published in its status.addresses (only those its spec.addresses request, when it requests some); repeatable")
	f.DurationVar(&o.releaseAfter, "release-memory-after", 500*time.Millisecond, "once translations and xDS pushes have been quiet this long, return the memory they freed to the system at once rather than gradually (costs one garbage collection); 0 disables")
	f.IntVar(&o.scopedMinHosts, "scoped-routes-min-hosts", translator.DefaultScopedRoutesMinHosts, "from this many virtual hosts on a port, all with exact hostnames, serve one route configuration per hostname (Envoy scoped RDS) so that a change to one route resends only its own (Envoy then matches the Host header of such a port case-sensitively); 0 disables")
	f.BoolVar(&o.allowLoopback, "allow-loopback-backends", false, "let routes and JWKS fetches reach loopback endpoints (127.0.0.0/8, ::1, localhost, *.localhost), for local development; default true in directory mode, false in Kubernetes mode, where such an endpoint would reach the proxy itself (link-local and unspecified addresses are always refused)")
	f.BoolVar(&o.bindGWAddr, "bind-gateway-address", false, "bind each Gateway's Envoy listeners to the Gateway's first published IP address instead of 0.0.0.0 (Envoys of several Gateways on one host); a Gateway without one is not served and is Programmed=False, AddressNotAssigned")
	f.DurationVar(&o.leaseDuration, "lease-duration", 15*time.Second, "how long a leader's Lease lasts without renewal")
	f.StringVar(&o.xdsAddress, "xds-address", "127.0.0.1:18000", "address of the ADS gRPC server")
	f.StringVar(&o.adminAddress, "admin-address", "127.0.0.1:9090", "address of the admin endpoint (/healthz, /readyz, /metrics; and /debug/config, /debug/xds, /debug/pprof when it is a loopback address)")
	f.StringVar(&o.debugAddress, "debug-address", "", "address of the debug endpoints (/debug/config, /debug/xds, /debug/pprof) when --admin-address is not a loopback address; they show every Gateway's configuration, so keep it loopback (kubectl port-forward reaches it); empty: not served")
	addControllerNameFlag(f, &o.controllerName)
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.DurationVar(&o.debounce, "debounce", debounce.DefaultQuiet, "how long changes must be quiet before the resources are translated again: files of the directory (directory mode) or objects of the API server (Kubernetes mode); a stream of changes that never pauses is translated at least every "+debounce.DefaultMaxDelay.String())
	return cmd
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func runServe(ctx context.Context, o serveOptions) error {
	log, err := newLogger(o.logLevel)
	if err != nil {
		return err
	}
	if o.resources != "" {
		if st, err := os.Stat(o.resources); err != nil || !st.IsDir() {
			return fmt.Errorf("--resources %q: not a readable directory", o.resources)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	xdsLis, err := net.Listen("tcp", o.xdsAddress)
	if err != nil {
		return fmt.Errorf("xDS listener: %w", err)
	}
	adminLis, err := net.Listen("tcp", o.adminAddress)
	if err != nil {
		return errors.Join(fmt.Errorf("admin listener: %w", err), xdsLis.Close())
	}
	source := "kubernetes"
	if o.resources != "" {
		source = o.resources
	}
	log.Info("gatewarden serving", "version", version, "source", source,
		"xds", xdsLis.Addr().String(), "admin", adminLis.Addr().String(), "controller", o.controllerName)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sec, err := setupXDSAuth(ctx, o, log)
	if err != nil {
		return errors.Join(err, xdsLis.Close(), adminLis.Close())
	}
	// The server, the memory releaser and the pipeline call one another:
	// the closures below run only once the components start.
	var srv *xds.Server
	var pipeline *controlplane.Pipeline
	release := controlplane.NewMemoryReleaser(o.releaseAfter, log, func() { srv.DropResponseLists() })
	srv = xds.NewServer(xds.ServerOptions{
		Log: log, Metrics: xds.NewMetrics(reg),
		RequireIdentity: sec.requireIdentity, TrustDomain: o.auth.trustDomain,
		OnBusy: release.Kick,
		// A NACK marks the Gateway not Programmed in the last translation's
		// status (logged; written back in Kubernetes mode).
		OnNack: func(gateway string, n xds.Nack) { pipeline.Rejected(gateway, n) },
	})
	components := []controlplane.Runnable{
		controlplane.RunnableFunc(func(ctx context.Context) error { return srv.Serve(ctx, xdsLis, sec.grpcOpts...) }),
		release,
	}
	published := func([]string) { release.Kick() }
	if o.provision.enabled && o.resources == "" && sec.ca == nil {
		log.Warn("--provision without gatewarden's own CA: the provisioned Envoy Pods mount a Secret xds.<namespace>.<name> that nothing writes, and wait for it (serve xDS on a non-loopback address, or give --xds-auth=mtls, to have gatewarden issue them)")
	}
	if sec.ca != nil {
		var gatewaysMu sync.Mutex
		var gateways []string
		components = append(components, controlplane.RunnableFunc(func(ctx context.Context) error {
			return sec.ca.Run(ctx, 10*time.Minute, func() []string {
				gatewaysMu.Lock()
				defer gatewaysMu.Unlock()
				return gateways
			})
		}))
		// Each served Gateway's proxies get their client certificate.
		published = func(keys []string) {
			gatewaysMu.Lock()
			gateways = keys
			gatewaysMu.Unlock()
			sec.ca.Kick()
			release.Kick()
		}
	}
	popts := controlplane.PipelineOptions{
		Log: log, Publisher: srv, Registry: reg, Published: published,
		Translate: translator.Options{ControllerName: o.controllerName, GatewayAddresses: o.gatewayAddrs, BindGatewayAddress: o.bindGWAddr, ScopedRoutesMinHosts: o.scopedMinHosts, AllowLoopbackBackends: o.allowLoopback},
	}
	// The directory source reads every field of the Gateway API's types,
	// the experimental channel's too.
	popts.Translate.ExperimentalChannel = o.resources != ""
	// The Kubernetes source, the status writer and the pipeline need one
	// another too.
	var kubeSrc *kube.Source
	var writer *controlplane.StatusWriter
	if o.resources == "" {
		// Statuses go back to the API server from the elected replica.
		kubeSrc, err = newKubeSource(o, log,
			func(ctx context.Context, res *resource.Resources) { pipeline.Handle(ctx, res, nil) },
			func(ctx context.Context) error { return writer.Start(ctx) })
		if err != nil {
			return err
		}
		popts.Translate.ExperimentalChannel = kubeSrc.Channel() == kube.ChannelExperimental
		log.Info("Gateway API CRDs", "channel", kubeSrc.Channel())
		writer = controlplane.NewStatusWriter(kubeSrc.Client(), o.controllerName, kubeSrc.Installed(), log)
		offer := writer.Offer
		prov, err := newProvisioner(o, log, kubeSrc)
		if err != nil {
			return err
		}
		popts.Translate.Provisioning = prov != nil
		if prov != nil {
			// Provisioning adds its word (parameters, available replicas) to
			// every status written, and re-offers the last translation's
			// when a Deployment or parameters change.
			prov.SetOffer(writer.Offer)
			offer = func(r *translator.Result) { writer.Offer(prov.Mark(r)) }
		}
		popts.Statuses = append(popts.Statuses, offer)
	}
	pipeline, err = controlplane.NewPipeline(popts)
	if err != nil {
		return err
	}
	if kubeSrc != nil {
		components = append(components, controlplane.RunnableFunc(kubeSrc.Run))
	} else {
		components = append(components, controlplane.RunnableFunc(func(ctx context.Context) error {
			loader := dir.NewLoader(o.resources)
			return dir.Watch(ctx, loader, dir.WatchOptions{Debounce: o.debounce, Resync: 30 * time.Second, Log: log}, func(scan dir.Scan) {
				pipeline.Handle(ctx, scan.Resources, scan.Problems)
			})
		}))
	}

	ready := func() bool {
		select {
		case <-srv.Ready():
			return true
		default:
			return false
		}
	}
	debug := func() any {
		last, problems := pipeline.Last()
		doc := map[string]any{"versions": srv.Versions(), "nacks": srv.Nacks(), "problems": problems}
		if last != nil {
			if d, err := served(srv, last); err == nil {
				doc["config"] = d
			} else {
				doc["error"] = err.Error()
			}
		}
		return doc
	}
	xdsDoc := func() any {
		last, _ := pipeline.Last()
		if last == nil {
			return map[string]any{"gateways": []any{}}
		}
		d, err := served(srv, last)
		if err != nil {
			return map[string]any{"error": err.Error()}
		}
		return map[string]any{"gateways": d.Gateways}
	}
	adm := admin.New(reg, ready, debug, xdsDoc)
	if isLoopback(o.adminAddress) {
		components = append(components, controlplane.RunnableFunc(func(ctx context.Context) error { return adm.Serve(ctx, adminLis) }))
	} else {
		components = append(components, controlplane.RunnableFunc(func(ctx context.Context) error { return admin.ServeHandler(ctx, adminLis, adm.Public()) }))
		if o.debugAddress != "" {
			if !isLoopback(o.debugAddress) {
				log.Warn("debug endpoints on an address reachable from other hosts: they show every Gateway's configuration", "debug", o.debugAddress)
			}
			debugLis, err := net.Listen("tcp", o.debugAddress)
			if err != nil {
				return fmt.Errorf("debug listener: %w", err)
			}
			components = append(components, controlplane.RunnableFunc(func(ctx context.Context) error { return adm.Serve(ctx, debugLis) }))
		}
	}
	if err := controlplane.Run(ctx, components...); err != nil {
		return err
	}
	log.Info("gatewarden stopped")
	return nil
}

// served is the configuration the xDS server serves, with the statuses of
// the last translation, for the debug endpoints.
func served(srv *xds.Server, last *translator.Result) (*render.Dump, error) {
	configs, err := srv.Configs()
	if err != nil {
		return nil, err
	}
	return render.Of(&translator.Result{Gateways: configs, Status: last.Status})
}
