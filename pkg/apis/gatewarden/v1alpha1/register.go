package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gatewarden/gatewarden/pkg/apis/internal/register"
)

// GroupName is the API group of gatewarden's own kinds.
const GroupName = "gatewarden.io"

// KindGatewayParameters is the kind a parametersRef names.
const KindGatewayParameters = "GatewayParameters"

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = register.SchemeBuilder(GroupVersion, &GatewayParameters{}, &GatewayParametersList{})

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

var _ runtime.Object = &GatewayParameters{}
