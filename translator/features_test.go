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
	for _, experimental := range []bool{false, true} {
		got := declared(t, translator.Options{ExperimentalChannel: experimental})
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

// TestProvisioningFeatures: GatewayInfrastructure and GatewayStaticAddresses
// are declared only when gatewarden provisions the Envoys, which is where
// spec.infrastructure takes effect and a requested address is asked for.
func TestProvisioningFeatures(t *testing.T) {
	for _, provisioning := range []bool{false, true} {
		got := declared(t, translator.Options{Provisioning: provisioning})
		for _, f := range translator.ProvisioningFeatures {
			if slices.Contains(got, f) != provisioning {
				t.Errorf("provisioning %v: %s declared: %v", provisioning, f, !provisioning)
			}
		}
		if slices.Contains(got, translator.ExperimentalFeatures[0]) {
			t.Errorf("provisioning %v: experimental %s declared without the experimental channel", provisioning, translator.ExperimentalFeatures[0])
		}
	}
}

// declared is the GatewayClass status's supportedFeatures under o.
func declared(t *testing.T, o translator.Options) []string {
	t.Helper()
	gc := &gwv1.GatewayClass{Spec: gwv1.GatewayClassSpec{ControllerName: translator.DefaultControllerName}}
	gc.Name = "gatewarden"
	res := translator.Translate(&resource.Resources{GatewayClasses: []*gwv1.GatewayClass{gc}}, o)
	st := res.Status.GatewayClasses["gatewarden"]
	if st == nil {
		t.Fatalf("%+v: no status for the GatewayClass", o)
	}
	var got []string
	for _, f := range st.SupportedFeatures {
		got = append(got, string(f.Name))
	}
	return got
}
