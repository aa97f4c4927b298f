package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/translator"
)

func newTranslateCommand() *cobra.Command {
	var resources, controllerName string
	cmd := &cobra.Command{
		Use:   "translate --resources DIR",
		Short: "Print the xDS configuration and statuses a directory of manifests translates to",
		Long: `translate reads every *.yaml, *.yml and *.json manifest under DIR, translates
them as 'serve' would, and prints the Envoy configuration of each Gateway and
the status of every object, without serving anything. Files that do not parse
are reported on stderr and make the command fail.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			scan := dir.Load(resources)
			if len(scan.Problems) > 0 {
				fmt.Fprint(cmd.ErrOrStderr(), dir.FormatProblems(scan.Problems))
				return &exitError{code: 1, err: fmt.Errorf("%d problem(s) reading %s", len(scan.Problems), resources)}
			}
			res := translator.Translate(scan.Resources, translator.Options{ControllerName: controllerName})
			out, err := res.YAML()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&resources, "resources", "", "directory of manifests (required)")
	cmd.Flags().StringVar(&controllerName, "controller-name", translator.DefaultControllerName, "GatewayClass controllerName to serve")
	_ = cmd.MarkFlagRequired("resources")
	return cmd
}
