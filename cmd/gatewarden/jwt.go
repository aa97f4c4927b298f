package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatewarden/gatewarden/pkg/jwt"
)

func newJWTCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jwt",
		Short: "Make keys and tokens to try policies with: keygen, mint, decode",
	}
	cmd.AddCommand(newJWTKeygenCommand(), newJWTMintCommand(), newJWTDecodeCommand())
	return cmd
}

func newJWTKeygenCommand() *cobra.Command {
	var alg, kid, keyFile string
	cmd := &cobra.Command{
		Use:   "keygen --key FILE [--alg RS256|ES256] [--kid ID]",
		Short: "Make a signing key (written to --key) and print its public JWKS",
		Long: `keygen makes a private key, writes it to --key (PEM, mode 0600) and prints the
public key as a JWKS: paste it into a provider's jwks.local.key.

  gatewarden jwt keygen --key team.pem --kid team-1 > team.jwks.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var k *jwt.Key
			var err error
			switch strings.ToUpper(alg) {
			case "RS256":
				k, err = jwt.GenerateRSA(kid)
			case "ES256":
				k, err = jwt.GenerateEC(kid)
			default:
				return usageError(fmt.Errorf("--alg %q: want RS256 or ES256", alg))
			}
			if err != nil {
				return err
			}
			pemKey, err := k.PrivatePEM()
			if err != nil {
				return err
			}
			if err := os.WriteFile(keyFile, []byte(pemKey), 0o600); err != nil {
				return fmt.Errorf("write the key: %w", err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), k.JWKS())
			return err
		},
	}
	cmd.Flags().StringVar(&alg, "alg", "RS256", "RS256 (RSA 2048) or ES256 (EC P-256)")
	cmd.Flags().StringVar(&kid, "kid", "key-1", "key ID, in the JWKS and in tokens minted with the key")
	cmd.Flags().StringVar(&keyFile, "key", "", "file to write the private key to (required)")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func newJWTMintCommand() *cobra.Command {
	var keyFile, claims, kid string
	var opts jwt.MintOptions
	cmd := &cobra.Command{
		Use:   "mint --key FILE [--claims JSON|@FILE] [--iss ISS] [--aud AUD]... [--ttl 1h]",
		Short: "Sign a token with a key made by keygen",
		Long: `mint signs a JWT with the private key in --key. Claims come from --claims, a
JSON object or @file; --iss, --sub and --aud set the standard claims and --ttl
sets iat and exp.

  gatewarden jwt mint --key team.pem --iss solo.io --claims '{"team":"dev","llms":{"openai":["gpt-4o"]}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(keyFile)
			if err != nil {
				return usageError(fmt.Errorf("--key: %w", err))
			}
			k, err := jwt.ParsePrivatePEM(data, kid)
			if err != nil {
				return usageError(fmt.Errorf("--key %s: %w", keyFile, err))
			}
			c := jwt.Claims{}
			if claims != "" {
				raw := []byte(claims)
				if strings.HasPrefix(claims, "@") {
					if raw, err = os.ReadFile(claims[1:]); err != nil {
						return usageError(fmt.Errorf("--claims: %w", err))
					}
				}
				if err := json.Unmarshal(raw, &c); err != nil {
					return usageError(fmt.Errorf("--claims: not a JSON object: %w", err))
				}
			}
			tok, err := jwt.Mint(k, c, opts)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), tok)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyFile, "key", "", "private key file from keygen (required)")
	f.StringVar(&claims, "claims", "", "claims as a JSON object, or @FILE")
	f.StringVar(&kid, "kid", "", "key ID for the token header (default: the key file's)")
	f.StringVar(&opts.Issuer, "iss", "", "issuer (iss)")
	f.StringVar(&opts.Subject, "sub", "", "subject (sub)")
	f.StringArrayVar(&opts.Audience, "aud", nil, "audience (aud), repeatable")
	f.DurationVar(&opts.TTL, "ttl", time.Hour, "lifetime: sets iat and exp (0 leaves them out)")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func newJWTDecodeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "decode TOKEN",
		Short: "Print a token's header and claims (without verifying it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := jwt.Decode(args[0])
			if err != nil {
				return usageError(err)
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			if err := enc.Encode(d); err != nil {
				return err
			}
			for _, c := range []string{"iat", "nbf", "exp"} {
				if v, ok := d.Claims[c].(float64); ok {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", c, time.Unix(int64(v), 0).UTC().Format(time.RFC3339))
				}
			}
			return nil
		},
	}
}
