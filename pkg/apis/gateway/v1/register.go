package v1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/pkg/apis/internal/register"
)

// GroupName is the API group of the option kinds, shared with Gloo Gateway.
const GroupName = "gateway.solo.io"

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = register.SchemeBuilder(GroupVersion, &VirtualHostOption{}, &VirtualHostOptionList{}, &RouteOption{}, &RouteOptionList{})

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kind names, used in status messages and target references.
const (
	KindVirtualHostOption = "VirtualHostOption"
	KindRouteOption       = "RouteOption"
)

var _ runtime.Object = &VirtualHostOption{}
