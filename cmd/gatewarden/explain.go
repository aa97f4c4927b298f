package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatewarden/gatewarden/pkg/explain"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
	"github.com/gatewarden/gatewarden/translator"
)

func newExplainCommand() *cobra.Command {
	var (
		resources, server, gateway, method, reqURL, token, output, now, controllerName string
		envoyAdmin                                                                     string
		headers                                                                        []string
	)
	cmd := &cobra.Command{
		Use:   "explain (--resources DIR | --server ADMIN-ADDRESS) --url URL [--token T] [--header 'K: V']...",
		Short: "Say what Envoy answers to a request, and why: route, JWT, RBAC",
		Long: `explain decides, offline, what Envoy does with one request under the
configuration gatewarden serves: the listener, virtual host and route it hits,
the JWT requirement and how each token fares, the RBAC policies that match,
and the status code and body Envoy answers with. It evaluates the translated
Envoy configuration itself, the same bytes Envoy receives.

Exit code: 0 when the request reaches the upstream, 1 when it is denied or
answered by Envoy itself, 2 on a usage error.

  gatewarden explain --resources examples/gateway-jwt \
    --url http://www.example.com:8080/headers --token "$BOB_TOKEN"

With --envoy-admin it also reads the running Envoy's stats and says whether
Envoy holds each remote JWKS provider's keys (explain fetches them itself to
check tokens; Envoy's own fetch may have failed, for example on its TLS
check of the server's certificate).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (resources == "") == (server == "") {
				return usageError(errors.New("give exactly one of --resources and --server"))
			}
			if reqURL == "" {
				return usageError(errors.New("--url is required"))
			}
			if output != "text" && output != "json" {
				return usageError(fmt.Errorf("-o %q: want text or json", output))
			}
			var gcs []*xdsconfig.GatewayConfig
			if resources != "" {
				scan := dir.Load(resources)
				if len(scan.Problems) > 0 {
					fmt.Fprint(cmd.ErrOrStderr(), dir.FormatProblems(scan.Problems))
					return usageError(fmt.Errorf("%d problem(s) reading %s", len(scan.Problems), resources))
				}
				gcs = translator.Translate(scan.Resources, translator.Options{ControllerName: controllerName, AllowLoopbackBackends: true}).Gateways
			} else {
				var err error
				if gcs, err = explain.FetchConfig(server); err != nil {
					return usageError(err)
				}
			}
			ex, err := explain.New(gcs, explain.Options{FetchJWKSTLS: explain.HTTPFetchTLS})
			if err != nil {
				return err
			}
			h := http.Header{}
			for _, kv := range headers {
				k, v, ok := strings.Cut(kv, ":")
				if !ok {
					return usageError(fmt.Errorf("--header %q: want 'Name: value'", kv))
				}
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			if token != "" {
				h.Set("Authorization", "Bearer "+token)
			}
			req := explain.Request{Method: method, URL: reqURL, Header: h}
			if now != "" {
				if req.Now, err = time.Parse(time.RFC3339, now); err != nil {
					return usageError(fmt.Errorf("--now %q: want RFC 3339 time", now))
				}
			}
			d, err := ex.Explain(gateway, req)
			if err != nil {
				return usageError(err)
			}
			if envoyAdmin != "" && d.JWT != nil && !d.JWT.Disabled {
				stats, err := explain.FetchEnvoyStats(envoyAdmin)
				if err != nil {
					return usageError(err)
				}
				d.Steps = append(d.Steps, ex.RemoteKeys(d, stats)...)
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(d); err != nil {
					return err
				}
			} else if err := printDecision(cmd.OutOrStdout(), d); err != nil {
				return err
			}
			if !d.Allowed() {
				return &exitError{code: 1, err: errSilent}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&resources, "resources", "", "directory of manifests to translate")
	f.StringVar(&server, "server", "", "admin address of a running gatewarden (host:port) to read the served configuration from")
	f.StringVar(&envoyAdmin, "envoy-admin", "", "admin address of the running Envoy (unix:PATH, as gatewarden bootstrap sets by default, or host:port): say whether it has loaded each remote JWKS provider's keys, and why not, from its stats")
	f.StringVar(&gateway, "gateway", "", "the Gateway (NAMESPACE/NAME) when several listen on the URL's port")
	f.StringVar(&reqURL, "url", "", "the request URL, absolute: http://HOST[:PORT]/PATH[?QUERY]")
	f.StringVarP(&method, "method", "X", "GET", "the request method")
	f.StringArrayVarP(&headers, "header", "H", nil, "a request header 'Name: value' (repeatable); Host overrides the URL's host")
	f.StringVar(&token, "token", "", "a JWT, sent as 'Authorization: Bearer TOKEN'")
	f.StringVarP(&output, "output", "o", "text", "output: text or json")
	f.StringVar(&now, "now", "", "the time tokens are checked at (RFC 3339; default now)")
	addControllerNameFlag(f, &controllerName)
	return cmd
}

func printDecision(w io.Writer, d *explain.Decision) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", d.Summary())
	for _, s := range d.Steps {
		fmt.Fprintf(&b, "  - %s\n", s)
	}
	for k, v := range d.Headers {
		fmt.Fprintf(&b, "  %s: %s\n", k, v)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
