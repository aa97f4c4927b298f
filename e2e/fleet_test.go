package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fleetDuration is how long TestFleetChurn churns, per protocol:
// GATEWARDEN_FLEET_DURATION (a Go duration; the reliability suite sets it
// to minutes), 10 s by default.
func fleetDuration(t *testing.T) time.Duration {
	d := 10 * time.Second
	if v := os.Getenv("GATEWARDEN_FLEET_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("GATEWARDEN_FLEET_DURATION=%q: %v", v, err)
		}
	}
	return d
}

const (
	fleetRoutes   = 200 // hostnames: past the scoped threshold (100)
	fleetServices = 20  // clusters served at a time
)

// fleetConfig is generation gen of the churn: Services app<gen>..
// app<gen+19> (each step adds one and removes the oldest) and 200
// HTTPRoutes, h<i>.example.com to a Service of the window that changes
// at every step.
func fleetConfig(e *dirEnv, gen int) string {
	var b strings.Builder
	b.WriteString(gatewayWithPorts(e.gwPort))
	for s := gen; s < gen+fleetServices; s++ {
		b.WriteString("---\n" + loopbackService(fmt.Sprintf("app%d", s), e.httpbinPort, ""))
	}
	for i := range fleetRoutes {
		svc := fmt.Sprintf("app%d", gen+(i*7+gen*3)%fleetServices)
		b.WriteString("---\n" + httpRoute(fmt.Sprintf("r%d", i), e.gwPort, "/", svc, fmt.Sprintf("h%d.example.com", i)))
	}
	return b.String()
}

// TestFleetChurn changes many routes and clusters continuously (every
// 250 ms every route moves to another cluster, a cluster is added and one
// removed) while requests to every hostname flow through a real Envoy:
// not one may fail, with delta and state-of-the-world ADS.
func TestFleetChurn(t *testing.T) {
	d := fleetDuration(t)
	for _, mode := range []string{"delta", "sotw"} {
		t.Run(mode, func(t *testing.T) {
			e := startDirEnvWith(t, mode == "sotw", func(e *dirEnv) {
				e.write("fleet.yaml", fleetConfig(e, 0))
			}, nil, nil)
			eventually(t, 30*time.Second, "every hostname served", func() string {
				for i := range fleetRoutes {
					if a := get(t, e.url+"/status/200", fmt.Sprintf("h%d.example.com", i)); a.code != 200 {
						return fmt.Sprintf("h%d: %s", i, a)
					}
				}
				return ""
			})
			var sent, failed atomic.Int64
			var mu sync.Mutex
			var first []string
			done := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Two probes keep their connections, two open one per
					// request.
					c := &http.Client{Timeout: 5 * time.Second}
					if w%2 == 1 {
						c = client
					}
					for {
						select {
						case <-done:
							return
						default:
						}
						host := fmt.Sprintf("h%d.example.com", rand.IntN(fleetRoutes))
						req, err := http.NewRequest(http.MethodGet, e.url+"/status/200", nil)
						if err != nil {
							panic(err)
						}
						req.Host = host
						resp, err := c.Do(req)
						sent.Add(1)
						msg := ""
						if err != nil {
							msg = err.Error()
						} else {
							body, rerr := io.ReadAll(resp.Body)
							resp.Body.Close()
							if resp.StatusCode != 200 || rerr != nil {
								msg = fmt.Sprintf("%d %s %v", resp.StatusCode, firstLine(string(body)), rerr)
							}
						}
						if msg != "" {
							failed.Add(1)
							mu.Lock()
							if len(first) < 5 {
								first = append(first, time.Now().Format("15:04:05.000")+" "+host+": "+msg)
							}
							mu.Unlock()
						}
					}
				}()
			}
			start := time.Now()
			gen := 0
			for time.Since(start) < d {
				gen++
				e.write("fleet.yaml", fleetConfig(e, gen))
				time.Sleep(250 * time.Millisecond)
			}
			// The last change lands, and is probed, too.
			time.Sleep(time.Second)
			close(done)
			wg.Wait()
			e.checkEnvoy()
			rejected := e.envoyStat("cluster_manager.cds.update_rejected") + e.envoyStat("listener_manager.lds.update_rejected")
			t.Logf("%s: %d changes in %v (each moving %d routes, adding and removing a cluster), %d requests, %d failed, %d updates rejected",
				mode, gen, d, fleetRoutes, sent.Load(), failed.Load(), rejected)
			if failed.Load() > 0 || rejected > 0 {
				t.Fatalf("%d of %d requests failed (first: %v), %d updates rejected", failed.Load(), sent.Load(), first, rejected)
			}
			if sent.Load() < int64(d/time.Second) {
				t.Fatalf("only %d requests in %v", sent.Load(), d)
			}
		})
	}
}
