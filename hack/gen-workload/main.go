// Command gen-workload writes the benchmark workload: N HTTPRoutes with a
// Service, EndpointSlice and RouteOption each, one Gateway and its
// VirtualHostOption. Deterministic for a given N.
//
//	go run ./hack/gen-workload -n 1000 -out /tmp/w1000
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gatewarden/gatewarden/internal/workload"
)

func main() {
	n := flag.Int("n", 1000, "number of routes")
	out := flag.String("out", "", "directory to write (required)")
	port := flag.Int("port", 8080, "Gateway listener port")
	backend := flag.String("backend", "10.0.0.1", "endpoint address of every Service (IP or FQDN)")
	backendPort := flag.Int("backend-port", 8000, "endpoint port of every Service")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gen-workload: -out is required")
		os.Exit(2)
	}
	if err := workload.Write(*out, workload.Options{Routes: *n, Port: *port, Backend: *backend, BackendPort: *backendPort}); err != nil {
		fmt.Fprintln(os.Stderr, "gen-workload:", err)
		os.Exit(1)
	}
}
