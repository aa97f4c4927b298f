// Command gatewarden is an xDS control plane for Envoy: it turns Gateway API
// resources plus VirtualHostOption and RouteOption policies into Envoy JWT and
// RBAC configuration and serves it over ADS.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatewarden/gatewarden/translator"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(os.Stderr, "gatewarden:", err)
		}
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
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	// Cobra's own errors are about flags and arguments: usage errors.
	if strings.Contains(err.Error(), "flag") || strings.Contains(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") {
		return 2
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
	root.AddCommand(newServeCommand(), newTranslateCommand(), newBootstrapCommand(), newExplainCommand(), newJWTCommand(), newCertsCommand(), newVersionCommand())
	return root
}

// addControllerNameFlag adds --controller-name, the controllerName of the
// GatewayClasses a command translates, to the commands that translate.
func addControllerNameFlag(f *pflag.FlagSet, p *string) {
	f.StringVar(p, "controller-name", translator.DefaultControllerName, "GatewayClass controllerName to serve")
}
