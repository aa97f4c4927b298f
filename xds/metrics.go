package xds

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Prometheus series of the xDS server.
type Metrics struct {
	Streams      *prometheus.GaugeVec
	Pushes       *prometheus.CounterVec
	BytesSent    *prometheus.CounterVec
	Acks         *prometheus.CounterVec
	Nacks        *prometheus.CounterVec
	Snapshots    *prometheus.CounterVec
	SnapshotErrs prometheus.Counter
	// Connected counts the Envoys connected per Gateway (node cluster).
	Connected *prometheus.GaugeVec
	// PushLatency is the time from a snapshot's publication to its first
	// response on a stream that was open when it was published.
	PushLatency prometheus.Histogram
	// Denied counts streams refused because their client's identity does
	// not name the Gateway they asked for; Refused, streams ended for
	// going over a limit or asking for a type that is not served.
	Denied, Refused *prometheus.CounterVec
}

// NewMetrics registers the xDS series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewarden_xds_streams", Help: "Open xDS streams, by protocol (sotw or delta).",
		}, []string{"protocol"}),
		Pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_xds_pushes_total", Help: "xDS responses sent to Envoys, by resource type.",
		}, []string{"type"}),
		BytesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_xds_bytes_sent_total", Help: "Bytes of xDS responses sent to Envoys (protobuf size), by resource type.",
		}, []string{"type"}),
		Acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_xds_acks_total", Help: "xDS responses Envoys accepted, by gateway and resource type.",
		}, []string{"gateway", "type"}),
		Nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_xds_nacks_total", Help: "xDS responses Envoys rejected, by gateway and resource type.",
		}, []string{"gateway", "type"}),
		Snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_xds_snapshots_total", Help: "New snapshots published, by gateway.",
		}, []string{"gateway"}),
		SnapshotErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_xds_snapshot_errors_total", Help: "Snapshots not published because they were inconsistent.",
		}),
		Connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewarden_xds_connected_envoys", Help: "Envoys connected, by gateway (the node cluster they announced).",
		}, []string{"gateway"}),
		PushLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gatewarden_xds_push_latency_seconds", Help: "Time from publishing a Gateway's configuration to sending it on a stream open at the time.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		Denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_xds_denied_total", Help: "xDS streams refused because the client's certificate does not name the Gateway asked for, by reason.",
		}, []string{"reason"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_xds_refused_total", Help: "xDS streams ended for going over a limit or asking for a type that is not served, by limit.",
		}, []string{"limit"}),
	}
	reg.MustRegister(m.Streams, m.Pushes, m.BytesSent, m.Acks, m.Nacks, m.Snapshots, m.SnapshotErrs, m.Connected, m.PushLatency, m.Denied, m.Refused)
	return m
}
