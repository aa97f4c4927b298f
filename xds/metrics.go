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
		Streams:   gaugeVec("gatewarden_xds_streams", "Open xDS streams, by protocol (sotw or delta).", "protocol"),
		Pushes:    counterVec("gatewarden_xds_pushes_total", "xDS responses sent to Envoys, by resource type.", "type"),
		BytesSent: counterVec("gatewarden_xds_bytes_sent_total", "Bytes of xDS responses sent to Envoys (protobuf size), by resource type.", "type"),
		Acks:      counterVec("gatewarden_xds_acks_total", "xDS responses Envoys accepted, by gateway and resource type.", "gateway", "type"),
		Nacks:     counterVec("gatewarden_xds_nacks_total", "xDS responses Envoys rejected, by gateway and resource type.", "gateway", "type"),
		Snapshots: counterVec("gatewarden_xds_snapshots_total", "New snapshots published, by gateway.", "gateway"),
		SnapshotErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_xds_snapshot_errors_total", Help: "Snapshots not published because they were inconsistent.",
		}),
		Connected: gaugeVec("gatewarden_xds_connected_envoys", "Envoys connected, by gateway (the node cluster they announced).", "gateway"),
		PushLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gatewarden_xds_push_latency_seconds", Help: "Time from publishing a Gateway's configuration to sending it on a stream open at the time.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		Denied:  counterVec("gatewarden_xds_denied_total", "xDS streams refused because the client's certificate does not name the Gateway asked for, by reason.", "reason"),
		Refused: counterVec("gatewarden_xds_refused_total", "xDS streams ended for going over a limit or asking for a type that is not served, by limit.", "limit"),
	}
	reg.MustRegister(m.Streams, m.Pushes, m.BytesSent, m.Acks, m.Nacks, m.Snapshots, m.SnapshotErrs, m.Connected, m.PushLatency, m.Denied, m.Refused)
	return m
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
}
