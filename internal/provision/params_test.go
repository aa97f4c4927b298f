package provision

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	gwdv1a1 "github.com/gatewarden/gatewarden/pkg/apis/gatewarden/v1alpha1"
)

func params(ns, name string, spec gwdv1a1.GatewayParametersSpec) *gwdv1a1.GatewayParameters {
	return &gwdv1a1.GatewayParameters{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

func TestResolve(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := gwdv1a1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	np := corev1.ServiceTypeNodePort
	objs := []*gwdv1a1.GatewayParameters{
		params("ops", "class", gwdv1a1.GatewayParametersSpec{Replicas: ptr.To(int32(2)), Image: "registry.example/envoy:1", LogLevel: "info",
			Service: &gwdv1a1.ServiceParameters{Annotations: map[string]string{"a": "b"}}}),
		params("ops", "off", gwdv1a1.GatewayParametersSpec{Provision: ptr.To(false)}),
		params("team-a", "more", gwdv1a1.GatewayParametersSpec{Replicas: ptr.To(int32(4)), Service: &gwdv1a1.ServiceParameters{Type: &np}}),
		params("team-a", "image", gwdv1a1.GatewayParametersSpec{Image: "attacker.example/envoy"}),
		params("team-a", "tolerate", gwdv1a1.GatewayParametersSpec{Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}),
		params("team-a", "affinity", gwdv1a1.GatewayParametersSpec{Affinity: &corev1.Affinity{}}),
		params("team-a", "scale", gwdv1a1.GatewayParametersSpec{Autoscaling: &gwdv1a1.Autoscaling{MinReplicas: ptr.To(int32(5)), MaxReplicas: 2}}),
		params("team-a", "pdb", gwdv1a1.GatewayParametersSpec{PodDisruptionBudget: &gwdv1a1.PodDisruptionBudget{
			MinAvailable: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(1))}}),
		params("team-a", "limits", gwdv1a1.GatewayParametersSpec{Resources: &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}}}),
		params("team-a", "metallb", gwdv1a1.GatewayParametersSpec{Service: &gwdv1a1.ServiceParameters{
			Annotations: map[string]string{"metallb.universe.tf/loadBalancerIPs": "192.0.2.10"}}}),
		params("ops", "pool", gwdv1a1.GatewayParametersSpec{Service: &gwdv1a1.ServiceParameters{
			Annotations: map[string]string{"metallb.universe.tf/loadBalancerIPs": "192.0.2.10"}}}),
		params("team-a", "apparmor", gwdv1a1.GatewayParametersSpec{PodAnnotations: map[string]string{"container.apparmor.security.beta.kubernetes.io/envoy": "unconfined"}}),
		// Another tenant's parameters: a Gateway of team-a cannot name them
		// (its reference is local), whatever they say.
		params("team-b", "more", gwdv1a1.GatewayParametersSpec{Replicas: ptr.To(int32(9))}),
	}
	b := fake.NewClientBuilder().WithScheme(scheme)
	for _, o := range objs {
		b = b.WithObjects(o)
	}
	c := b.Build()
	class := func(ref string) *gwv1.GatewayClass {
		gc := &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "gatewarden"}}
		if ref != "" {
			ns, name, _ := strings.Cut(ref, "/")
			gc.Spec.ParametersRef = &gwv1.ParametersReference{Group: gwdv1a1.GroupName, Kind: gwdv1a1.KindGatewayParameters, Name: name, Namespace: ptr.To(gwv1.Namespace(ns))}
		}
		return gc
	}
	gateway := func(ref string) *gwv1.Gateway {
		gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web"}}
		if k, ok := strings.CutPrefix(ref, "annotation:"); ok {
			gw.Spec.Infrastructure = &gwv1.GatewayInfrastructure{Annotations: map[gwv1.AnnotationKey]gwv1.AnnotationValue{
				gwv1.AnnotationKey(k): "192.0.2.10"}}
			return gw
		}
		if ref != "" {
			gw.Spec.Infrastructure = &gwv1.GatewayInfrastructure{ParametersRef: &gwv1.LocalParametersReference{
				Group: gwdv1a1.GroupName, Kind: gwdv1a1.KindGatewayParameters, Name: ref}}
		}
		return gw
	}
	for name, tc := range map[string]struct {
		class, gateway string
		wantErr        string // a paramsError containing this
		check          func(resolved) bool
	}{
		"none":  {check: func(r resolved) bool { return r.provision && r.spec.Replicas == nil }},
		"class": {class: "ops/class", check: func(r resolved) bool { return *r.spec.Replicas == 2 && r.spec.Image != "" }},
		"gateway overrides the class": {class: "ops/class", gateway: "more", check: func(r resolved) bool {
			return *r.spec.Replicas == 4 && *r.spec.Service.Type == np && r.spec.Service.Annotations["a"] == "b" && r.spec.LogLevel == "info"
		}},
		"class opts out":                        {class: "ops/off", check: func(r resolved) bool { return !r.provision }},
		"missing class parameters":              {class: "ops/nope", wantErr: "GatewayClass gatewarden spec.parametersRef: GatewayParameters ops/nope not found"},
		"missing gateway parameters":            {gateway: "nope", wantErr: "GatewayParameters team-a/nope not found"},
		"gateway picks the image":               {gateway: "image", wantErr: "team-a/image spec.image: may be set only in the GatewayClass's parameters"},
		"gateway tolerates taints":              {gateway: "tolerate", wantErr: "spec.tolerations: may be set only"},
		"gateway sets affinity":                 {gateway: "affinity", wantErr: "spec.affinity: may be set only"},
		"autoscaling bounds":                    {gateway: "scale", wantErr: "spec.autoscaling: minReplicas 5 and maxReplicas 2"},
		"two disruption budgets":                {gateway: "pdb", wantErr: "spec.podDisruptionBudget: set exactly one"},
		"gateway parameters ask for an address": {gateway: "metallb", wantErr: `team-a/metallb spec.service.annotations: "metallb.universe.tf/loadBalancerIPs" asks a load balancer for an address: it may be set only in the GatewayClass's parameters`},
		"class parameters may ask for an address": {class: "ops/pool", check: func(r resolved) bool {
			return r.spec.Service.Annotations["metallb.universe.tf/loadBalancerIPs"] == "192.0.2.10"
		}},
		"gateway annotation asks for an address": {gateway: "annotation:io.cilium/lb-ipam-ips", wantErr: `Gateway team-a/web spec.infrastructure.annotations: "io.cilium/lb-ipam-ips" asks a load balancer for an address`},
		"gateway annotation of another kind":     {gateway: "annotation:example.com/team", check: func(r resolved) bool { return r.provision }},
		"AppArmor off":                           {gateway: "apparmor", wantErr: "would change the Envoy Pods' confinement"},
		"request above limit":                    {gateway: "limits", wantErr: "spec.resources.requests.memory: 1Gi is above its limit 128Mi"},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := resolve(context.Background(), c, gateway(tc.gateway), class(tc.class))
			if tc.wantErr != "" {
				var perr *paramsError
				if !errors.As(err, &perr) || !strings.Contains(perr.msg, tc.wantErr) {
					t.Fatalf("error %v, want a parameters error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(r) {
				t.Errorf("resolved %+v", r)
			}
		})
	}
	// A wrong kind in the class's reference is named.
	gc := class("ops/class")
	gc.Spec.ParametersRef.Kind = "ConfigMap"
	if _, err := resolve(context.Background(), c, gateway(""), gc); err == nil || !strings.Contains(err.Error(), `kind "ConfigMap"`) {
		t.Errorf("a ConfigMap as parameters: %v", err)
	}
}
