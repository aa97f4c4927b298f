package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// GatewayParameters tune the Envoy fleet gatewarden provisions for a
// Gateway. Named by a GatewayClass (spec.parametersRef, any namespace: the
// class is the cluster operator's) or by a Gateway
// (spec.infrastructure.parametersRef, the Gateway's own namespace only);
// a field set at the Gateway level overrides the class's.
//
// Fields that choose what runs and where it runs (image, nodeSelector,
// tolerations, affinity, provision) are honoured only from the class's
// parameters: a Gateway's parameters are written by whoever may create a
// Gateway in a namespace, who must not pick the program that holds the
// Gateway's xDS identity nor schedule it onto nodes kept for others. A
// Gateway's parameters that set one are refused (Accepted=False,
// InvalidParameters, naming the field).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=gatewarden,shortName=gwparams
// +kubebuilder:storageversion
type GatewayParameters struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec GatewayParametersSpec `json:"spec,omitempty"`
}

// GatewayParametersSpec is what may be tuned. Every field is optional; an
// unset field keeps the class's value, else gatewarden's default.
type GatewayParametersSpec struct {
	// Provision false makes gatewarden create nothing for the Gateways of the
	// class: for operators who run Envoy themselves (`gatewarden bootstrap`).
	// Class level only.
	// +optional
	Provision *bool `json:"provision,omitempty"`

	// Replicas of the Envoy Deployment (default 1). Ignored when
	// autoscaling is set.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Replicas *int32 `json:"replicas,omitempty"`

	// Autoscaling creates a HorizontalPodAutoscaler for the Deployment.
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`

	// Resources of the Envoy container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Image of Envoy (default: the Envoy release gatewarden's xDS protos
	// match). Class level only.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// Service exposing the listeners.
	// +optional
	Service *ServiceParameters `json:"service,omitempty"`

	// PodAnnotations are added to the Envoy Pods.
	// +optional
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`

	// NodeSelector of the Envoy Pods. Class level only.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations of the Envoy Pods. Class level only.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Affinity of the Envoy Pods. Class level only.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// PodDisruptionBudget for the Envoy Pods; none by default.
	// +optional
	PodDisruptionBudget *PodDisruptionBudget `json:"podDisruptionBudget,omitempty"`

	// LogLevel of Envoy (default warn).
	// +optional
	// +kubebuilder:validation:Enum=trace;debug;info;warning;warn;error;critical;off
	LogLevel string `json:"logLevel,omitempty"`
}

// Autoscaling bounds a HorizontalPodAutoscaler on CPU utilisation.
type Autoscaling struct {
	// MinReplicas (default 1).
	// +optional
	// +kubebuilder:validation:Minimum=1
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// MaxReplicas, at least minReplicas.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxReplicas int32 `json:"maxReplicas"`
	// TargetCPUUtilizationPercentage (default 80).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// ServiceParameters tune the Service of the listeners.
type ServiceParameters struct {
	// Type of the Service (default LoadBalancer).
	// +optional
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type *corev1.ServiceType `json:"type,omitempty"`
	// Annotations of the Service, for cloud load balancers.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// PodDisruptionBudget sets one of minAvailable or maxUnavailable.
type PodDisruptionBudget struct {
	// +optional
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// GatewayParametersList is a list of GatewayParameters.
//
// +kubebuilder:object:root=true
type GatewayParametersList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GatewayParameters `json:"items"`
}
