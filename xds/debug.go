package xds

import (
	"slices"

	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// Configs decodes the configuration served to each Gateway, for the debug
// endpoints: gatewarden keeps only the encoded form once it is published.
func (s *Server) Configs() ([]*xdsconfig.GatewayConfig, error) {
	s.mu.Lock()
	snaps := map[string]*Snapshot{}
	for key, snap := range s.snapshots {
		if !snap.empty {
			snaps[key] = snap
		}
	}
	s.mu.Unlock()
	keys := make([]string, 0, len(snaps))
	for k := range snaps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*xdsconfig.GatewayConfig, 0, len(keys))
	for _, key := range keys {
		k := splitKey(key)
		gc := &xdsconfig.GatewayConfig{Namespace: k[0], Name: k[1]}
		for _, t := range resourceTypes {
			if err := t.decode(snaps[key], gc); err != nil {
				return nil, err
			}
		}
		out = append(out, gc)
	}
	return out, nil
}
