package provision

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/gatewarden/gatewarden/internal/testenv"
	gwdv1a1 "github.com/gatewarden/gatewarden/pkg/apis/gatewarden/v1alpha1"
	"github.com/gatewarden/gatewarden/translator"
)

var testConfig = Config{XDSAddress: "gatewarden.gatewarden-system.svc.cluster.local:18000"}

func testGateway() *gwv1.Gateway {
	return &gwv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "web", UID: "uid-1"},
		Spec: gwv1.GatewaySpec{
			GatewayClassName: "gatewarden",
			Listeners: []gwv1.Listener{
				{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80},
				{Name: "https", Protocol: gwv1.HTTPSProtocolType, Port: 443},
				{Name: "http-b", Protocol: gwv1.HTTPProtocolType, Port: 80, Hostname: ptr.To(gwv1.Hostname("b.example"))},
			},
			Infrastructure: &gwv1.GatewayInfrastructure{
				Labels: map[gwv1.LabelKey]gwv1.LabelValue{
					"team": "a",
					// A hostile label: the Pods must still be selected by
					// gatewarden's own value.
					LabelGatewayName: "someone-else",
				},
				Annotations: map[gwv1.AnnotationKey]gwv1.AnnotationValue{
					"cost-center": "42",
					// A hostile annotation: AppArmor off for the Envoy container.
					"container.apparmor.security.beta.kubernetes.io/envoy": "unconfined",
				},
			},
		},
	}
}

func TestBuild(t *testing.T) {
	d, err := build(testGateway(), resolved{provision: true}, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	if d.name != "web-gatewarden" {
		t.Fatalf("name %q, want web-gatewarden", d.name)
	}
	for _, o := range []metav1.Object{d.serviceAccount, d.configMap, d.deployment, d.service, &d.deployment.Spec.Template} {
		if o.GetLabels()[LabelGatewayName] != "web" || o.GetLabels()["team"] != "a" {
			t.Errorf("%T labels %v: want %s=web and the infrastructure label team=a", o, o.GetLabels(), LabelGatewayName)
		}
		if o.GetAnnotations()["cost-center"] != "42" {
			t.Errorf("%T annotations %v: want the infrastructure annotation", o, o.GetAnnotations())
		}
	}
	for _, o := range []metav1.Object{d.serviceAccount, d.configMap, d.deployment, d.service} {
		if o.GetName() != d.name || o.GetNamespace() != "team-a" {
			t.Errorf("%T %s/%s: want team-a/%s", o, o.GetNamespace(), o.GetName(), d.name)
		}
		refs := o.GetOwnerReferences()
		if len(refs) != 1 || refs[0].Kind != "Gateway" || refs[0].UID != "uid-1" || refs[0].Controller == nil || !*refs[0].Controller {
			t.Errorf("%T owner references %+v: want the Gateway as controller", o, refs)
		}
	}
	if d.hpa != nil || d.pdb != nil {
		t.Error("an autoscaler or disruption budget without parameters asking for one")
	}
	if d.service.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Errorf("Service type %s, want LoadBalancer by default", d.service.Spec.Type)
	}
	var ports []string
	for _, p := range d.service.Spec.Ports {
		ports = append(ports, p.Name+":"+p.TargetPort.String())
	}
	if diff := cmp.Diff([]string{"http-80:80", "https-443:443"}, ports); diff != "" {
		t.Errorf("Service ports (-want +got):\n%s", diff)
	}
	pod := d.deployment.Spec.Template.Spec
	c := pod.Containers[0]
	sc := c.SecurityContext
	if !*pod.SecurityContext.RunAsNonRoot || *pod.SecurityContext.RunAsUser == 0 || !*sc.ReadOnlyRootFilesystem ||
		*sc.AllowPrivilegeEscalation || *sc.Privileged || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
		t.Errorf("Envoy's security context %+v / %+v: want non-root, read-only root, no privilege, ALL capabilities dropped", pod.SecurityContext, sc)
	}
	if *pod.AutomountServiceAccountToken {
		t.Error("the Envoy Pods mount a service account token")
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/ready" || p.HTTPGet.Port.String() != "ready" {
		t.Errorf("readiness probe %+v: want GET /ready on the ready port", p)
	}
	for _, cp := range c.Ports {
		if cp.ContainerPort == 19000 {
			t.Error("the admin port is exposed")
		}
	}
	if got := pod.Volumes[1].Secret.SecretName; got != "xds.team-a.web" {
		t.Errorf("xDS Secret %q, want the Gateway's own xds.team-a.web", got)
	}
	if d.deployment.Spec.Template.Labels[LabelGatewayName] != "web" || d.deployment.Spec.Selector.MatchLabels[LabelGatewayName] != "web" {
		t.Error("an infrastructure label replaced gatewarden's selector label")
	}
	for k := range d.deployment.Spec.Template.Annotations {
		if strings.Contains(k, "apparmor") {
			t.Errorf("the Pods carry the Gateway's annotation %q, which turns AppArmor off", k)
		}
	}
	if c.Image != DefaultImage {
		t.Errorf("image %q, want %q", c.Image, DefaultImage)
	}
	// The bootstrap is the one `gatewarden bootstrap` writes, and Envoy
	// takes it.
	js, err := sigsyaml.YAMLToJSON([]byte(d.configMap.Data[BootstrapKey]))
	if err != nil {
		t.Fatal(err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, b); err != nil {
		t.Fatal(err)
	}
	if b.Node.Cluster != "team-a/web" {
		t.Errorf("node cluster %q, want team-a/web", b.Node.Cluster)
	}
	if !strings.Contains(string(js), XDSCredentialsDir) {
		t.Error("the bootstrap does not take its xDS credentials from the mounted Secret")
	}
}

func TestBuildParameters(t *testing.T) {
	lb := corev1.ServiceTypeNodePort
	spec := gwdv1a1.GatewayParametersSpec{
		Replicas:       ptr.To(int32(3)),
		Image:          "registry.example/envoy:v1.40.0",
		Service:        &gwdv1a1.ServiceParameters{Type: &lb, Annotations: map[string]string{"lb.example/internal": "true"}},
		PodAnnotations: map[string]string{"x": "y"},
		LogLevel:       "debug",
		NodeSelector:   map[string]string{"pool": "edge"},
	}
	d, err := build(testGateway(), resolved{provision: true, spec: spec}, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	c := d.deployment.Spec.Template.Spec.Containers[0]
	if *d.deployment.Spec.Replicas != 3 || c.Image != spec.Image || d.service.Spec.Type != lb ||
		d.service.Annotations["lb.example/internal"] != "true" || d.deployment.Spec.Template.Annotations["x"] != "y" ||
		!strings.Contains(strings.Join(c.Args, " "), "--log-level debug") || d.deployment.Spec.Template.Spec.NodeSelector["pool"] != "edge" {
		t.Errorf("parameters not applied: %+v", d.deployment.Spec)
	}
	spec.Autoscaling = &gwdv1a1.Autoscaling{MaxReplicas: 5}
	d, err = build(testGateway(), resolved{provision: true, spec: spec}, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	if d.hpa == nil || d.deployment.Spec.Replicas != nil {
		t.Error("autoscaling: want an HPA and no replicas in the Deployment (the HPA owns them)")
	}
}

func TestResourceName(t *testing.T) {
	for _, tc := range []struct{ gw, class string }{
		{"web", "gatewarden"},
		{"a.b", "gatewarden"},
		{strings.Repeat("g", 60), "gatewarden"},
		{"1st", "gatewarden"},
	} {
		n := ResourceName(tc.gw, tc.class)
		if errs := validation.IsDNS1035Label(n); len(errs) > 0 {
			t.Errorf("ResourceName(%q, %q) = %q: %v", tc.gw, tc.class, n, errs)
		}
	}
	if ResourceName("a.b", "c") == ResourceName("a-b", "c") {
		t.Error("a.b and a-b share a name")
	}
	if ResourceName(strings.Repeat("g", 60)+"x", "c") == ResourceName(strings.Repeat("g", 60)+"y", "c") {
		t.Error("two long names share a name")
	}
}

func TestBootstrapValidatedByEnvoy(t *testing.T) {
	d, err := build(testGateway(), resolved{provision: true}, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	// Envoy checks that the SDS files exist: the Secret's files, written
	// where the test can.
	dir := testenv.CredentialsDir(t, "team-a", "web")
	boot := strings.ReplaceAll(d.configMap.Data[BootstrapKey], XDSCredentialsDir, dir)
	js, err := sigsyaml.YAMLToJSON([]byte(boot))
	if err != nil {
		t.Fatal(err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, b); err != nil {
		t.Fatal(err)
	}
	testenv.ValidateEnvoyConfig(t, b)
}

// TestBuildUDPPorts: a UDP listener's port is a UDP port of the Service and
// of the Envoy container, beside a TCP port of the same number, and a
// second listener of a port adds no port.
func TestBuildUDPPorts(t *testing.T) {
	gw := testGateway()
	gw.Spec.Listeners = []gwv1.Listener{
		{Name: "dns", Protocol: gwv1.UDPProtocolType, Port: 53},
		{Name: "dns-tcp", Protocol: gwv1.TCPProtocolType, Port: 53},
		{Name: "echo", Protocol: gwv1.UDPProtocolType, Port: 5300},
		{Name: "echo-again", Protocol: gwv1.UDPProtocolType, Port: 5300},
		{Name: "http", Protocol: gwv1.HTTPProtocolType, Port: 80},
	}
	d, err := build(gw, resolved{provision: true}, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	var svc, ctr []string
	for _, p := range d.service.Spec.Ports {
		svc = append(svc, fmt.Sprintf("%s %d/%s -> %s", p.Name, p.Port, p.Protocol, p.TargetPort.String()))
	}
	for _, p := range d.deployment.Spec.Template.Spec.Containers[0].Ports {
		ctr = append(ctr, fmt.Sprintf("%s %d/%s", p.Name, p.ContainerPort, p.Protocol))
	}
	if diff := cmp.Diff([]string{"tcp-53 53/TCP -> 53", "udp-53 53/UDP -> 53", "http-80 80/TCP -> 80", "udp-5300 5300/UDP -> 5300"}, svc); diff != "" {
		t.Errorf("Service ports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"tcp-53 53/TCP", "udp-53 53/UDP", "http-80 80/TCP", "udp-5300 5300/UDP", "metrics 19001/TCP", "ready 19002/TCP"}, ctr); diff != "" {
		t.Errorf("container ports (-want +got):\n%s", diff)
	}
}

// TestBuildListenerSetPorts: the Service and the Envoy container expose the
// ports of the listeners of the ListenerSets the Gateway takes as well; a
// port the Gateway has keeps the name of its own listener's protocol.
func TestBuildListenerSetPorts(t *testing.T) {
	ls := &gwv1.ListenerSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "extra"},
		Spec: gwv1.ListenerSetSpec{Listeners: []gwv1.ListenerEntry{
			{Name: "tcp-on-80", Protocol: gwv1.TCPProtocolType, Port: 80},
			{Name: "tls", Protocol: gwv1.HTTPSProtocolType, Port: 8443},
		}},
	}
	d, err := build(testGateway(), resolved{provision: true, listenerSets: []*gwv1.ListenerSet{ls}}, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, p := range d.service.Spec.Ports {
		ports = append(ports, p.Name+":"+p.TargetPort.String())
	}
	if diff := cmp.Diff([]string{"http-80:80", "https-443:443", "https-8443:8443"}, ports); diff != "" {
		t.Errorf("Service ports (-want +got):\n%s", diff)
	}
	var containerPorts []int32
	for _, p := range d.deployment.Spec.Template.Spec.Containers[0].Ports {
		containerPorts = append(containerPorts, p.ContainerPort)
	}
	if !slices.Contains(containerPorts, 8443) {
		t.Errorf("Envoy container ports %v: want the ListenerSet's 8443 among them", containerPorts)
	}
}

// TestBuildListenerSetPortsBounded: the Service exposes the ports of the
// first translator.MaxGatewayListeners listeners only (the Gateway's own,
// then the ListenerSets' in precedence order), the ones the Gateway takes.
func TestBuildListenerSetPortsBounded(t *testing.T) {
	gw := testGateway()
	var sets []*gwv1.ListenerSet
	next := gwv1.PortNumber(10000)
	for i := range translator.MaxGatewayListeners/64 + 1 {
		s := &gwv1.ListenerSet{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: fmt.Sprintf("set-%d", i)}}
		for j := range 64 {
			s.Spec.Listeners = append(s.Spec.Listeners, gwv1.ListenerEntry{Name: gwv1.SectionName(fmt.Sprintf("l%d", j)), Protocol: gwv1.TCPProtocolType, Port: next})
			next++
		}
		sets = append(sets, s)
	}
	d, err := build(gw, resolved{provision: true, listenerSets: sets}, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[int32]bool{}
	for _, p := range d.service.Spec.Ports {
		exposed[p.Port] = true
	}
	gwPorts := map[gwv1.PortNumber]bool{}
	for _, l := range gw.Spec.Listeners {
		gwPorts[l.Port] = true
	}
	fromSets := translator.MaxGatewayListeners - len(gw.Spec.Listeners)
	last := int32(10000 + fromSets - 1) // the last port taken
	if want := len(gwPorts) + fromSets; len(d.service.Spec.Ports) != want || !exposed[last] || exposed[last+1] {
		t.Errorf("%d Service ports, %d exposed: %v, %d exposed: %v; want %d ports, up to %d",
			len(d.service.Spec.Ports), last, exposed[last], last+1, exposed[last+1], want, last)
	}
}
