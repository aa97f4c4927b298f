// Package v1alpha1 holds gatewarden's own kinds, group gatewarden.io:
// GatewayParameters, what operators tune of the Envoy Deployment, Service
// and friends gatewarden creates for each Gateway (GEP-1762 automated
// deployment). A GatewayClass names one in spec.parametersRef; a Gateway may
// name one of its own namespace in spec.infrastructure.parametersRef, whose
// fields override the class's.
//
// +kubebuilder:object:generate=true
// +groupName=gatewarden.io
package v1alpha1
