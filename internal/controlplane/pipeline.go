package controlplane

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
	"github.com/gatewarden/gatewarden/translator"
	"github.com/gatewarden/gatewarden/xds"
)

// Publisher serves the Gateways' configurations: the xDS server.
type Publisher interface {
	Publish(ctx context.Context, gateways []*xdsconfig.GatewayConfig) error
}

// PipelineOptions wire a Pipeline.
type PipelineOptions struct {
	Log       *slog.Logger
	Translate translator.Options
	Publisher Publisher
	// Registry receives the translation metrics; nil registers none.
	Registry prometheus.Registerer
	// Published, if set, is told the keys of the Gateways of each
	// published translation (the certificate issuer serves their proxies).
	Published func(gateways []string)
	// Statuses are told every new set of statuses: each translation's, and
	// the last one's again when a NACK marks a Gateway not programmed (the
	// status writer in Kubernetes mode).
	Statuses []func(*translator.Result)
}

// Pipeline translates each set of resources a source hands it, publishes
// the result, and keeps its statuses (the served configuration lives in
// the xDS server, encoded). Sources call Handle from one goroutine.
type Pipeline struct {
	o                PipelineOptions
	translateSeconds prometheus.Histogram
	problemsGauge    prometheus.Gauge

	mu       sync.Mutex
	last     *translator.Result // statuses only
	problems []string
}

// NewPipeline registers the pipeline's metrics.
func NewPipeline(o PipelineOptions) (*Pipeline, error) {
	p := &Pipeline{o: o,
		translateSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gatewarden_translation_seconds", Help: "Time to translate all resources.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		problemsGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_resource_problems", Help: "Manifests (or documents) that could not be used as they are.",
		}),
	}
	if o.Registry != nil {
		for _, c := range []prometheus.Collector{p.translateSeconds, p.problemsGauge} {
			if err := o.Registry.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// Handle translates res, publishes the configuration and passes the
// statuses on. problems are the manifests the source could not use.
func (p *Pipeline) Handle(ctx context.Context, res *resource.Resources, problems []error) {
	log := p.o.Log
	for _, pr := range problems {
		log.Error("resource problem", "problem", pr.Error())
	}
	p.problemsGauge.Set(float64(len(problems)))
	start := time.Now()
	result := translator.Translate(res, p.o.Translate)
	took := time.Since(start)
	p.translateSeconds.Observe(took.Seconds())
	log.Info("translated", "objects", res.Len(), "gateways", len(result.Gateways), "took", took.Round(time.Microsecond))
	logStatus(log, result)
	if err := p.o.Publisher.Publish(ctx, result.Gateways); err != nil {
		log.Error("publish", "error", err)
	}
	if p.o.Published != nil {
		keys := make([]string, 0, len(result.Gateways))
		for _, gc := range result.Gateways {
			keys = append(keys, gc.Key())
		}
		p.o.Published(keys)
	}
	statuses := &translator.Result{Status: result.Status}
	p.mu.Lock()
	p.last = statuses
	p.problems = p.problems[:0]
	for _, pr := range problems {
		p.problems = append(p.problems, pr.Error())
	}
	p.mu.Unlock()
	p.tell(statuses)
}

// Rejected marks the Gateway an Envoy NACKed not programmed in the last
// translation's statuses (logged; written back in Kubernetes mode). The
// xDS server calls it for the NACKs of bound clients only.
func (p *Pipeline) Rejected(gateway string, n xds.Nack) {
	ns, name, _ := strings.Cut(gateway, "/")
	p.mu.Lock()
	if p.last == nil {
		p.mu.Unlock()
		return
	}
	st := p.last.Status.WithRejected(ns, name, n.Message)
	if st == nil {
		p.mu.Unlock()
		return
	}
	res := &translator.Result{Status: st}
	p.last = res
	p.mu.Unlock()
	p.o.Log.Warn("Gateway not programmed: Envoy rejected its configuration", "gateway", gateway, "version", n.Version, "error", n.Message)
	p.tell(res)
}

func (p *Pipeline) tell(r *translator.Result) {
	for _, f := range p.o.Statuses {
		f(r)
	}
}

// Last returns the statuses of the last translation (nil before the first)
// and the problems its source reported.
func (p *Pipeline) Last() (*translator.Result, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, append([]string(nil), p.problems...)
}
