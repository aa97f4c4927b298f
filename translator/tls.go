package translator

import (
	"crypto/tls"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// certificate is a listener certificate read from a Secret. Envoy gets it
// over SDS, named by the Secret, so a listener never carries a private key.
type certificate struct {
	name       string // SDS resource name
	chain, key []byte
}

func secretResourceName(namespace, name string) string { return "secret/" + namespace + "/" + name }

// resolveCertificates reads the certificates of a listener of owner that
// terminates TLS (HTTPS, TLS in mode Terminate). On failure it returns the
// listener's ResolvedRefs reason and a message naming the reference.
func (t *translation) resolveCertificates(owner listenerOwner, l gwv1.Listener) ([]certificate, string, string) {
	if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
		what := "an HTTPS listener"
		if l.Protocol != gwv1.HTTPSProtocolType {
			what = fmt.Sprintf("a %s listener in mode %s", l.Protocol, tlsMode(l))
		}
		return nil, string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("listener %q: %s needs tls.certificateRefs", l.Name, what)
	}
	var out []certificate
	for i, ref := range l.TLS.CertificateRefs {
		field := fmt.Sprintf("listener %q: tls.certificateRefs[%d]", l.Name, i)
		group, kind := groupKind(ref.Group, ref.Kind, "Secret")
		if group != "" || kind != "Secret" {
			return nil, string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("%s: kind %q of group %q is not supported; supported: Secret of the core group", field, kind, group)
		}
		ns := owner.namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		// A ReferenceGrant names the kind that refers: one for Gateways
		// does not let a ListenerSet in the same namespace use the Secret.
		if ns != owner.namespace && !t.index.granted(gwv1.GroupName, owner.kind, owner.namespace, "", "Secret", ns, string(ref.Name)) {
			return nil, string(gwv1.ListenerReasonRefNotPermitted), fmt.Sprintf("%s: Secret %s/%s is in another namespace and no ReferenceGrant allows it", field, ns, ref.Name)
		}
		s := t.index.secrets[nn(ns, string(ref.Name))]
		if s == nil {
			return nil, string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("%s: Secret %s/%s not found", field, ns, ref.Name)
		}
		chain, key := secretValue(s, corev1.TLSCertKey), secretValue(s, corev1.TLSPrivateKeyKey)
		if _, err := tls.X509KeyPair(chain, key); err != nil {
			return nil, string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("%s: Secret %s/%s does not hold a usable certificate and key in %s and %s: %v", field, ns, ref.Name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey, err)
		}
		out = append(out, certificate{name: secretResourceName(ns, string(ref.Name)), chain: chain, key: key})
	}
	return out, "", ""
}

// tlsChain is one filter chain of an HTTPS port: the certificates served
// for the server names of one listener (none: any name).
type tlsChain struct {
	serverNames []string
	certs       []certificate
	clientCA    string // see requireClientCertificate
	// opaque: the decrypted stream is not HTTP (a TLS listener in mode
	// Terminate), so no application protocol is offered over ALPN.
	opaque bool
}

func (c tlsChain) transportSocket() *corev3.TransportSocket {
	ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{}}
	if !c.opaque {
		ctx.CommonTlsContext.AlpnProtocols = []string{"http/1.1"}
	}
	for _, cert := range c.certs {
		ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = append(ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs,
			&tlsv3.SdsSecretConfig{Name: cert.name, SdsConfig: adsConfigSource()})
	}
	requireClientCertificate(ctx, c.clientCA)
	return &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}}
}

func tlsInspector() *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{Name: "envoy.filters.listener.tls_inspector",
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: mustAny(&tlsinspectorv3.TlsInspector{})}}
}

func buildSecret(c certificate) *tlsv3.Secret {
	return &tlsv3.Secret{Name: c.name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: c.chain}},
		PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: c.key}},
	}}}
}

// secretValue reads a key of a Secret from data, or from stringData in a
// manifest read from disk (the API server folds stringData into data).
func secretValue(s *corev1.Secret, key string) []byte {
	if v, ok := s.Data[key]; ok {
		return v
	}
	if v, ok := s.StringData[key]; ok {
		return []byte(v)
	}
	return nil
}
