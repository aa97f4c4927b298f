package translator

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// Upstream TLS: how Envoy checks the server it connects to over TLS.
//
// A Service's BackendTLSPolicy (gateway.networking.k8s.io/v1) says which
// authority signs the server's certificate (a ConfigMap's ca.crt, or the
// system's trusted authorities with wellKnownCACertificates: System), the
// name sent as SNI (validation.hostname) and the names the certificate must
// carry (validation.subjectAltNames, else the hostname). Without a policy a
// JWKS server is checked against the system's authorities, for the host of
// its URL. The name is always checked: an authority alone would accept any
// certificate it ever signed, for any host (a public CA signs millions).
//
// upstreamTLSFor is written for any backend of a Service, so that route
// backends reached over TLS can share it.

// caConfigMapKey is the ConfigMap key a BackendTLSPolicy's CA is read from,
// as the Gateway API specifies.
const caConfigMapKey = "ca.crt"

// upstreamTLS is the TLS of a cluster: what to send and what to accept.
type upstreamTLS struct {
	sni string
	// caPEM is the trusted authorities; empty for the system's bundle.
	caPEM string
	// sans are the names of which the certificate must carry one.
	sans []*tlsv3.SubjectAltNameMatcher
	// policy names the BackendTLSPolicy ("namespace/name"), if any.
	policy string
}

// backendTLSIndex finds the BackendTLSPolicy of a Service port and the
// ConfigMaps they name.
type backendTLSIndex struct {
	// policies by target Service, in the order of the input (sorted by
	// namespace and name: the first wins among policies of equal scope).
	policies   map[types.NamespacedName][]*gwv1.BackendTLSPolicy
	configMaps map[types.NamespacedName]*corev1.ConfigMap
}

func newBackendTLSIndex(in *resource.Resources) backendTLSIndex {
	idx := backendTLSIndex{
		policies:   map[types.NamespacedName][]*gwv1.BackendTLSPolicy{},
		configMaps: make(map[types.NamespacedName]*corev1.ConfigMap, len(in.ConfigMaps)),
	}
	for _, p := range in.BackendTLSPolicies {
		for _, ref := range p.Spec.TargetRefs {
			if ref.Group == "" && ref.Kind == "Service" {
				key := nn(p.Namespace, string(ref.Name))
				idx.policies[key] = append(idx.policies[key], p)
			}
		}
	}
	for _, c := range in.ConfigMaps {
		idx.configMaps[nn(c.Namespace, c.Name)] = c
	}
	return idx
}

// policyFor returns the BackendTLSPolicy of a Service port: one naming the
// port (sectionName) wins over one for the whole Service.
func (idx backendTLSIndex) policyFor(namespace, service, portName string) *gwv1.BackendTLSPolicy {
	var whole *gwv1.BackendTLSPolicy
	for _, p := range idx.policies[nn(namespace, service)] {
		for _, ref := range p.Spec.TargetRefs {
			if ref.Group != "" || ref.Kind != "Service" || string(ref.Name) != service {
				continue
			}
			switch {
			case ref.SectionName == nil || *ref.SectionName == "":
				if whole == nil {
					whole = p
				}
			case portName != "" && string(*ref.SectionName) == portName:
				return p
			}
		}
	}
	return whole
}

// upstreamTLSFor is the TLS towards a Service port whose clients name the
// server host (a URL's host; "" when they name none). The error names the
// policy field and value at fault.
func (t *translation) upstreamTLSFor(namespace, service, portName, host string) (*upstreamTLS, string) {
	p := t.index.tls.policyFor(namespace, service, portName)
	if p == nil {
		if host == "" {
			return nil, fmt.Sprintf("Service %s/%s: no BackendTLSPolicy gives the name to check the server's certificate against", namespace, service)
		}
		u := &upstreamTLS{sans: []*tlsv3.SubjectAltNameMatcher{hostSAN(host)}}
		if net.ParseIP(host) == nil {
			u.sni = host // SNI carries names only
		}
		return u, ""
	}
	where := fmt.Sprintf("BackendTLSPolicy %s/%s", p.Namespace, p.Name)
	v := p.Spec.Validation
	u := &upstreamTLS{sni: string(v.Hostname), policy: p.Namespace + "/" + p.Name}
	if u.sni == "" {
		return nil, where + ": spec.validation.hostname is required"
	}
	switch {
	case len(v.CACertificateRefs) > 0 && v.WellKnownCACertificates != nil:
		return nil, where + ": set one of spec.validation.caCertificateRefs and wellKnownCACertificates, not both"
	case v.WellKnownCACertificates != nil:
		if *v.WellKnownCACertificates != gwv1.WellKnownCACertificatesSystem {
			return nil, fmt.Sprintf("%s: spec.validation.wellKnownCACertificates: %q is not supported; supported: System", where, *v.WellKnownCACertificates)
		}
	case len(v.CACertificateRefs) > 0:
		var pems []string
		for i, ref := range v.CACertificateRefs {
			field := fmt.Sprintf("%s: spec.validation.caCertificateRefs[%d]", where, i)
			if ref.Group != "" || ref.Kind != "ConfigMap" {
				return nil, fmt.Sprintf("%s: kind %q of group %q is not supported; supported: ConfigMap", field, ref.Kind, ref.Group)
			}
			cm := t.index.tls.configMaps[nn(p.Namespace, string(ref.Name))]
			if cm == nil {
				return nil, fmt.Sprintf("%s: ConfigMap %s/%s not found", field, p.Namespace, ref.Name)
			}
			ca := cm.Data[caConfigMapKey]
			if msg := checkCAPEM(ca); msg != "" {
				return nil, fmt.Sprintf("%s: ConfigMap %s/%s key %s: %s", field, p.Namespace, ref.Name, caConfigMapKey, msg)
			}
			pems = append(pems, strings.TrimSpace(ca))
		}
		u.caPEM = strings.Join(pems, "\n") + "\n"
	default:
		return nil, where + ": spec.validation needs caCertificateRefs or wellKnownCACertificates"
	}
	if len(v.SubjectAltNames) == 0 {
		u.sans = []*tlsv3.SubjectAltNameMatcher{hostSAN(u.sni)}
	}
	for i, san := range v.SubjectAltNames {
		switch {
		case san.Type == gwv1.HostnameSubjectAltNameType && san.Hostname != "":
			u.sans = append(u.sans, hostSAN(string(san.Hostname)))
		case san.Type == gwv1.URISubjectAltNameType && san.URI != "":
			u.sans = append(u.sans, &tlsv3.SubjectAltNameMatcher{SanType: tlsv3.SubjectAltNameMatcher_URI,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: string(san.URI)}}})
		default:
			return nil, fmt.Sprintf("%s: spec.validation.subjectAltNames[%d]: type %q needs its value (hostname or uri)", where, i, san.Type)
		}
	}
	return u, ""
}

// hostSAN matches a certificate name: an IP address SAN for an address, else
// a DNS SAN (Envoy matches a certificate's wildcard names against it).
func hostSAN(host string) *tlsv3.SubjectAltNameMatcher {
	typ := tlsv3.SubjectAltNameMatcher_DNS
	if net.ParseIP(host) != nil {
		typ = tlsv3.SubjectAltNameMatcher_IP_ADDRESS
	}
	return &tlsv3.SubjectAltNameMatcher{SanType: typ,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: strings.ToLower(host)}}}
}

// checkCAPEM says what is wrong with a CA bundle ("" when nothing): Envoy
// refuses a whole cluster update for one bad bundle, so it is checked here
// and the option naming it is refused instead.
func checkCAPEM(ca string) string {
	rest := []byte(ca)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Sprintf("PEM block %q is not a certificate", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Sprintf("certificate %d: %v", n, err)
		}
		n++
	}
	if n == 0 {
		return "no PEM certificate found"
	}
	return ""
}

// transportSocket is the TLS transport socket of a cluster.
func (u *upstreamTLS) transportSocket() *corev3.TransportSocket {
	ca := &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: systemCABundle}}
	if u.caPEM != "" {
		ca = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: u.caPEM}}
	}
	return &corev3.TransportSocket{
		Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{
			Sni: u.sni,
			CommonTlsContext: &tlsv3.CommonTlsContext{ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{
				ValidationContext: &tlsv3.CertificateValidationContext{
					TrustedCa:                 ca,
					MatchTypedSubjectAltNames: u.sans,
				},
			}},
		})},
	}
}
