package translator

import (
	"crypto/tls"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The client certificate a Gateway presents to its backends
// (spec.tls.backend.clientCertificateRef, GatewayBackendClientCertificate):
// every cluster a BackendTLSPolicy makes TLS (route backends, and JWKS
// servers whose Service one targets: a cluster is named by its Service port
// and SNI, and is the same whoever uses it) offers it, for backends that
// require client certificates.
// Envoy gets it over SDS, named by its Secret, like a listener's: no
// cluster carries a private key, and only the Envoys of that Gateway get it.
// A reference that does not resolve makes the Gateway's ResolvedRefs False
// and the routes to its TLS backends answer 500, rather than connect
// without the identity the Gateway was given.

// bodyBackendClientCertInvalid: the Gateway's client certificate for its
// backends cannot be used.
const bodyBackendClientCertInvalid = "The client certificate this gateway presents to its backends is invalid: see the status of its Gateway.\n"

// resolveBackendClientCert reads gs's backend client certificate, if it has
// one, and sets the Gateway's ResolvedRefs condition.
func (t *translation) resolveBackendClientCert(gs *gatewayState) {
	g := gs.obj
	if g.Spec.TLS == nil || g.Spec.TLS.Backend == nil || g.Spec.TLS.Backend.ClientCertificateRef == nil {
		return
	}
	cert, reason, msg := t.backendClientCert(g, *g.Spec.TLS.Backend.ClientCertificateRef)
	if reason != "" {
		gs.backendCertInvalid = msg
		setCondition(&gs.status.Conditions, string(gwv1.GatewayConditionResolvedRefs), false, reason,
			msg+"; the routes to its backends reached over TLS answer 500 until it is fixed", g.Generation)
		return
	}
	gs.backendCert = &cert
	setCondition(&gs.status.Conditions, string(gwv1.GatewayConditionResolvedRefs), true, string(gwv1.GatewayReasonResolvedRefs), "References are resolved", g.Generation)
}

// backendClientCert resolves ref, or returns the Gateway's ResolvedRefs
// reason and a message naming the field and value at fault.
func (t *translation) backendClientCert(g *gwv1.Gateway, ref gwv1.SecretObjectReference) (certificate, string, string) {
	const field = "spec.tls.backend.clientCertificateRef"
	invalid := string(gwv1.GatewayReasonInvalidClientCertificateRef)
	group, kind := groupKind(ref.Group, ref.Kind, "Secret")
	if group != "" || kind != "Secret" {
		return certificate{}, invalid, fmt.Sprintf("%s: kind %q of group %q is not supported; supported: Secret of the core group", field, kind, group)
	}
	ns := g.Namespace
	if ref.Namespace != nil && *ref.Namespace != "" {
		ns = string(*ref.Namespace)
	}
	if ns != g.Namespace && !t.index.granted(gwv1.GroupName, "Gateway", g.Namespace, "", "Secret", ns, string(ref.Name)) {
		return certificate{}, string(gwv1.GatewayReasonRefNotPermitted), fmt.Sprintf("%s: Secret %s/%s is in another namespace and no ReferenceGrant allows it", field, ns, ref.Name)
	}
	s := t.index.secrets[nn(ns, string(ref.Name))]
	if s == nil {
		return certificate{}, invalid, fmt.Sprintf("%s: Secret %s/%s not found", field, ns, ref.Name)
	}
	chain, key := secretValue(s, corev1.TLSCertKey), secretValue(s, corev1.TLSPrivateKeyKey)
	if _, err := tls.X509KeyPair(chain, key); err != nil {
		return certificate{}, invalid, fmt.Sprintf("%s: Secret %s/%s does not hold a usable certificate and key in %s and %s: %v", field, ns, ref.Name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey, err)
	}
	return certificate{name: secretResourceName(ns, string(ref.Name)), chain: chain, key: key}, "", ""
}

// withClientCert gives b, reached over TLS as a BackendTLSPolicy says, the
// Gateway's client certificate.
func withClientCert(gs *gatewayState, b backend) backend {
	if b.tls != nil && b.tls.policy != "" && gs.backendCert != nil {
		b.clientCert = gs.backendCert.name
	}
	return b
}
