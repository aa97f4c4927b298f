package xds

import (
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
)

// ReadyPath is the one path the readiness listener serves: Envoy's admin
// /ready, 200 once Envoy is LIVE (its first listeners and clusters from
// gatewarden applied) and 503 while it initialises or drains.
const ReadyPath = "/ready"

const readyListenerName = "gatewarden-ready"

// addReadyListener adds a listener on addr that forwards exactly GET /ready
// to Envoy's admin interface, for a kubelet readiness probe: the probe then
// reflects Envoy's own state while the admin interface (which can quit
// Envoy, drain its listeners or change its log level) stays on loopback.
func addReadyListener(b *bootstrapv3.Bootstrap, addr, admin string) error {
	l, c, err := adminPathResources(readyListenerName, "readiness", addr, admin, ReadyPath)
	if err != nil {
		return err
	}
	b.StaticResources.Listeners = append(b.StaticResources.Listeners, l)
	for _, have := range b.StaticResources.Clusters {
		if have.GetName() == c.GetName() {
			return nil // the metrics listener's cluster reaches the same admin
		}
	}
	b.StaticResources.Clusters = append(b.StaticResources.Clusters, c)
	return nil
}
