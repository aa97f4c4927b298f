package xds

import (
	"fmt"
	"net"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// BootstrapOptions describe the Envoy a bootstrap is for.
type BootstrapOptions struct {
	// Gateway is "namespace/name": the node cluster, which selects the
	// configuration the Envoy receives.
	Gateway string
	// NodeID names this Envoy in gatewarden's logs; default "<name>-envoy".
	NodeID string
	// XDSAddress is gatewarden's xDS "host:port".
	XDSAddress string
	// SotW selects state-of-the-world ADS instead of delta.
	SotW bool
	// AdminAddress is Envoy's admin "host:port", or "unix:PATH" for a Unix
	// socket; empty disables it. A socket is out of reach of every route:
	// an endpoint (an IP address or a host name and a port) cannot name it,
	// whereas a loopback port can be named by a tenant's EndpointSlice
	// wherever loopback backends are allowed (directory mode).
	AdminAddress string
	// MetricsAddress, when set, is a "host:port" where Envoy serves its
	// Prometheus stats (GET /stats/prometheus, nothing else of the admin
	// interface), for scraping from the cluster. It needs AdminAddress.
	MetricsAddress string
	// ReadyAddress, when set, is a "host:port" where Envoy answers GET
	// /ready (its admin readiness, nothing else of the admin interface),
	// for a readiness probe. It needs AdminAddress.
	ReadyAddress string
	// TLS, when CAFile is set, makes Envoy reach gatewarden over TLS and
	// check its certificate against CAFile; CertFile and KeyFile add a
	// client certificate (mutual TLS). The paths are Envoy's.
	TLS BootstrapTLS
}

// BootstrapTLS are the TLS files of the xDS connection, as Envoy sees them.
type BootstrapTLS struct {
	CAFile, CertFile, KeyFile string
	// Dir, instead of the three files, is a credentials directory (see
	// CredentialFiles): Envoy takes its client certificate and CA from its
	// SDS files and picks up renewed ones without a restart.
	Dir string
	// SNI is the server name sent and checked; default the xDS host.
	SNI string
}

const xdsClusterName = "gatewarden-xds"

// BootstrapKeepalive is how often an Envoy pings gatewarden over HTTP/2.
const BootstrapKeepalive = 30 * time.Second

// Bootstrap returns an Envoy bootstrap in YAML that takes all of its
// listeners, routes, clusters and endpoints from gatewarden over ADS.
func Bootstrap(o BootstrapOptions) ([]byte, error) {
	ns, name := splitKey(o.Gateway)[0], splitKey(o.Gateway)[1]
	if ns == "" || name == "" {
		return nil, fmt.Errorf("gateway %q: want namespace/name", o.Gateway)
	}
	host, port, err := hostPort(o.XDSAddress)
	if err != nil {
		return nil, fmt.Errorf("xds address %q: %w", o.XDSAddress, err)
	}
	nodeID := o.NodeID
	if nodeID == "" {
		nodeID = name + "-envoy"
	}
	apiType := corev3.ApiConfigSource_DELTA_GRPC
	if o.SotW {
		apiType = corev3.ApiConfigSource_GRPC
	}
	discovery := clusterv3.Cluster_STRICT_DNS
	if net.ParseIP(host) != nil {
		discovery = clusterv3.Cluster_STATIC
	}
	h2, err := anypb.New(&httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
				// Envoy notices a control plane that vanished without closing
				// its connection (a node gone) and reconnects; the interval stays
				// above the server's keepaliveMinTime, or gRPC would close the
				// connection for pinging too often.
				ConnectionKeepalive: &corev3.KeepaliveSettings{
					Interval: durationpb.New(BootstrapKeepalive),
					Timeout:  durationpb.New(10 * time.Second),
				},
			}},
		}},
	})
	if err != nil {
		return nil, err
	}
	ads := &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
	b := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{Id: nodeID, Cluster: o.Gateway},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:             apiType,
				TransportApiVersion: corev3.ApiVersion_V3,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: xdsClusterName},
				}}},
				SetNodeOnFirstMessageOnly: true,
			},
			LdsConfig: ads,
			CdsConfig: ads,
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Clusters: []*clusterv3.Cluster{{
				Name:                          xdsClusterName,
				ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: discovery},
				ConnectTimeout:                durationpb.New(time.Second),
				TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2},
				LoadAssignment: &endpointv3.ClusterLoadAssignment{
					ClusterName: xdsClusterName,
					Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
						HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: &corev3.Address{
							Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
								Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
							}},
						}}},
					}}}},
				},
			}},
		},
	}
	if o.TLS.CAFile != "" || o.TLS.CertFile != "" || o.TLS.KeyFile != "" || o.TLS.Dir != "" {
		ts, err := bootstrapTLS(o.TLS, host)
		if err != nil {
			return nil, err
		}
		b.StaticResources.Clusters[0].TransportSocket = ts
	}
	if path, ok := strings.CutPrefix(o.AdminAddress, "unix:"); ok {
		if path == "" {
			return nil, fmt.Errorf("admin address %q: a socket path is required after \"unix:\"", o.AdminAddress)
		}
		b.Admin = &bootstrapv3.Admin{Address: &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: path, Mode: 0o600}}}}
	} else if o.AdminAddress != "" {
		ahost, ap, err := hostPort(o.AdminAddress)
		if err != nil {
			return nil, fmt.Errorf("admin address %q: %w", o.AdminAddress, err)
		}
		b.Admin = &bootstrapv3.Admin{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: ahost, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: ap},
		}}}}
	}
	if o.MetricsAddress != "" {
		l, c, err := metricsResources(o.MetricsAddress, o.AdminAddress)
		if err != nil {
			return nil, err
		}
		b.StaticResources.Listeners = append(b.StaticResources.Listeners, l)
		b.StaticResources.Clusters = append(b.StaticResources.Clusters, c)
	}
	if o.ReadyAddress != "" {
		if err := addReadyListener(b, o.ReadyAddress, o.AdminAddress); err != nil {
			return nil, err
		}
	}
	return protoYAML(b)
}

func bootstrapTLS(t BootstrapTLS, host string) (*corev3.TransportSocket, error) {
	sni := t.SNI
	if sni == "" {
		sni = host
	}
	if t.Dir != "" {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" {
			return nil, fmt.Errorf("xDS TLS: give a credentials directory or CA, certificate and key files, not both")
		}
		if err := checkDir(t.Dir); err != nil {
			return nil, err
		}
		return tlsSocket(sdsFromDir(t.Dir, sni, net.ParseIP(sni) == nil), sni)
	}
	if t.CAFile == "" {
		return nil, fmt.Errorf("xDS TLS: a CA file to check gatewarden's certificate is required")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, fmt.Errorf("xDS TLS: give both a client certificate and its key, or neither")
	}
	common := &tlsv3.CommonTlsContext{
		AlpnProtocols: []string{"h2"},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: t.CAFile}},
		}},
	}
	if net.ParseIP(sni) == nil {
		common.GetValidationContext().MatchTypedSubjectAltNames = []*tlsv3.SubjectAltNameMatcher{{
			SanType: tlsv3.SubjectAltNameMatcher_DNS,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: sni}},
		}}
	}
	if t.CertFile != "" {
		common.TlsCertificates = []*tlsv3.TlsCertificate{{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: t.CertFile}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: t.KeyFile}},
		}}
	}
	return tlsSocket(common, sni)
}

func tlsSocket(common *tlsv3.CommonTlsContext, sni string) (*corev3.TransportSocket, error) {
	ctx := &tlsv3.UpstreamTlsContext{CommonTlsContext: common}
	if net.ParseIP(sni) == nil {
		ctx.Sni = sni
	}
	a, err := anypb.New(ctx)
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a}}, nil
}
