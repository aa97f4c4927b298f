package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels and annotations gatewarden puts on what it provisions.
const (
	// LabelGatewayName is the Gateway API's infrastructure label: every
	// object and Pod made for a Gateway carries it, and the translator
	// publishes the addresses of the Service that has it.
	LabelGatewayName = "gateway.networking.k8s.io/gateway-name"
	// LabelGatewayClass records the class the objects were made for.
	LabelGatewayClass = "gateway.networking.k8s.io/gateway-class-name"
	LabelManagedBy    = "app.kubernetes.io/managed-by"
	LabelName         = "app.kubernetes.io/name"
	managedBy         = "gatewarden"
	// AnnotationProvision "false" on a GatewayClass opts its Gateways out of
	// provisioning, as GatewayParameters spec.provision false does.
	AnnotationProvision = "gatewarden.io/provision"
	// annotationBootstrapHash on the Pod template rolls the Pods when the
	// bootstrap changes (Envoy reads it once, at start).
	annotationBootstrapHash = "gatewarden.io/bootstrap-hash"
)

// ResourceName is the name of every object provisioned for Gateway gateway
// of class class: "<gateway>-<class>", a DNS label (a Service's name must
// be one). Dots, allowed in a Gateway's name but not in a label, become
// dashes; a name longer than 63 characters is cut and ends with a hash of
// the whole, so two Gateways never share one.
func ResourceName(gateway, class string) string {
	n := gateway + "-" + class
	if len(validation.IsDNS1035Label(n)) == 0 {
		return n
	}
	sum := sha256.Sum256([]byte(gateway + "/" + class))
	s := strings.ReplaceAll(n, ".", "-")
	if s[0] < 'a' || s[0] > 'z' {
		s = "gw-" + s
	}
	s = strings.TrimRight(s[:min(len(s), 54)], "-")
	return s + "-" + hex.EncodeToString(sum[:])[:8]
}

// labelValue is v when it is a valid label value, else a hash of it: a
// Gateway's name may be longer than a label value can be.
func labelValue(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "h-" + hex.EncodeToString(sum[:])[:40]
}
