package translator_test

import (
	"slices"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/pkg/resource"
	"github.com/gatewarden/gatewarden/translator"
)

// TestExperimentalFeatures: the features whose fields only the experimental
// channel has are declared in the GatewayClass status with that channel
// only, next to every standard one.
func TestExperimentalFeatures(t *testing.T) {
	gc := &gwv1.GatewayClass{Spec: gwv1.GatewayClassSpec{ControllerName: translator.DefaultControllerName}}
	gc.Name = "gatewarden"
	for _, experimental := range []bool{false, true} {
		res := translator.Translate(&resource.Resources{GatewayClasses: []*gwv1.GatewayClass{gc}}, translator.Options{ExperimentalChannel: experimental})
		st := res.Status.GatewayClasses["gatewarden"]
		if st == nil {
			t.Fatalf("experimental %v: no status for the GatewayClass", experimental)
		}
		var got []string
		for _, f := range st.SupportedFeatures {
			got = append(got, string(f.Name))
		}
		if !slices.IsSorted(got) {
			t.Errorf("experimental %v: supportedFeatures not sorted: %v", experimental, got)
		}
		for _, f := range translator.SupportedFeatures {
			if !slices.Contains(got, f) {
				t.Errorf("experimental %v: standard feature %s not declared", experimental, f)
			}
		}
		for _, f := range translator.ExperimentalFeatures {
			if slices.Contains(got, f) != experimental {
				t.Errorf("experimental %v: %s declared: %v", experimental, f, !experimental)
			}
		}
		if want := len(translator.SupportedFeatures) + map[bool]int{false: 0, true: len(translator.ExperimentalFeatures)}[experimental]; len(got) != want {
			t.Errorf("experimental %v: %d features declared, want %d", experimental, len(got), want)
		}
	}
}
