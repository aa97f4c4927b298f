package main

import (
	"github.com/spf13/cobra"
	"strings"

	"github.com/gatewarden/gatewarden/xds"
)

func newBootstrapCommand() *cobra.Command {
	var o xds.BootstrapOptions
	cmd := &cobra.Command{
		Use:   "bootstrap --gateway NAMESPACE/NAME",
		Short: "Print an Envoy bootstrap that takes its configuration from gatewarden",
		Long: `bootstrap prints an Envoy bootstrap (YAML) whose node cluster is the Gateway
"NAMESPACE/NAME" and whose listeners, routes, clusters and endpoints all come
from gatewarden over ADS (delta by default, state of the world with --sotw).

  gatewarden bootstrap --gateway gloo-system/http > envoy.yaml
  envoy -c envoy.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch o.AdminAddress {
			case "":
				ns, name, _ := strings.Cut(o.Gateway, "/")
				o.AdminAddress = "unix:/tmp/envoy-admin-" + ns + "-" + name + ".sock"
			case "none":
				o.AdminAddress = ""
			}
			out, err := xds.Bootstrap(o)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Gateway, "gateway", "", "the Gateway this Envoy serves, as NAMESPACE/NAME (required)")
	f.StringVar(&o.XDSAddress, "xds-address", "127.0.0.1:18000", "gatewarden's xDS address")
	f.BoolVar(&o.SotW, "sotw", false, "use state-of-the-world ADS instead of delta")
	f.StringVar(&o.NodeID, "node-id", "", "node id of this Envoy (default NAME-envoy)")
	f.StringVar(&o.AdminAddress, "envoy-admin-address", "", "Envoy's admin address: unix:PATH (a Unix socket, out of reach of every route) or HOST:PORT (a loopback port can be named by a route's backend where loopback backends are allowed: directory mode); \"none\" disables it (default unix:/tmp/envoy-admin-NAMESPACE-NAME.sock)")
	f.StringVar(&o.MetricsAddress, "envoy-metrics-address", "", "address (HOST:PORT) where Envoy serves GET "+xds.MetricsPath+" for Prometheus, and no other admin path; needs --envoy-admin-address; empty disables it")
	f.StringVar(&o.ReadyAddress, "envoy-ready-address", "", "address (HOST:PORT) where Envoy answers GET "+xds.ReadyPath+" (200 once it applied its first configuration, 503 while starting or draining) for a readiness probe, and no other admin path; needs --envoy-admin-address; empty disables it")
	f.StringVar(&o.TLS.CAFile, "xds-tls-ca", "", "CA file (Envoy's path) that gatewarden's xDS certificate is checked against; enables TLS")
	f.StringVar(&o.TLS.CertFile, "xds-tls-cert", "", "client certificate file (Envoy's path) for mutual TLS")
	f.StringVar(&o.TLS.KeyFile, "xds-tls-key", "", "client key file (Envoy's path) for mutual TLS")
	f.StringVar(&o.TLS.Dir, "xds-tls-dir", "", "directory (Envoy's path, absolute) written by `gatewarden certs gateway` or mounted from the Secret gatewarden issues: client certificate and CA from its SDS files, renewed without a restart; instead of --xds-tls-ca/-cert/-key")
	f.StringVar(&o.TLS.SNI, "xds-tls-sni", "", "server name to send and check (default the xDS host)")
	_ = cmd.MarkFlagRequired("gateway")
	return cmd
}
