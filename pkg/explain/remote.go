package explain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// FetchConfig reads the configuration a running gatewarden serves, from its
// admin endpoint's /debug/xds, so that explain evaluates exactly that.
func FetchConfig(adminAddress string) ([]*xdsconfig.GatewayConfig, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + adminAddress + "/debug/xds")
	if err != nil {
		return nil, fmt.Errorf("fetch the served configuration: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The status is the error; the body's first line says why, if it can be read.
		reason := ""
		if b, err := io.ReadAll(io.LimitReader(resp.Body, 512)); err == nil && len(bytes.TrimSpace(b)) > 0 {
			reason = ": " + strings.TrimSpace(string(b))
		}
		return nil, fmt.Errorf("fetch the served configuration from %s: %s%s", adminAddress, resp.Status, reason)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return DecodeConfig(body)
}

// DecodeConfig reads the JSON of render.Dump's gateways back into xDS
// resources.
func DecodeConfig(data []byte) ([]*xdsconfig.GatewayConfig, error) {
	var doc struct {
		Gateways []struct {
			Gateway   string            `json:"gateway"`
			Listeners []json.RawMessage `json:"listeners"`
			Routes    []json.RawMessage `json:"routes"`
			Scoped    []json.RawMessage `json:"scopedRoutes"`
			Clusters  []json.RawMessage `json:"clusters"`
			Endpoints []json.RawMessage `json:"endpoints"`
		} `json:"gateways"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode the served configuration: %w", err)
	}
	var out []*xdsconfig.GatewayConfig
	for _, g := range doc.Gateways {
		gc := &xdsconfig.GatewayConfig{}
		for i, c := range g.Gateway {
			if c == '/' {
				gc.Namespace, gc.Name = g.Gateway[:i], g.Gateway[i+1:]
				break
			}
		}
		var err error
		if gc.Listeners, err = decodeAll(g.Listeners, func() *listenerv3.Listener { return &listenerv3.Listener{} }); err != nil {
			return nil, err
		}
		if gc.Routes, err = decodeAll(g.Routes, func() *routev3.RouteConfiguration { return &routev3.RouteConfiguration{} }); err != nil {
			return nil, err
		}
		if gc.ScopedRoutes, err = decodeAll(g.Scoped, func() *routev3.ScopedRouteConfiguration { return &routev3.ScopedRouteConfiguration{} }); err != nil {
			return nil, err
		}
		if gc.Clusters, err = decodeAll(g.Clusters, func() *clusterv3.Cluster { return &clusterv3.Cluster{} }); err != nil {
			return nil, err
		}
		if gc.Endpoints, err = decodeAll(g.Endpoints, func() *endpointv3.ClusterLoadAssignment { return &endpointv3.ClusterLoadAssignment{} }); err != nil {
			return nil, err
		}
		out = append(out, gc)
	}
	return out, nil
}

func decodeAll[T proto.Message](raw []json.RawMessage, mk func() T) ([]T, error) {
	out := make([]T, 0, len(raw))
	for _, r := range raw {
		m := mk()
		if err := protojson.Unmarshal(r, m); err != nil {
			return nil, fmt.Errorf("decode %T: %w", m, err)
		}
		out = append(out, m)
	}
	return out, nil
}
