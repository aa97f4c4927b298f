package translator

import (
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Client certificate validation of HTTPS listeners (the Gateway's
// spec.tls.frontend): Envoy asks every client for a certificate and refuses
// the TLS handshake of one without a certificate issued by the configured
// authorities, before any HTTP request, JWT or RBAC. The CA bundle is the
// key ca.crt of ConfigMaps, the Gateway API's core support; per-port
// settings replace the default for the HTTPS listeners of their port.

// frontendCA is what frontendValidation found for one HTTPS listener.
type frontendCA struct {
	// pem is the bundle of the valid references; empty: no validation.
	pem string
	// refReason and msg, when set, are the listener's ResolvedRefs=False
	// reason and message (some reference is invalid).
	refReason, msg string
	// noneValid is set when validation is asked for and no reference is
	// valid, or in a mode gatewarden does not implement: the listener is
	// not Accepted (acceptReason, msg) and not served, rather than served
	// without the client check.
	noneValid    bool
	acceptReason string
}

// frontendValidation resolves the client certificate validation that applies
// to the HTTPS listener l of g.
func (t *translation) frontendValidation(g *gwv1.Gateway, l gwv1.Listener) frontendCA {
	if g.Spec.TLS == nil || g.Spec.TLS.Frontend == nil {
		return frontendCA{}
	}
	f := g.Spec.TLS.Frontend
	v, where := f.Default.Validation, "spec.tls.frontend.default.validation"
	for i, p := range f.PerPort {
		if p.Port == l.Port {
			v, where = p.TLS.Validation, fmt.Sprintf("spec.tls.frontend.perPort[%d].tls.validation", i)
		}
	}
	if v == nil {
		return frontendCA{}
	}
	if v.Mode != "" && v.Mode != gwv1.AllowValidOnly {
		// AllowInsecureFallback lets clients without a valid certificate
		// in: not a check at all.
		return frontendCA{noneValid: true, acceptReason: string(gwv1.ListenerReasonUnsupportedValue),
			msg: fmt.Sprintf("listener %q: %s.mode: %q is not supported; supported: AllowValidOnly", l.Name, where, v.Mode)}
	}
	var out frontendCA
	var pems []string
	for i, ref := range v.CACertificateRefs {
		field := fmt.Sprintf("listener %q: %s.caCertificateRefs[%d]", l.Name, where, i)
		ns := g.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		reason, msg := "", ""
		switch {
		case ref.Group != "" || ref.Kind != "ConfigMap":
			reason, msg = string(gwv1.ListenerReasonInvalidCACertificateKind), fmt.Sprintf("%s: kind %q of group %q is not supported; supported: ConfigMap", field, ref.Kind, ref.Group)
		case ns != g.Namespace && !t.index.granted(gwv1.GroupName, "Gateway", g.Namespace, "", "ConfigMap", ns, string(ref.Name)):
			reason, msg = string(gwv1.ListenerReasonRefNotPermitted), fmt.Sprintf("%s: ConfigMap %s/%s is in another namespace and no ReferenceGrant allows it", field, ns, ref.Name)
		default:
			cm := t.index.tls.configMaps[nn(ns, string(ref.Name))]
			if cm == nil {
				reason, msg = string(gwv1.ListenerReasonInvalidCACertificateRef), fmt.Sprintf("%s: ConfigMap %s/%s not found", field, ns, ref.Name)
				break
			}
			ca := cm.Data[caConfigMapKey]
			if bad := checkCAPEM(ca); bad != "" {
				reason, msg = string(gwv1.ListenerReasonInvalidCACertificateRef), fmt.Sprintf("%s: ConfigMap %s/%s key %s: %s", field, ns, ref.Name, caConfigMapKey, bad)
				break
			}
			pems = append(pems, strings.TrimSpace(ca))
		}
		if reason != "" && out.refReason == "" {
			out.refReason, out.msg = reason, msg
		}
	}
	if len(pems) == 0 {
		out.noneValid, out.acceptReason = true, string(gwv1.ListenerReasonNoValidCACertificate)
		if out.refReason == "" {
			out.refReason, out.msg = string(gwv1.ListenerReasonInvalidCACertificateRef), fmt.Sprintf("listener %q: %s.caCertificateRefs: no reference", l.Name, where)
		}
		return out
	}
	out.pem = strings.Join(pems, "\n") + "\n"
	return out
}

// requireClientCertificate makes ctx ask for a client certificate issued by
// one of the authorities of caPEM, and refuse the handshake without one.
func requireClientCertificate(ctx *tlsv3.DownstreamTlsContext, caPEM string) {
	if caPEM == "" {
		return
	}
	ctx.RequireClientCertificate = wrapperspb.Bool(true)
	ctx.CommonTlsContext.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: caPEM}},
	}}
}
