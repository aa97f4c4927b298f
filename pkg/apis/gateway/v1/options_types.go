package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// PolicyTargetReference names the object an option attaches to.
type PolicyTargetReference struct {
	// Group of the target: gateway.networking.k8s.io.
	Group string `json:"group"`
	// Kind of the target: Gateway for a VirtualHostOption, HTTPRoute for a RouteOption.
	Kind string `json:"kind"`
	// Name of the target.
	Name string `json:"name"`
	// Namespace of the target. When set it must equal the option's own
	// namespace: an option only attaches to objects of its namespace.
	// +optional
	Namespace *string `json:"namespace,omitempty"`
}

// PolicyTargetReferenceWithSectionName names a Gateway and, optionally, one of
// its listeners.
type PolicyTargetReferenceWithSectionName struct {
	PolicyTargetReference `json:",inline"`
	// SectionName is the name of one listener of the Gateway. An option with a
	// sectionName wins over one without for the same field.
	// +optional
	SectionName *string `json:"sectionName,omitempty"`
}

// VirtualHostOptionSpec attaches options to every virtual host of a Gateway.
type VirtualHostOptionSpec struct {
	// TargetRefs are the Gateways (or Gateway listeners) the options apply to.
	// +kubebuilder:validation:MinItems=1
	TargetRefs []PolicyTargetReferenceWithSectionName `json:"targetRefs"`
	// Options applied to each virtual host.
	// +optional
	Options VirtualHostOptions `json:"options,omitempty"`
}

// VirtualHostOptions are the policies of one virtual host.
type VirtualHostOptions struct {
	// Jwt verifies JSON Web Tokens on every route of the virtual host. It is
	// the afterExtAuth stage of jwtStaged; set one of jwt and jwtStaged.
	// +optional
	Jwt *VhostJwt `json:"jwt,omitempty"`
	// JwtStaged sets the JWT configuration of each stage.
	// +optional
	JwtStaged *JwtStagedVhostExtension `json:"jwtStaged,omitempty"`
	// Rbac authorizes requests by the claims of their verified JWT on every
	// route of the virtual host. A RouteOption's rbac replaces it for its route.
	// +optional
	Rbac *RBACExtension `json:"rbac,omitempty"`
}

// RouteOptionSpec attaches options to the routes of an HTTPRoute.
type RouteOptionSpec struct {
	// TargetRefs are the HTTPRoutes the options apply to (same namespace).
	// +optional
	TargetRefs []PolicyTargetReference `json:"targetRefs,omitempty"`
	// Options applied to each route of the target.
	// +optional
	Options RouteOptions `json:"options,omitempty"`
}

// RouteOptions are the policies of one route. Of jwt, jwtStaged and
// jwtProvidersStaged, set at most one.
type RouteOptions struct {
	// Jwt turns JWT verification off for the route (every stage).
	// +optional
	Jwt *RouteJwt `json:"jwt,omitempty"`
	// JwtStaged turns JWT verification off for the route, stage by stage.
	// +optional
	JwtStaged *JwtStagedRouteExtension `json:"jwtStaged,omitempty"`
	// JwtProvidersStaged defines JWT providers for the route: a stage set
	// here replaces the virtual host's configuration of that stage.
	// +optional
	JwtProvidersStaged *JwtStagedRouteProvidersExtension `json:"jwtProvidersStaged,omitempty"`
	// Rbac authorizes requests by the claims of their verified JWT. It
	// replaces the virtual host's rbac for this route.
	// +optional
	Rbac *RBACExtension `json:"rbac,omitempty"`
}

// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=gatewarden,shortName=vho
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.ancestors[0].conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// VirtualHostOption attaches JWT and RBAC policy to the virtual hosts of a Gateway.
type VirtualHostOption struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec VirtualHostOptionSpec `json:"spec"`
	// Status says, per targeted Gateway, whether the option was accepted and why not.
	// +optional
	Status gwv1.PolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// VirtualHostOptionList is a list of VirtualHostOption.
type VirtualHostOptionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualHostOption `json:"items"`
}

// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=gatewarden,shortName=rto
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.ancestors[0].conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// RouteOption attaches RBAC policy to the routes of an HTTPRoute.
type RouteOption struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec RouteOptionSpec `json:"spec"`
	// Status says, per Gateway the targeted route is attached to, whether the
	// option was accepted and why not.
	// +optional
	Status gwv1.PolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RouteOptionList is a list of RouteOption.
type RouteOptionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RouteOption `json:"items"`
}
