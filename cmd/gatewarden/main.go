// Command gatewarden is an xDS control plane for Envoy: it turns Gateway API
// resources plus VirtualHostOption and RouteOption policies into Envoy JWT and
// RBAC configuration and serves it over ADS.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "gatewarden:", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "gatewarden",
		Short: "xDS control plane for Envoy: Gateway API + JWT and claim-based RBAC",
		Long: `gatewarden turns Kubernetes Gateway API resources plus VirtualHostOption and
RouteOption policies (gateway.solo.io/v1) into Envoy listeners, routes and
clusters with jwt_authn and rbac filters, and serves them to Envoys over ADS.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(), newTranslateCommand(), newBootstrapCommand(), newVersionCommand())
	return root
}
