package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the gatewarden version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			goVersion, envoyAPI := "", ""
			if info, ok := debug.ReadBuildInfo(); ok {
				goVersion = info.GoVersion
				for _, d := range info.Deps {
					if d.Path == "github.com/envoyproxy/go-control-plane/envoy" {
						envoyAPI = d.Version
					}
				}
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "gatewarden %s (%s, Envoy API %s)\n", version, goVersion, envoyAPI)
			return err
		},
	}
}
