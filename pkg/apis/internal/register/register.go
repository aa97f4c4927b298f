// Package register holds what the API packages of pkg/apis share to
// register their kinds.
package register

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SchemeBuilder registers kinds, those of the group version gv, with a
// runtime.Scheme, along with the meta kinds (ListOptions and the like)
// every group version has. It is apimachinery's, not controller-runtime's,
// so that the API packages stay light to import.
func SchemeBuilder(gv schema.GroupVersion, kinds ...runtime.Object) runtime.SchemeBuilder {
	return runtime.NewSchemeBuilder(func(s *runtime.Scheme) error {
		s.AddKnownTypes(gv, kinds...)
		metav1.AddToGroupVersion(s, gv)
		return nil
	})
}
