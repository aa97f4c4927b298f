package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of the option kinds, shared with Gloo Gateway.
const GroupName = "gateway.solo.io"

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	// It is apimachinery's, not controller-runtime's, so that the API
	// package stays light to import.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &VirtualHostOption{}, &VirtualHostOptionList{}, &RouteOption{}, &RouteOptionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Kind names, used in status messages and target references.
const (
	KindVirtualHostOption = "VirtualHostOption"
	KindRouteOption       = "RouteOption"
)

var _ runtime.Object = &VirtualHostOption{}
