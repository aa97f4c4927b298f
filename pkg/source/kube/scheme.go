// Package kube is the Kubernetes source: a controller-runtime manager whose
// informers watch the Gateway API resources, Services, EndpointSlices and the
// option kinds, and turn every burst of changes into one resource.Resources,
// the same input the directory source produces. It also writes the
// translation's statuses back, from the elected leader only.
package kube

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// NewScheme registers every kind gatewarden reads from the API server.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(corev1.AddToScheme(s))
	utilruntime.Must(discoveryv1.AddToScheme(s))
	utilruntime.Must(gwv1.Install(s))
	utilruntime.Must(gwv1beta1.Install(s))
	utilruntime.Must(optv1.AddToScheme(s))
	return s
}
