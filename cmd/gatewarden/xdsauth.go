package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/gatewarden/gatewarden/pkg/kubeca"
	"github.com/gatewarden/gatewarden/pkg/pki"
	"github.com/gatewarden/gatewarden/pkg/source/kube"
	"github.com/gatewarden/gatewarden/xds"
)

// xdsAuthOptions choose how xDS clients are authenticated.
type xdsAuthOptions struct {
	mode        string
	trustDomain string
	caSecret    string
	proxyNS     string
	serverNames []string
	certTTL     time.Duration
}

func addXDSAuthFlags(f *pflag.FlagSet, o *xdsAuthOptions) {
	f.StringVar(&o.mode, "xds-auth", "auto", `how xDS clients are authenticated: "auto" (client certificates naming their Gateway whenever the xDS address is not loopback: --xds-tls-* files, or in Kubernetes mode gatewarden's own CA; plain text only on a loopback address), "mtls" (always), or "insecure" (no authentication: any client that reaches the port gets any Gateway's configuration and HTTPS keys)`)
	f.StringVar(&o.trustDomain, "trust-domain", pki.DefaultTrustDomain, "SPIFFE trust domain of client identities spiffe://<trust-domain>/ns/<namespace>/gateway/<name>")
	f.StringVar(&o.caSecret, "xds-ca-secret", "gatewarden-xds-ca", "Kubernetes mode: Secret (in $POD_NAMESPACE) of gatewarden's xDS CA, created if absent")
	f.StringVar(&o.proxyNS, "proxy-namespace", "", "Kubernetes mode: namespace where Gateways' proxies run and gatewarden writes each Gateway's xDS client certificate Secret \"xds.<namespace>.<name>\" (default $POD_NAMESPACE; with --provision, each Gateway's own); \""+kubeca.GatewayNamespace+"\" for each Gateway's own namespace (then gatewarden needs to write Secrets there)")
	f.StringSliceVar(&o.serverNames, "xds-server-name", nil, "Kubernetes mode: DNS names of gatewarden's xDS server certificate (default gatewarden.<namespace>.svc and gatewarden.<namespace>.svc.cluster.local)")
	f.DurationVar(&o.certTTL, "xds-client-cert-validity", 7*24*time.Hour, "Kubernetes mode: lifetime of the Gateways' client certificates (renewed a third before expiry)")
}

// xdsSecurity is what runServe needs of the chosen authentication.
type xdsSecurity struct {
	grpcOpts []grpc.ServerOption
	// ca is gatewarden's own CA (Kubernetes mode), nil otherwise.
	ca *kubeca.CA
}

// setupXDSAuth decides how xDS is secured and configures srv for it.
func setupXDSAuth(ctx context.Context, o serveOptions, log *slog.Logger, srv *xds.Server) (*xdsSecurity, error) {
	a := o.auth
	if !slices.Contains([]string{"auto", "mtls", "insecure"}, a.mode) {
		return nil, fmt.Errorf("--xds-auth %q: want auto, mtls or insecure", a.mode)
	}
	loopback := isLoopback(o.xdsAddress)
	files := o.tls.CertFile != "" || o.tls.KeyFile != "" || o.tls.ClientCAFile != ""
	sec := &xdsSecurity{}
	switch {
	case files:
		cfg, err := xds.ServerTLSConfig(o.tls)
		if err != nil {
			return nil, err
		}
		sec.grpcOpts = append(sec.grpcOpts, grpc.Creds(credentials.NewTLS(cfg)))
		if o.tls.ClientCAFile != "" && a.mode != "insecure" {
			srv.RequireIdentity(a.trustDomain)
			log.Info("xDS over mutual TLS: each client bound to the Gateway its certificate names", "trustDomain", a.trustDomain)
			return sec, nil
		}
		if a.mode == "mtls" || (a.mode == "auto" && !loopback) {
			return nil, fmt.Errorf("--xds-address %s: TLS without --xds-tls-client-ca lets any client that reaches the port receive any Gateway's configuration and HTTPS keys; add --xds-tls-client-ca (see `gatewarden certs`), or --xds-auth=insecure to accept that", o.xdsAddress)
		}
		log.Warn("xDS over TLS without client certificates: a client's node cluster alone chooses its Gateway", "xds", o.xdsAddress)
		return sec, nil
	case a.mode == "insecure":
		log.Warn("xDS without authentication (--xds-auth=insecure): any client that reaches the port receives any Gateway's configuration and HTTPS keys", "xds", o.xdsAddress)
		return sec, nil
	case o.resources == "" && (a.mode == "mtls" || !loopback):
		ca, err := loadKubeCA(ctx, o, log)
		if err != nil {
			return nil, err
		}
		sec.ca = ca
		sec.grpcOpts = append(sec.grpcOpts, grpc.Creds(credentials.NewTLS(ca.TLSConfig())))
		srv.RequireIdentity(a.trustDomain)
		log.Info("xDS over mutual TLS with gatewarden's CA: each Gateway's proxies mount the Secret xds.<namespace>.<name>",
			"caSecret", a.caSecret, "proxyNamespace", a.proxyNS, "trustDomain", a.trustDomain)
		return sec, nil
	case a.mode == "mtls" || !loopback:
		return nil, fmt.Errorf("--xds-address %s is reachable from other hosts: give --xds-tls-cert, --xds-tls-key and --xds-tls-client-ca (`gatewarden certs` issues them), or --xds-auth=insecure to serve any client", o.xdsAddress)
	default:
		// Plain text on loopback: only processes of this host reach it, and
		// they could read the manifests (and the certificates' keys) anyway.
		log.Info("xDS in plain text on a loopback address: a client's node cluster chooses its Gateway", "xds", o.xdsAddress)
		return sec, nil
	}
}

func loadKubeCA(ctx context.Context, o serveOptions, log *slog.Logger) (*kubeca.CA, error) {
	cfg, err := ctrlconfig.GetConfig()
	if o.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes configuration (give --resources DIR for directory mode): %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: kube.NewScheme()})
	if err != nil {
		return nil, err
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "gatewarden-system"
	}
	a := o.auth
	if a.proxyNS == "" {
		a.proxyNS = ns
		if o.provision.enabled {
			// Provisioned Pods mount the Secret: it must be in their
			// (the Gateway's) namespace.
			a.proxyNS = kubeca.GatewayNamespace
		}
	}
	if len(a.serverNames) == 0 {
		a.serverNames = []string{"gatewarden." + ns + ".svc", "gatewarden." + ns + ".svc.cluster.local"}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return kubeca.Load(ctx, kubeca.Options{
		Client: c, Log: log, Namespace: ns, CASecret: a.caSecret, ProxyNamespace: a.proxyNS,
		TrustDomain: a.trustDomain, ServerNames: a.serverNames,
		ClientValidity: a.certTTL, ServerValidity: 24 * time.Hour,
	})
}

// isLoopback reports whether a listen address is reachable from this host
// only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
