package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The cache keeps of a ConfigMap only what a BackendTLSPolicy reads, and
// only a change to it triggers a translation.
func TestConfigMapCacheKeepsOnlyTheCA(t *testing.T) {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "idp-ca", Namespace: "auth", ResourceVersion: "7",
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...large...}"}},
		Data:       map[string]string{"ca.crt": "PEM", "app.properties": "large"},
		BinaryData: map[string][]byte{"blob": make([]byte, 1<<20)},
	}
	out, err := configMapCache().Transform(cm)
	if err != nil {
		t.Fatal(err)
	}
	slim := out.(*corev1.ConfigMap)
	if slim.Name != "idp-ca" || slim.Namespace != "auth" || slim.ResourceVersion != "7" {
		t.Errorf("identity lost: %+v", slim.ObjectMeta)
	}
	if len(slim.Data) != 1 || slim.Data["ca.crt"] != "PEM" || slim.BinaryData != nil || slim.Annotations != nil {
		t.Errorf("kept more than ca.crt: data %v, binary %d, annotations %v", slim.Data, len(slim.BinaryData), slim.Annotations)
	}
	other, err := configMapCache().Transform(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Data: map[string]string{"x": "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if hasCA(other) || other.(*corev1.ConfigMap).Data != nil {
		t.Errorf("a ConfigMap without ca.crt: %+v", other)
	}
	if caChanged(other, other) {
		t.Error("an unchanged ConfigMap triggers a translation")
	}
	if !caChanged(other, slim) || !hasCA(slim) {
		t.Error("a change of ca.crt does not trigger a translation")
	}
}
