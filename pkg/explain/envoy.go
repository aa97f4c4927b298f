package explain

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvoyStats are the counters of a running Envoy, by name, as its admin
// interface's /stats lists them.
//
// explain evaluates tokens itself, with keys it fetches on its own; whether
// the running Envoy holds a provider's keys is another matter (its fetch
// goes through its cluster, with that cluster's TLS settings, and may have
// failed while explain's succeeded, or the reverse). Envoy counts fetches per
// listener (http.<listener>.jwt_authn.jwks_fetch_success / _failed) and the
// outcome of each request and connection per cluster, which names the
// provider's JWKS server: together they say whether its keys are loaded,
// and why not.
type EnvoyStats map[string]int64

// FetchEnvoyStats reads the counters of Envoy's admin interface at addr:
// "unix:PATH" for a Unix socket (gatewarden bootstrap's default), else
// "host:port".
func FetchEnvoyStats(addr string) (EnvoyStats, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		base = "http://envoy"
		client.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}
	}
	resp, err := client.Get(base + "/stats?filter=" + "(jwt_authn|^cluster%5C.)")
	if err != nil {
		return nil, fmt.Errorf("read Envoy's stats from %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read Envoy's stats from %s: %s", addr, resp.Status)
	}
	stats := EnvoyStats{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(val, 10, 64); err == nil {
			stats[name] = n // histograms and text values are not counters
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read Envoy's stats from %s: %w", addr, err)
	}
	return stats, nil
}

// RemoteKeys says, for each remote JWKS provider of the listener a decision
// went through, whether the running Envoy whose stats are given has loaded
// its keys, and if not, why: the lines are meant for Decision.Steps.
func (e *Explainer) RemoteKeys(d *Decision, stats EnvoyStats) []string {
	var li *listener
	for _, g := range e.gateways {
		if g.key != d.Gateway {
			continue
		}
		for _, l := range g.listeners {
			if l.name == d.Listener {
				li = l
			}
		}
	}
	if li == nil {
		return nil
	}
	var names []string
	for name, p := range li.providers {
		if p.remote != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []string
	if len(names) > 0 {
		prefix := "http." + li.hcm.GetStatPrefix() + ".jwt_authn."
		out = append(out, fmt.Sprintf("Envoy (listener %s): %d JWKS fetches succeeded, %d failed", li.name,
			stats[prefix+"jwks_fetch_success"], stats[prefix+"jwks_fetch_failed"]))
	}
	for _, name := range names {
		out = append(out, "Envoy, provider "+name+": "+remoteKeysState(li.providers[name], stats))
	}
	return out
}

// remoteKeysState reads a provider's JWKS cluster counters.
func remoteKeysState(p *provider, stats EnvoyStats) string {
	cluster := p.remote.GetHttpUri().GetCluster()
	c := func(s string) int64 { return stats["cluster."+cluster+"."+s] }
	ok := c("upstream_rq_2xx")
	var why []string
	if n := c("ssl.fail_verify_error"); n > 0 {
		why = append(why, fmt.Sprintf("%d TLS handshakes refused the server's certificate (not signed by the trusted CA: ssl.fail_verify_error)", n))
	}
	if n := c("ssl.fail_verify_san"); n > 0 {
		why = append(why, fmt.Sprintf("%d TLS handshakes found the certificate without the expected name (ssl.fail_verify_san)", n))
	}
	if n := c("upstream_cx_connect_fail"); n > 0 {
		why = append(why, fmt.Sprintf("%d connections failed (upstream_cx_connect_fail)", n))
	}
	if n := c("upstream_rq_timeout"); n > 0 {
		why = append(why, fmt.Sprintf("%d fetches timed out", n))
	}
	if n := c("upstream_rq_4xx") + c("upstream_rq_5xx"); n > 0 {
		why = append(why, fmt.Sprintf("%d fetches answered 4xx or 5xx", n))
	}
	if n := c("upstream_cx_none_healthy"); n > 0 {
		why = append(why, fmt.Sprintf("%d fetches found no endpoint (upstream_cx_none_healthy)", n))
	}
	if _, known := stats["cluster."+cluster+".upstream_rq_total"]; !known {
		return fmt.Sprintf("Envoy has no cluster %s: its configuration is not the one explained", cluster)
	}
	switch {
	case ok > 0 && len(why) == 0:
		return fmt.Sprintf("keys loaded (%d successful fetches from %s through cluster %s)", ok, p.remote.GetHttpUri().GetUri(), cluster)
	case ok > 0:
		return fmt.Sprintf("keys loaded (%d successful fetches through cluster %s); since then or before: %s; Envoy keeps the last keys it fetched", ok, cluster, strings.Join(why, "; "))
	case len(why) > 0:
		return fmt.Sprintf("keys NOT loaded, every token of this provider fails (\"Jwks remote fetch is failed\"): %s, fetching %s through cluster %s", strings.Join(why, "; "), p.remote.GetHttpUri().GetUri(), cluster)
	}
	return fmt.Sprintf("keys not fetched yet through cluster %s", cluster)
}
