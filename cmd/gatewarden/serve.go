package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/gatewarden/gatewarden/pkg/admin"
	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
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
	f.StringSliceVar(&o.gatewayAddrs, "gateway-address", nil, "address (IP or host name) of the Envoys, published in the status.addresses of each Gateway that has neither spec.addresses nor a Service labelled "+translator.GatewayServiceLabel+"=<gateway>; repeatable")
	f.DurationVar(&o.releaseAfter, "release-memory-after", 500*time.Millisecond, "once translations and xDS pushes have been quiet this long, return the memory they freed to the system at once rather than gradually (costs one garbage collection); 0 disables")
	f.IntVar(&o.scopedMinHosts, "scoped-routes-min-hosts", translator.DefaultScopedRoutesMinHosts, "from this many virtual hosts on a port, all with exact hostnames, serve one route configuration per hostname (Envoy scoped RDS) so that a change to one route resends only its own (Envoy then matches the Host header of such a port case-sensitively); 0 disables")
	f.BoolVar(&o.allowLoopback, "allow-loopback-backends", false, "let routes and JWKS fetches reach loopback endpoints (127.0.0.0/8, ::1, localhost, *.localhost), for local development; default true in directory mode, false in Kubernetes mode, where such an endpoint would reach the proxy itself (link-local and unspecified addresses are always refused)")
	f.BoolVar(&o.bindGWAddr, "bind-gateway-address", false, "bind each Gateway's Envoy listeners to the Gateway's first published IP address instead of 0.0.0.0 (Envoys of several Gateways on one host); a Gateway without one is not served and is Programmed=False, AddressNotAssigned")
	f.DurationVar(&o.leaseDuration, "lease-duration", 15*time.Second, "how long a leader's Lease lasts without renewal")
	f.StringVar(&o.xdsAddress, "xds-address", "127.0.0.1:18000", "address of the ADS gRPC server")
	f.StringVar(&o.adminAddress, "admin-address", "127.0.0.1:9090", "address of the admin endpoint (/healthz, /readyz, /metrics; and /debug/config, /debug/xds, /debug/pprof when it is a loopback address)")
	f.StringVar(&o.debugAddress, "debug-address", "", "address of the debug endpoints (/debug/config, /debug/xds, /debug/pprof) when --admin-address is not a loopback address; they show every Gateway's configuration, so keep it loopback (kubectl port-forward reaches it); empty: not served")
	f.StringVar(&o.controllerName, "controller-name", translator.DefaultControllerName, "GatewayClass controllerName to serve")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.DurationVar(&o.debounce, "debounce", 30*time.Millisecond, "quiet time after a file change before the directory is read again")
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
	translateSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "gatewarden_translation_seconds", Help: "Time to translate all resources.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	problemsGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatewarden_resource_problems", Help: "Manifests (or documents) that could not be used as they are.",
	})
	reg.MustRegister(translateSeconds, problemsGauge)
	srv := xds.NewServer(log, xds.NewMetrics(reg))
	release := &memoryReleaser{quiet: o.releaseAfter, log: log, drop: srv.DropResponseLists}
	srv.OnBusy(release.kick)

	var mu sync.Mutex
	var last *translator.Result
	var lastProblems []string
	debug := func() any {
		mu.Lock()
		defer mu.Unlock()
		doc := map[string]any{"versions": srv.Versions(), "nacks": srv.Nacks(), "problems": lastProblems}
		if last != nil {
			if d, err := served(srv, last); err == nil {
				doc["config"] = d
			} else {
				doc["error"] = err.Error()
			}
		}
		return doc
	}
	ready := func() bool {
		select {
		case <-srv.Ready():
			return true
		default:
			return false
		}
	}

	xdsLis, err := net.Listen("tcp", o.xdsAddress)
	if err != nil {
		return fmt.Errorf("xDS listener: %w", err)
	}
	adminLis, err := net.Listen("tcp", o.adminAddress)
	if err != nil {
		xdsLis.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	source := "kubernetes"
	if o.resources != "" {
		source = o.resources
	}
	log.Info("gatewarden serving", "version", version, "source", source,
		"xds", xdsLis.Addr().String(), "admin", adminLis.Addr().String(), "controller", o.controllerName)

	g, ctx := errgroup.WithContext(ctx)
	sec, err := setupXDSAuth(ctx, o, log, srv)
	if err != nil {
		xdsLis.Close()
		adminLis.Close()
		return err
	}
	g.Go(func() error { return srv.Serve(ctx, xdsLis, sec.grpcOpts...) })
	if o.provision.enabled && o.resources == "" && sec.ca == nil {
		log.Warn("--provision without gatewarden's own CA: the provisioned Envoy Pods mount a Secret xds.<namespace>.<name> that nothing writes, and wait for it (serve xDS on a non-loopback address, or give --xds-auth=mtls, to have gatewarden issue them)")
	}
	var gatewaysMu sync.Mutex
	var gateways []string
	if sec.ca != nil {
		g.Go(func() error {
			return sec.ca.Run(ctx, 10*time.Minute, func() []string {
				gatewaysMu.Lock()
				defer gatewaysMu.Unlock()
				return gateways
			})
		})
	}
	xdsDoc := func() any {
		mu.Lock()
		defer mu.Unlock()
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
		g.Go(func() error { return adm.Serve(ctx, adminLis) })
	} else {
		g.Go(func() error { return admin.ServeHandler(ctx, adminLis, adm.Public()) })
		if o.debugAddress != "" {
			if !isLoopback(o.debugAddress) {
				log.Warn("debug endpoints on an address reachable from other hosts: they show every Gateway's configuration", "debug", o.debugAddress)
			}
			debugLis, err := net.Listen("tcp", o.debugAddress)
			if err != nil {
				return fmt.Errorf("debug listener: %w", err)
			}
			g.Go(func() error { return adm.Serve(ctx, debugLis) })
		}
	}
	// pipeline translates, publishes and remembers one set of resources; both
	// sources call it from a single goroutine.
	pipeline := func(ctx context.Context, res *resource.Resources, problems []error) *translator.Result {
		for _, p := range problems {
			log.Error("resource problem", "problem", p.Error())
		}
		problemsGauge.Set(float64(len(problems)))
		start := time.Now()
		result := translator.Translate(res, translator.Options{ControllerName: o.controllerName, GatewayAddresses: o.gatewayAddrs, BindGatewayAddress: o.bindGWAddr, ScopedRoutesMinHosts: o.scopedMinHosts, AllowLoopbackBackends: o.allowLoopback})
		took := time.Since(start)
		translateSeconds.Observe(took.Seconds())
		log.Info("translated", "objects", res.Len(), "gateways", len(result.Gateways), "took", took.Round(time.Microsecond))
		logStatus(log, result)
		if err := srv.Publish(ctx, result); err != nil {
			log.Error("publish", "error", err)
		}
		if sec.ca != nil {
			// Each served Gateway's proxies get their client certificate.
			keys := make([]string, 0, len(result.Gateways))
			for _, gc := range result.Gateways {
				keys = append(keys, gc.Key())
			}
			gatewaysMu.Lock()
			gateways = keys
			gatewaysMu.Unlock()
			sec.ca.Kick()
		}
		release.kick()
		mu.Lock()
		// Only the statuses are kept: the served configuration lives in the
		// xDS server, encoded.
		last = &translator.Result{Status: result.Status}
		lastProblems = lastProblems[:0]
		for _, p := range problems {
			lastProblems = append(lastProblems, p.Error())
		}
		mu.Unlock()
		// The sources use the statuses alone.
		return &translator.Result{Status: result.Status}
	}
	// A NACK marks the Gateway not Programmed in the last translation's
	// status (logged; written back in Kubernetes mode).
	var onRejected func(*translator.Result)
	srv.OnNack(func(gateway string, n xds.Nack) {
		ns, name, _ := strings.Cut(gateway, "/")
		mu.Lock()
		if last == nil {
			mu.Unlock()
			return
		}
		st := last.Status.WithRejected(ns, name, n.Message)
		if st == nil {
			mu.Unlock()
			return
		}
		res := &translator.Result{Status: st}
		last = res
		mu.Unlock()
		log.Warn("Gateway not programmed: Envoy rejected its configuration", "gateway", gateway, "version", n.Version, "error", n.Message)
		if onRejected != nil {
			onRejected(res)
		}
	})
	if o.resources != "" {
		g.Go(func() error {
			loader := dir.NewLoader(o.resources)
			return dir.Watch(ctx, loader, dir.WatchOptions{Debounce: o.debounce, Resync: 30 * time.Second, Log: log}, func(scan dir.Scan) {
				pipeline(ctx, scan.Resources, scan.Problems)
			})
		})
	} else {
		src, err := newKubeSource(o, log, func(ctx context.Context, res *resource.Resources) *translator.Result {
			return pipeline(ctx, res, nil)
		})
		if err != nil {
			return err
		}
		onRejected = src.Offer
		g.Go(func() error { return src.Run(ctx) })
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("gatewarden stopped")
	return nil
}

// served is the configuration the xDS server serves, with the statuses of
// the last translation, for the debug endpoints.
func served(srv *xds.Server, last *translator.Result) (*translator.Dump, error) {
	configs, err := srv.Configs()
	if err != nil {
		return nil, err
	}
	return (&translator.Result{Gateways: configs, Status: last.Status}).Dump()
}

// memoryReleaser returns the memory of a burst of translations and pushes
// to the system once the burst is over. Most of what a translation of thousands
// of routes allocates is garbage as soon as it is published, and the Go
// runtime keeps the heap it grew to (up to twice the heap live at its last
// collection, which may have run in the middle of a translation) and hands
// it back only gradually: without this, a container's memory stays near
// the peak of the last change.
type memoryReleaser struct {
	quiet time.Duration
	log   *slog.Logger
	drop  func() // lets go of what is kept only while busy, if set
	free  func() // debug.FreeOSMemory when nil
	mu    sync.Mutex
	timer *time.Timer
}

// kick (re)starts the quiet period.
func (r *memoryReleaser) kick() {
	if r.quiet <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer == nil {
		r.timer = time.AfterFunc(r.quiet, r.release)
		return
	}
	r.timer.Reset(r.quiet)
}

func (r *memoryReleaser) release() {
	if r.drop != nil {
		r.drop()
	}
	free := r.free
	if free == nil {
		free = func() {
			// Two collections: objects cached in sync.Pools (gRPC's buffers)
			// outlive the first.
			runtime.GC()
			debug.FreeOSMemory()
		}
	}
	// Reading the memory statistics stops the world: only for the log.
	if !r.log.Enabled(context.Background(), slog.LevelDebug) {
		free()
		return
	}
	start := time.Now()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	before := m.HeapSys - m.HeapReleased
	free()
	runtime.ReadMemStats(&m)
	r.log.Debug("returned freed memory to the system", "heapBefore", before, "heapAfter", m.HeapSys-m.HeapReleased, "took", time.Since(start).Round(time.Millisecond))
}
