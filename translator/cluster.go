package translator

import (
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// backend is a resolved backendRef: one port of one Service.
type backend struct {
	namespace, service string
	port               int32
	portName           string
	weight             uint32
	// tls, for a server reached over TLS (an https JWKS server, a route
	// backend with a BackendTLSPolicy).
	tls *upstreamTLS
	// tlsInvalid is why the BackendTLSPolicy of a route backend cannot be
	// used: the backend is then not reached at all (never in plain text).
	tlsInvalid string
	// tlsRoute marks the backends of HTTPRoutes and GRPCRoutes, to which
	// BackendTLSPolicies apply (TLS passthrough and TCP backends are
	// reached as they are).
	tlsRoute bool
	// clientCert is the SDS name of the client certificate its Gateway
	// presents (backends a BackendTLSPolicy makes TLS only).
	clientCert string
	// externalName is the host name of an ExternalName Service, which
	// Envoy resolves itself (on port).
	externalName string
	name         string // clusterName, computed once
	// appProtocol of the Service port: kubernetes.io/h2c speaks HTTP/2
	// without TLS, kubernetes.io/ws takes WebSocket upgrades.
	appProtocol string
	// grpcH2C is set when a GRPCRoute makes a Service port that does not
	// say h2c speak HTTP/2: its cluster is then not the one HTTPRoutes
	// reach the port through.
	grpcH2C bool
	// udp is set for a Service port of protocol UDP: its cluster is not
	// the one of a TCP port of the same number.
	udp bool
	// members, when set, are the weighted backends of a UDPRoute rule,
	// each a locality of this one cluster (udproute.go).
	members []backend
}

const (
	appProtocolH2C       = "kubernetes.io/h2c"
	appProtocolWebSocket = "kubernetes.io/ws"
)

// clusterName is the Envoy cluster of a Service port: "namespace/service/port",
// with "/tls" for a TLS cluster (an https JWKS server, a backend with a
// BackendTLSPolicy) and, when it sends one, "/" and its SNI (two URLs of one
// Service may name two hosts).
func (b backend) clusterName() string {
	if b.name != "" {
		return b.name
	}
	name := fmt.Sprintf("%s/%s/%d", b.namespace, b.service, b.port)
	if b.externalName != "" {
		// Never the name of a route backend's cluster of the same Service
		// port: a route must not reach an ExternalName's host through it.
		name += "/externalname"
	}
	if b.grpcH2C {
		name += "/h2c"
	}
	if b.udp {
		name += "/udp"
	}
	if b.tls != nil {
		name += "/tls"
		if b.tls.sni != "" {
			name += "/" + b.tls.sni
		}
	}
	return name
}

type refError struct{ msg, reason string }

// groupKind applies the defaults of a reference's group (core) and kind.
func groupKind(group *gwv1.Group, kind *gwv1.Kind, defaultKind string) (string, string) {
	g, k := "", defaultKind
	if group != nil {
		g = string(*group)
	}
	if kind != nil {
		k = string(*kind)
	}
	return g, k
}

func (t *translation) resolveBackend(route *gwv1.HTTPRoute, ref gwv1.BackendRef) (backend, *refError) {
	group, kind := groupKind(ref.Group, ref.Kind, "Service")
	if group != "" || kind != "Service" {
		return backend{}, &refError{fmt.Sprintf("backend kind %q of group %q is not supported; supported: Service", kind, group), string(gwv1.RouteReasonInvalidKind)}
	}
	ns := route.Namespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	if ns != route.Namespace && !t.index.granted(gwv1.GroupName, routeKind(route), route.Namespace, "", "Service", ns, string(ref.Name)) {
		return backend{}, &refError{fmt.Sprintf("Service %s/%s is in another namespace and no ReferenceGrant allows it", ns, ref.Name), string(gwv1.RouteReasonRefNotPermitted)}
	}
	svc := t.index.services[nn(ns, string(ref.Name))]
	if svc == nil {
		return backend{}, &refError{fmt.Sprintf("Service %s/%s not found", ns, ref.Name), string(gwv1.RouteReasonBackendNotFound)}
	}
	if ref.Port == nil {
		return backend{}, &refError{fmt.Sprintf("Service %s/%s: port is required", ns, ref.Name), string(gwv1.RouteReasonUnsupportedValue)}
	}
	// A Service may declare one port number twice, for TCP and for UDP:
	// the port of the route's own transport is the one reached.
	proto := corev1.ProtocolTCP
	if routeKind(route) == resource.KindUDPRoute {
		proto = corev1.ProtocolUDP
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if p := &svc.Spec.Ports[i]; p.Port == int32(*ref.Port) && (sp == nil || servicePortProtocol(p) == proto) {
			sp = p
		}
	}
	if sp == nil {
		return backend{}, &refError{fmt.Sprintf("Service %s/%s has no port %d", ns, ref.Name, *ref.Port), string(gwv1.RouteReasonBackendNotFound)}
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// Envoy would be sent to any host a tenant names (the cloud's
		// metadata service, a Pod of another namespace by its DNS name).
		return backend{}, &refError{fmt.Sprintf("Service %s/%s is of type ExternalName, which is not supported as a route backend", ns, ref.Name), string(gwv1.RouteReasonUnsupportedValue)}
	}
	if msg := t.forbiddenEndpoint(ns, svc.Name); msg != "" {
		return backend{}, &refError{msg, string(gwv1.RouteReasonRefNotPermitted)}
	}
	weight := uint32(1)
	if ref.Weight != nil {
		weight = uint32(max(*ref.Weight, 0))
	}
	b := backend{namespace: ns, service: svc.Name, port: sp.Port, portName: sp.Name, weight: weight, udp: servicePortProtocol(sp) == corev1.ProtocolUDP}
	if sp.AppProtocol != nil {
		b.appProtocol = *sp.AppProtocol
	}
	if routeKind(route) == resource.KindGRPCRoute {
		b.speakGRPC()
	}
	if k := routeKind(route); k == resource.KindHTTPRoute || k == resource.KindGRPCRoute {
		b.tlsRoute = true
		b.tls, b.tlsInvalid = t.routeBackendTLS(ns, svc.Name, sp.Name)
	}
	b.name = b.clusterName()
	return b, nil
}

// systemCABundle is where Debian-based images (Envoy's among them) keep the
// trusted certificate authorities, used to check https JWKS servers.
const systemCABundle = "/etc/ssl/certs/ca-certificates.crt"

// servicePortProtocol is the protocol of a Service port, TCP by default.
func servicePortProtocol(p *corev1.ServicePort) corev1.Protocol {
	if p.Protocol == "" {
		return corev1.ProtocolTCP
	}
	return p.Protocol
}

// buildCluster returns an EDS cluster for b; its endpoints come over ADS.
func buildCluster(b backend) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 b.clusterName(),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig: adsConfigSource(),
		},
		ConnectTimeout: durationpb.New(5 * time.Second),
		LbPolicy:       clusterv3.Cluster_ROUND_ROBIN,
	}
	if b.appProtocol == appProtocolH2C {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(&httpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
				}},
			}),
		}
	}
	if b.tls != nil {
		c.TransportSocket = b.tls.transportSocket(b.appProtocol == appProtocolH2C, b.clientCert)
	}
	if b.externalName != "" {
		c.TypedDnsResolverConfig = noSearchDomainResolver()
	}
	if len(b.members) > 0 {
		weightLocalities(c)
	}
	return c
}

// buildEndpoints lists the ready endpoints of b from the EndpointSlices of
// its Service, on the slice port whose name is the Service port's. Slices of
// addressType FQDN give host names, which Envoy resolves itself: dns is true
// when every endpoint is such a name, or when b is an ExternalName Service.
func (t *translation) buildEndpoints(b backend) (cla *endpointv3.ClusterLoadAssignment, dns bool) {
	if len(b.members) > 0 {
		return t.memberEndpoints(b)
	}
	if b.externalName != "" {
		return &endpointv3.ClusterLoadAssignment{ClusterName: b.clusterName(), Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{lbEndpoint(b.externalName, uint32(b.port))}, LoadBalancingWeight: wrapperspb.UInt32(1),
		}}}, true
	}
	var eps []*endpointv3.LbEndpoint
	ipSlices, fqdnSlices := 0, 0
	for _, es := range t.index.slices[nn(b.namespace, b.service)] {
		switch es.AddressType {
		case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
			ipSlices++
		case discoveryv1.AddressTypeFQDN:
			fqdnSlices++
		default:
			continue
		}
		var port int32
		for _, p := range es.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == b.portName && p.Port != nil {
				port = *p.Port
			}
		}
		if port == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, addr := range ep.Addresses {
				eps = append(eps, lbEndpoint(addr, uint32(port)))
			}
		}
	}
	sortByName(eps, func(e *endpointv3.LbEndpoint) string {
		sa := e.GetEndpoint().GetAddress().GetSocketAddress()
		return fmt.Sprintf("%s:%05d", sa.GetAddress(), sa.GetPortValue())
	})
	cla = &endpointv3.ClusterLoadAssignment{ClusterName: b.clusterName()}
	if len(eps) > 0 {
		cla.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: eps, LoadBalancingWeight: wrapperspb.UInt32(1)}}
	}
	return cla, fqdnSlices > 0 && ipSlices == 0
}

// dnsCluster turns an EDS cluster into one that resolves its endpoints' host
// names (FQDN EndpointSlices), preferring IPv4 answers.
func dnsCluster(c *clusterv3.Cluster, cla *endpointv3.ClusterLoadAssignment) {
	c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
	c.EdsClusterConfig = nil
	c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	c.LoadAssignment = cla
	// A name resolves as written, not as a Service of the cluster
	// ("admin.infra" is not admin.infra.svc.<domain>).
	c.TypedDnsResolverConfig = noSearchDomainResolver()
}

func lbEndpoint(addr string, port uint32) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
		Address: socketAddress(addr, port),
	}}}
}

func socketAddress(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       addr,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// adsConfigSource points a resource at the ADS stream it came from.
func adsConfigSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}
