package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of gatewarden's own kinds.
const GroupName = "gatewarden.io"

// KindGatewayParameters is the kind a parametersRef names.
const KindGatewayParameters = "GatewayParameters"

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	// It is apimachinery's, not controller-runtime's, so that the API
	// package stays light to import.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &GatewayParameters{}, &GatewayParametersList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
