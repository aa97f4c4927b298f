package translator

import (
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// Upstream TLS: how Envoy checks the server it connects to over TLS.
//
// A Service's BackendTLSPolicy (gateway.networking.k8s.io/v1) says which
// authority signs the server's certificate (a ConfigMap's ca.crt, or the
// system's trusted authorities with wellKnownCACertificates: System), the
// name sent as SNI (validation.hostname) and the names the certificate must
// carry (validation.subjectAltNames, else the hostname). It applies to the
// backends of HTTPRoutes and GRPCRoutes (and their mirrors) and to JWKS
// servers fetched over https. Without a policy a route backend is reached in
// plain text, and a JWKS server is checked against the system's authorities
// for the host of its URL. The name is always checked: an authority alone
// would accept any certificate it ever signed, for any host (a public CA
// signs millions).
//
// A policy that cannot be used (a CA reference that does not resolve, a
// certificate that does not parse) never turns into plain text: the routes
// of its backends answer 500 and its status says why.

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
	// policies by target (Service and sectionName, "" for the whole
	// Service), in order of precedence: the older first, then by name
	// (GEP-713's conflict resolution, as the BackendTLSPolicy spec says).
	policies map[tlsTarget][]*gwv1.BackendTLSPolicy
	// sections lists the sectionNames policies name for each Service.
	sections   map[types.NamespacedName][]string
	configMaps map[types.NamespacedName]*corev1.ConfigMap
}

// tlsTarget is what a BackendTLSPolicy targets: a Service, or one of its
// ports by name.
type tlsTarget struct {
	namespace, service, section string
}

func newBackendTLSIndex(in *resource.Resources) backendTLSIndex {
	idx := backendTLSIndex{
		policies:   map[tlsTarget][]*gwv1.BackendTLSPolicy{},
		sections:   map[types.NamespacedName][]string{},
		configMaps: make(map[types.NamespacedName]*corev1.ConfigMap, len(in.ConfigMaps)),
	}
	for _, p := range in.BackendTLSPolicies {
		for _, ref := range p.Spec.TargetRefs {
			if ref.Group != "" || ref.Kind != "Service" {
				continue
			}
			key := tlsTarget{p.Namespace, string(ref.Name), ""}
			if ref.SectionName != nil {
				key.section = string(*ref.SectionName)
			}
			if len(idx.policies[key]) == 0 && key.section != "" {
				svc := nn(p.Namespace, string(ref.Name))
				idx.sections[svc] = append(idx.sections[svc], key.section)
			}
			if !slices.Contains(idx.policies[key], p) {
				idx.policies[key] = append(idx.policies[key], p)
			}
		}
	}
	for _, ps := range idx.policies {
		slices.SortStableFunc(ps, func(a, b *gwv1.BackendTLSPolicy) int {
			return cmp.Or(olderFirst(a, b), cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name))
		})
	}
	for _, c := range in.ConfigMaps {
		idx.configMaps[nn(c.Namespace, c.Name)] = c
	}
	return idx
}

// policyFor returns the BackendTLSPolicy of a Service port: one naming the
// port (sectionName) wins over one for the whole Service, and among policies
// of one target the older (then the first by name) wins.
func (idx backendTLSIndex) policyFor(namespace, service, portName string) *gwv1.BackendTLSPolicy {
	if portName != "" {
		if ps := idx.policies[tlsTarget{namespace, service, portName}]; len(ps) > 0 {
			return ps[0]
		}
	}
	if ps := idx.policies[tlsTarget{namespace, service, ""}]; len(ps) > 0 {
		return ps[0]
	}
	return nil
}

// tlsProblem is why a BackendTLSPolicy cannot be used, as its conditions
// say it: the reason of Accepted=False (empty when it stays accepted) and
// of ResolvedRefs=False (empty when its references resolve).
type tlsProblem struct {
	accepted, refs, msg string
}

// checkedTLS is a BackendTLSPolicy checked once per translation.
type checkedTLS struct {
	tls     *upstreamTLS
	problem *tlsProblem
}

// checkBackendTLS checks p once; a policy with a problem has no TLS.
func (t *translation) checkBackendTLS(p *gwv1.BackendTLSPolicy) *checkedTLS {
	if c, ok := t.tlsChecked[p]; ok {
		return c
	}
	u, problem := t.index.tls.check(p)
	c := &checkedTLS{tls: u, problem: problem}
	if problem != nil {
		c.tls = nil
	}
	if t.tlsChecked == nil {
		t.tlsChecked = map[*gwv1.BackendTLSPolicy]*checkedTLS{}
	}
	t.tlsChecked[p] = c
	return c
}

// routeBackendTLS is the TLS towards a route backend: nil without a policy;
// the error names the policy, the field and the value at fault when its
// policy cannot be used.
func (t *translation) routeBackendTLS(namespace, service, portName string) (*upstreamTLS, string) {
	p := t.index.tls.policyFor(namespace, service, portName)
	if p == nil {
		return nil, ""
	}
	c := t.checkBackendTLS(p)
	if c.problem != nil {
		return nil, c.problem.msg
	}
	return c.tls, ""
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
	c := t.checkBackendTLS(p)
	if c.problem != nil {
		return nil, c.problem.msg
	}
	return c.tls, ""
}

// check reads p into the TLS of its clusters, or says what is wrong with it.
func (idx backendTLSIndex) check(p *gwv1.BackendTLSPolicy) (*upstreamTLS, *tlsProblem) {
	where := fmt.Sprintf("BackendTLSPolicy %s/%s", p.Namespace, p.Name)
	invalid := func(msg string) (*upstreamTLS, *tlsProblem) {
		return nil, &tlsProblem{accepted: string(gwv1.PolicyReasonInvalid), msg: where + ": " + msg}
	}
	v := p.Spec.Validation
	u := &upstreamTLS{sni: string(v.Hostname), policy: p.Namespace + "/" + p.Name}
	if u.sni == "" {
		return invalid("spec.validation.hostname is required")
	}
	// Checked here as the CRD does: a directory source has no API server,
	// and a name Envoy refuses would make it refuse every cluster.
	if errs := validation.IsDNS1123Subdomain(u.sni); len(errs) > 0 {
		return invalid(fmt.Sprintf("spec.validation.hostname: %q is not a valid host name: %s", u.sni, strings.Join(errs, "; ")))
	}
	switch {
	case len(v.CACertificateRefs) > 0 && v.WellKnownCACertificates != nil && *v.WellKnownCACertificates != "":
		return invalid("set one of spec.validation.caCertificateRefs and wellKnownCACertificates, not both")
	case v.WellKnownCACertificates != nil && *v.WellKnownCACertificates != "":
		if *v.WellKnownCACertificates != gwv1.WellKnownCACertificatesSystem {
			return invalid(fmt.Sprintf("spec.validation.wellKnownCACertificates: %q is not supported; supported: System", *v.WellKnownCACertificates))
		}
	case len(v.CACertificateRefs) > 0:
		pem, problem := idx.caBundle(p, where)
		if problem != nil {
			return nil, problem
		}
		u.caPEM = pem
	default:
		return invalid("spec.validation needs caCertificateRefs or wellKnownCACertificates")
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
			return invalid(fmt.Sprintf("spec.validation.subjectAltNames[%d]: type %q needs its value (hostname or uri)", i, san.Type))
		}
	}
	return u, nil
}

// caBundle joins the certificates of p's caCertificateRefs. Every reference
// must resolve: a connection checked against part of what the policy names
// would not be what it says (the spec: "Connections using an invalid
// CACertificateRef MUST fail"). Accepted turns False (NoValidCACertificate)
// only when none resolves, as the spec says.
func (idx backendTLSIndex) caBundle(p *gwv1.BackendTLSPolicy, where string) (string, *tlsProblem) {
	var pems []string
	var first *tlsProblem
	for i, ref := range p.Spec.Validation.CACertificateRefs {
		field := fmt.Sprintf("%s: spec.validation.caCertificateRefs[%d]", where, i)
		var problem *tlsProblem
		cm := idx.configMaps[nn(p.Namespace, string(ref.Name))]
		switch {
		case ref.Group != "" || ref.Kind != "ConfigMap":
			problem = &tlsProblem{refs: string(gwv1.BackendTLSPolicyReasonInvalidKind),
				msg: fmt.Sprintf("%s: kind %q of group %q is not supported; supported: ConfigMap", field, ref.Kind, ref.Group)}
		case cm == nil:
			problem = &tlsProblem{refs: string(gwv1.BackendTLSPolicyReasonInvalidCACertificateRef),
				msg: fmt.Sprintf("%s: ConfigMap %s/%s not found", field, p.Namespace, ref.Name)}
		default:
			ca, ok := cm.Data[caConfigMapKey]
			msg := checkCAPEM(ca)
			if !ok {
				msg = "no such key"
			}
			if msg != "" {
				problem = &tlsProblem{refs: string(gwv1.BackendTLSPolicyReasonInvalidCACertificateRef),
					msg: fmt.Sprintf("%s: ConfigMap %s/%s key %s: %s", field, p.Namespace, ref.Name, caConfigMapKey, msg)}
			} else {
				pems = append(pems, strings.TrimSpace(ca))
			}
		}
		if problem != nil && first == nil {
			first = problem
		}
	}
	if first != nil {
		if len(pems) == 0 {
			first.accepted = string(gwv1.BackendTLSPolicyReasonNoValidCACertificate)
		}
		return "", first
	}
	return strings.Join(pems, "\n") + "\n", nil
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

// transportSocket is the TLS transport socket of a cluster; h2 offers
// HTTP/2 by ALPN, which servers (gRPC's among them) require for HTTP/2 over
// TLS; clientCert, when set, names the SDS secret of the client certificate
// to present.
func (u *upstreamTLS) transportSocket(h2 bool, clientCert string) *corev3.TransportSocket {
	ca := &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: systemCABundle}}
	if u.caPEM != "" {
		ca = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: u.caPEM}}
	}
	var alpn []string
	if h2 {
		alpn = []string{"h2"}
	}
	var certs []*tlsv3.SdsSecretConfig
	if clientCert != "" {
		certs = []*tlsv3.SdsSecretConfig{{Name: clientCert, SdsConfig: adsConfigSource()}}
	}
	return &corev3.TransportSocket{
		Name: "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(&tlsv3.UpstreamTlsContext{
			Sni: u.sni,
			CommonTlsContext: &tlsv3.CommonTlsContext{AlpnProtocols: alpn, TlsCertificateSdsSecretConfigs: certs, ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{
				ValidationContext: &tlsv3.CertificateValidationContext{
					TrustedCa:                 ca,
					MatchTypedSubjectAltNames: u.sans,
				},
			}},
		})},
	}
}
