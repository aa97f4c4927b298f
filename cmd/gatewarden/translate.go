package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatewarden/gatewarden/internal/render"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/translator"
)

func newTranslateCommand() *cobra.Command {
	var resources, controllerName, gateway, output string
	var strict bool
	var scopedMinHosts int
	var allowLoopback bool
	cmd := &cobra.Command{
		Use:   "translate --resources DIR [--gateway NS/NAME] [-o yaml|json] [--strict]",
		Short: "Print the xDS configuration and statuses a directory of manifests translates to",
		Long: `translate reads every *.yaml, *.yml and *.json manifest under DIR, translates
them as 'serve' would, and prints the Envoy configuration of each Gateway and
the status of every object, without serving anything. Files that do not parse
are reported on stderr and make the command fail.

With --strict it also fails (exit 1) when any object is not accepted as
written, listing why on stderr: a gate for a CI pipeline of manifests.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "yaml" && output != "json" {
				return usageError(fmt.Errorf("-o %q: want yaml or json", output))
			}
			scan := dir.Load(resources)
			if len(scan.Problems) > 0 {
				fmt.Fprint(cmd.ErrOrStderr(), dir.FormatProblems(scan.Problems))
				return &exitError{code: 1, err: fmt.Errorf("%d problem(s) reading %s", len(scan.Problems), resources)}
			}
			res := translator.Translate(scan.Resources, translator.Options{ControllerName: controllerName, ScopedRoutesMinHosts: scopedMinHosts, AllowLoopbackBackends: allowLoopback})
			d, err := render.Of(res)
			if err != nil {
				return err
			}
			if gateway != "" {
				var kept []render.GatewayDump
				for _, g := range d.Gateways {
					if g.Gateway == gateway {
						kept = append(kept, g)
					}
				}
				if len(kept) == 0 {
					return usageError(fmt.Errorf("--gateway %s: no such Gateway of an accepted GatewayClass", gateway))
				}
				d.Gateways = kept
			}
			var out []byte
			if output == "json" {
				out, err = json.MarshalIndent(d, "", "  ")
				out = append(out, '\n')
			} else {
				out, err = d.YAML()
			}
			if err != nil {
				return err
			}
			if _, err := cmd.OutOrStdout().Write(out); err != nil {
				return err
			}
			if problems := res.Status.Problems(); strict && len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s %s (%s): %s=%s %s: %s\n", p.Kind, p.Name, p.Where, p.Condition.Type, p.Condition.Status, p.Condition.Reason, p.Condition.Message)
				}
				return &exitError{code: 1, err: fmt.Errorf("%d condition(s) not True (--strict)", len(problems))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&resources, "resources", "", "directory of manifests (required)")
	addControllerNameFlag(f, &controllerName)
	f.StringVar(&gateway, "gateway", "", "print only this Gateway's configuration (NAMESPACE/NAME); statuses are all printed")
	f.StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	f.BoolVar(&strict, "strict", false, "exit 1 when any object is not accepted as written")
	f.IntVar(&scopedMinHosts, "scoped-routes-min-hosts", translator.DefaultScopedRoutesMinHosts, "as for serve: from this many exact hostnames on a port, one route configuration per hostname (scoped RDS); 0 disables")
	f.BoolVar(&allowLoopback, "allow-loopback-backends", true, "as for serve: let backends be loopback endpoints (true, as in directory mode); false checks manifests as Kubernetes mode would")
	_ = cmd.MarkFlagRequired("resources")
	return cmd
}
