package explain

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/go-jose/go-jose/v4"
)

// fetchRemoteKeys loads the keys of remote providers through their clusters.
// A fetch that fails leaves the provider without keys, as Envoy's fetch
// failure does.
func fetchRemoteKeys(li *listener, clusters map[string]*endpointv3.ClusterLoadAssignment, fetch func(cluster, uri, endpoint string) ([]byte, error)) {
	for _, p := range li.providers {
		if p.remote == nil {
			continue
		}
		cla := clusters[p.remote.GetHttpUri().GetCluster()]
		for _, l := range cla.GetEndpoints() {
			for _, ep := range l.LbEndpoints {
				sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
				body, err := fetch(p.remote.GetHttpUri().GetCluster(), p.remote.GetHttpUri().GetUri(), fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()))
				if err != nil {
					continue
				}
				var set jose.JSONWebKeySet
				if json.Unmarshal(body, &set) == nil {
					p.keys = set.Keys
					return
				}
			}
		}
	}
}

// HTTPFetch fetches a JWKS from endpoint ("host:port") with the URL's path
// and Host, for Options.FetchJWKS.
func HTTPFetch(uri, endpoint string) ([]byte, error) { return fetch(uri, endpoint, nil) }

// fetch GETs uri from endpoint, over TLS checked by tlsConfig when it is
// not nil (its server name defaulting to the URI's host), and reads at
// most 1 MiB of a 200 answer.
func fetch(uri, endpoint string, tlsConfig *tls.Config) ([]byte, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, err
	}
	// Envoy resolves every *.localhost name to the loopback address (RFC
	// 6761); do the same, as the system resolver may not.
	if h, p, err := net.SplitHostPort(endpoint); err == nil && (h == "localhost" || strings.HasSuffix(h, ".localhost")) {
		endpoint = net.JoinHostPort("127.0.0.1", p)
	}
	target := *u
	target.Host = endpoint
	client := &http.Client{Timeout: 5 * time.Second}
	if tlsConfig != nil {
		cfg := tlsConfig.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		target.Scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: cfg}
	}
	req, err := http.NewRequest(http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Host = u.Host
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", uri, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
