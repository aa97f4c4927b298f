// Command coredns is CoreDNS (github.com/coredns/coredns, pinned in this
// module) with the plugins the Gateway API conformance suite's DNS backend
// uses: forward, log, errors and whoami. The suite's base manifests run it
// as registry.k8s.io/coredns/coredns; make images builds it under that name
// so that its Pod starts without a pull.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/whoami"
)

func init() {
	dnsserver.Directives = []string{"errors", "log", "forward", "whoami"}
}

func main() {
	coremain.Run()
}
