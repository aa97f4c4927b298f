// Package v1 holds the gateway.solo.io/v1 policy kinds gatewarden serves:
// VirtualHostOption (attached to a Gateway) and RouteOption (attached to an
// HTTPRoute). Field names follow Gloo Gateway's API so that manifests written
// for Gloo apply unchanged.
//
// +kubebuilder:object:generate=true
// +groupName=gateway.solo.io
package v1
