package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatewarden/gatewarden/pkg/pki"
	"github.com/gatewarden/gatewarden/xds"
)

func newCertsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Issue the certificates that authenticate Envoys to gatewarden (directory mode, Envoys outside the cluster)",
		Long: `certs creates a CA and issues from it gatewarden's xDS server certificate and
one client certificate per Gateway. A client certificate names its Gateway in
the URI SAN spiffe://<trust-domain>/ns/<namespace>/gateway/<name>; gatewarden
(serve --xds-tls-client-ca) serves a stream only the configuration of that
Gateway.

  gatewarden certs ca --out pki/ca
  gatewarden certs server --ca pki/ca --host gatewarden.example.com --out pki/server
  gatewarden certs gateway --ca pki/ca --gateway team-a/gw --out pki/team-a-gw
  gatewarden serve --resources manifests/ --xds-address 0.0.0.0:18000 \
    --xds-tls-cert pki/server/tls.crt --xds-tls-key pki/server/tls.key --xds-tls-client-ca pki/ca/ca.crt
  gatewarden bootstrap --gateway team-a/gw --xds-address gatewarden.example.com:18000 \
    --xds-tls-dir /etc/envoy/xds-tls > envoy.yaml   # pki/team-a-gw mounted there

Files are replaced atomically (written aside, then renamed), so running a
command again renews a certificate in place: gatewarden and Envoy (through
the SDS files of --xds-tls-dir) use the new one without a restart.`,
	}
	var caDir, out, trustDomain, gateway string
	var hosts []string
	var validity time.Duration
	loadCA := func() (*pki.CA, error) {
		crt, err := os.ReadFile(filepath.Join(caDir, "ca.crt"))
		if err != nil {
			return nil, fmt.Errorf("--ca %s: %w", caDir, err)
		}
		key, err := os.ReadFile(filepath.Join(caDir, "ca.key"))
		if err != nil {
			return nil, fmt.Errorf("--ca %s: %w", caDir, err)
		}
		ca, err := pki.LoadCA(crt, key)
		if err != nil {
			return nil, fmt.Errorf("--ca %s: %w", caDir, err)
		}
		return ca, nil
	}
	caCmd := &cobra.Command{
		Use:   "ca --out DIR",
		Short: "Create a CA (DIR/ca.crt, DIR/ca.key); refuses to replace an existing one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := os.Stat(filepath.Join(out, "ca.key")); err == nil {
				return fmt.Errorf("--out %s: a CA is already there (replacing it would invalidate every certificate it issued)", out)
			}
			ca, err := pki.NewCA("gatewarden xDS CA", validity)
			if err != nil {
				return err
			}
			if err := writeFiles(out, map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": ca.KeyPEM}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "CA written to %s (valid until %s)\n", out, ca.Cert.NotAfter.Format(time.RFC3339))
			return err
		},
	}
	caCmd.Flags().StringVar(&out, "out", "", "directory to write ca.crt and ca.key into (required)")
	caCmd.Flags().DurationVar(&validity, "validity", 10*365*24*time.Hour, "how long the CA is valid")
	serverCmd := &cobra.Command{
		Use:   "server --ca DIR --host NAME --out DIR",
		Short: "Issue gatewarden's xDS server certificate (DIR/tls.crt, DIR/tls.key, DIR/ca.crt)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := loadCA()
			if err != nil {
				return err
			}
			pair, err := ca.IssueServer(hosts, validity)
			if err != nil {
				return err
			}
			if err := writeFiles(out, map[string][]byte{"tls.crt": pair.CertPEM, "tls.key": pair.KeyPEM, "ca.crt": ca.CertPEM}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "server certificate for %s written to %s (valid until %s)\n", strings.Join(hosts, ", "), out, pair.NotAfter.Format(time.RFC3339))
			return err
		},
	}
	serverCmd.Flags().StringSliceVar(&hosts, "host", nil, "DNS name or IP address Envoys reach gatewarden at; repeatable (required)")
	gatewayCmd := &cobra.Command{
		Use:   "gateway --ca DIR --gateway NAMESPACE/NAME --out DIR",
		Short: "Issue the client certificate of a Gateway's Envoys, with the SDS files of `bootstrap --xds-tls-dir`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ns, name, ok := strings.Cut(gateway, "/")
			if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
				return fmt.Errorf("--gateway %q: want NAMESPACE/NAME", gateway)
			}
			ca, err := loadCA()
			if err != nil {
				return err
			}
			pair, err := ca.IssueGateway(trustDomain, ns, name, validity)
			if err != nil {
				return err
			}
			files, err := xds.CredentialFiles(pair.CertPEM, pair.KeyPEM, ca.CertPEM)
			if err != nil {
				return err
			}
			if err := writeFiles(out, files); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "certificate of %s written to %s (identity %s, valid until %s)\n", gateway, out,
				pki.GatewayID(trustDomain, ns, name), pair.NotAfter.Format(time.RFC3339))
			return err
		},
	}
	gatewayCmd.Flags().StringVar(&gateway, "gateway", "", "the Gateway, as NAMESPACE/NAME (required)")
	gatewayCmd.Flags().StringVar(&trustDomain, "trust-domain", pki.DefaultTrustDomain, "SPIFFE trust domain of the identity (gatewarden serve --trust-domain)")
	for _, c := range []*cobra.Command{serverCmd, gatewayCmd} {
		c.Flags().StringVar(&caDir, "ca", "", "directory holding ca.crt and ca.key (from `certs ca`) (required)")
		c.Flags().StringVar(&out, "out", "", "directory to write the files into (required)")
		c.Flags().DurationVar(&validity, "validity", 90*24*time.Hour, "how long the certificate is valid (renew by running the command again)")
		_ = c.MarkFlagRequired("ca")
	}
	_ = serverCmd.MarkFlagRequired("host")
	_ = gatewayCmd.MarkFlagRequired("gateway")
	for _, c := range []*cobra.Command{caCmd, serverCmd, gatewayCmd} {
		_ = c.MarkFlagRequired("out")
	}
	cmd.AddCommand(caCmd, serverCmd, gatewayCmd)
	return cmd
}

// writeFiles writes each file aside and renames it into dir, keys
// readable by the owner only: a reader never sees half a file.
func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var errs []error
	for name, data := range files {
		p := filepath.Join(dir, name)
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Rename(tmp, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
