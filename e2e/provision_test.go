package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/internal/provision"
	"github.com/gatewarden/gatewarden/internal/testenv"
	gwdv1a1 "github.com/gatewarden/gatewarden/pkg/apis/gatewarden/v1alpha1"
	"github.com/gatewarden/gatewarden/pkg/source/kube"
)

const provisionClass = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: gatewarden
spec:
  controllerName: gatewarden.io/gatewarden
`

const provisionGateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
  namespace: team-a
spec:
  gatewayClassName: gatewarden
  infrastructure:
    labels: {team: a}
    annotations: {cost-center: "42"}
  listeners:
  - {name: http, protocol: HTTP, port: 8080}
`

// TestKubernetesProvisioning applies Gateways to a real API server
// (envtest) with gatewarden --provision, and checks the objects it makes:
// names, labels, owner references, infrastructure labels, the Service
// following the listeners, parameters, refused parameters, and removal.
//
// envtest runs no garbage collector (no kube-controller-manager): the
// objects of a deleted Gateway are removed by gatewarden itself, and the
// owner references that let Kubernetes' collector do it in a cluster are
// checked here rather than exercised.
func TestKubernetesProvisioning(t *testing.T) {
	k := startKube(t)
	c, err := crclient.New(k.cfg, crclient.Options{Scheme: kube.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := gwdv1a1.AddToScheme(c.Scheme()); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"gatewarden-system", "team-a", "team-b"} {
		k.kubectl("", "create", "namespace", ns)
	}
	g := k.startGatewarden(k.kubeconfig, "--provision")
	ctx := context.Background()
	name := types.NamespacedName{Namespace: "team-a", Name: "web-gatewarden"}

	// gatewarden is up (the class accepted) before the Gateway comes.
	k.kubectl(provisionClass, "apply", "-f-")
	k.waitCondition("gatewayclass", "", "gatewarden", ".status", "Accepted", "True")
	eventually(t, 20*time.Second, "the provisioner elected", func() string {
		if out, err := k.tryKubectl("", "get", "lease", "gatewarden-provisioner", "-n", "gatewarden-system", "-o", "jsonpath={.spec.holderIdentity}"); err != nil || out == "" {
			return fmt.Sprintf("no holder yet: %v %s", err, out)
		}
		return ""
	})
	start := time.Now()
	k.kubectl(provisionGateway, "apply", "-f-")
	gw := &gwv1.Gateway{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "team-a", Name: "web"}, gw); err != nil {
		t.Fatal(err)
	}
	objs := []crclient.Object{&corev1.ServiceAccount{}, &corev1.ConfigMap{}, &appsv1.Deployment{}, &corev1.Service{}}
	took := eventually(t, 2*time.Second, "the four objects of Gateway team-a/web", func() string {
		for _, o := range objs {
			if err := c.Get(ctx, name, o); err != nil {
				return fmt.Sprintf("%T: %v", o, err)
			}
		}
		return ""
	})
	t.Logf("ServiceAccount, ConfigMap, Deployment and Service of team-a/web made %v after the Gateway was applied (kubectl included: %v)", took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	for _, o := range objs {
		if o.GetLabels()[provision.LabelGatewayName] != "web" || o.GetLabels()["team"] != "a" || o.GetAnnotations()["cost-center"] != "42" {
			t.Errorf("%T labels %v annotations %v: want gateway-name=web, team=a, cost-center=42", o, o.GetLabels(), o.GetAnnotations())
		}
		ref := metav1.GetControllerOf(o)
		if ref == nil || ref.Kind != "Gateway" || ref.Name != "web" || ref.UID != gw.UID {
			t.Errorf("%T owner %+v: want Gateway web (uid %s) as controller", o, ref, gw.UID)
		}
	}
	dep := objs[2].(*appsv1.Deployment)
	if dep.Spec.Template.Labels[provision.LabelGatewayName] != "web" || dep.Spec.Template.Labels["team"] != "a" {
		t.Errorf("Pod labels %v", dep.Spec.Template.Labels)
	}
	svc := objs[3].(*corev1.Service)
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 {
		t.Errorf("Service %s %+v: want LoadBalancer on 8080", svc.Spec.Type, svc.Spec.Ports)
	}
	if !strings.Contains(objs[1].(*corev1.ConfigMap).Data[provision.BootstrapKey], "cluster: team-a/web") {
		t.Error("the bootstrap does not select Gateway team-a/web")
	}
	// No cloud gives the LoadBalancer an address and no kubelet runs the
	// Pods: the Gateway waits for both. The address, as a cloud's
	// controller would write it, becomes the Gateway's.
	k.waitCondition("gateway", "team-a", "web", ".status", "Programmed", "False")
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}
	if err := c.Status().Update(ctx, svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the Gateway waits for its Deployment, with the Service's address", func() string {
		got := k.kubectl("", "get", "gateway", "web", "-n", "team-a", "-o", `jsonpath={.status.conditions[?(@.type=="Programmed")].reason} {.status.addresses[*].value}`)
		if got != "Pending 203.0.113.10" {
			return fmt.Sprintf("Programmed reason and addresses %q, want Pending (no available replica) and 203.0.113.10", got)
		}
		return ""
	})
	// A Deployment with an available replica makes it Programmed.
	dep.Status.Replicas, dep.Status.ReadyReplicas, dep.Status.AvailableReplicas, dep.Status.UpdatedReplicas = 1, 1, 1, 1
	if err := c.Status().Update(ctx, dep); err != nil {
		t.Fatal(err)
	}
	k.waitCondition("gateway", "team-a", "web", ".status", "Programmed", "True")

	// servicePorts is the ports of the Gateway's Service, as "443,9090"
	// (or why they cannot be read); waitServicePorts waits for want.
	servicePorts := func() string {
		s := &corev1.Service{}
		if err := c.Get(ctx, name, s); err != nil {
			return err.Error()
		}
		var ports []string
		for _, p := range s.Spec.Ports {
			ports = append(ports, fmt.Sprint(p.Port))
		}
		return strings.Join(ports, ",")
	}
	waitServicePorts := func(what, want string) {
		t.Helper()
		eventually(t, 5*time.Second, what, func() string {
			if got := servicePorts(); got != want {
				return "ports " + got
			}
			return ""
		})
	}

	// A listener port change updates the Service.
	k.kubectl("", "patch", "gateway", "web", "-n", "team-a", "--type=json",
		"-p", `[{"op":"replace","path":"/spec/listeners/0/port","value":9090},{"op":"add","path":"/spec/listeners/-","value":{"name":"https","protocol":"HTTP","port":443}}]`)
	waitServicePorts("the Service follows the listeners", "443,9090")

	// A ListenerSet's port is exposed once the Gateway takes it, and no
	// longer when it is gone.
	k.kubectl(`apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: {name: extra, namespace: team-b}
spec:
  parentRef: {name: web, namespace: team-a}
  listeners:
  - {name: extra, protocol: HTTP, port: 7070}
`, "apply", "-f-")
	time.Sleep(time.Second) // the provisioner sees the ListenerSet within milliseconds
	if got := servicePorts(); got != "443,9090" {
		t.Errorf("Service ports %s with a ListenerSet the Gateway does not allow, want 443,9090", got)
	}
	k.kubectl("", "patch", "gateway", "web", "-n", "team-a", "--type=merge", "-p", `{"spec":{"allowedListeners":{"namespaces":{"from":"All"}}}}`)
	waitServicePorts("the Service exposes the ListenerSet's port", "443,7070,9090")
	k.kubectl("", "delete", "listenerset", "extra", "-n", "team-b")
	waitServicePorts("the Service without the ListenerSet's port", "443,9090")

	// Parameters (the class's, then the Gateway's own) change replicas and
	// the Service type.
	k.kubectl(`apiVersion: gatewarden.io/v1alpha1
kind: GatewayParameters
metadata: {name: class-defaults, namespace: gatewarden-system}
spec:
  replicas: 2
  service: {type: NodePort, annotations: {lb.example/internal: "true"}}
---
apiVersion: gatewarden.io/v1alpha1
kind: GatewayParameters
metadata: {name: web, namespace: team-a}
spec:
  replicas: 3
  podDisruptionBudget: {minAvailable: 1}
`, "apply", "-f-")
	k.kubectl("", "patch", "gatewayclass", "gatewarden", "--type=merge", "-p",
		`{"spec":{"parametersRef":{"group":"gatewarden.io","kind":"GatewayParameters","name":"class-defaults","namespace":"gatewarden-system"}}}`)
	eventually(t, 5*time.Second, "the class's parameters: 2 replicas, a NodePort Service", func() string {
		return replicasAndType(ctx, c, name, 2, corev1.ServiceTypeNodePort)
	})
	k.kubectl("", "patch", "gateway", "web", "-n", "team-a", "--type=merge", "-p",
		`{"spec":{"infrastructure":{"parametersRef":{"group":"gatewarden.io","kind":"GatewayParameters","name":"web"}}}}`)
	eventually(t, 5*time.Second, "the Gateway's parameters override the class's replicas", func() string {
		return replicasAndType(ctx, c, name, 3, corev1.ServiceTypeNodePort)
	})
	eventually(t, 5*time.Second, "the parameters' PodDisruptionBudget", func() string {
		if err := c.Get(ctx, name, &policyv1.PodDisruptionBudget{}); err != nil {
			return err.Error()
		}
		return ""
	})

	// Bad parameters: a tenant's Gateway parameters that pick the image (a
	// class-level field), then a reference to nothing. The Gateway is not
	// accepted, with the field named, and nothing is changed.
	k.kubectl(`apiVersion: gatewarden.io/v1alpha1
kind: GatewayParameters
metadata: {name: web, namespace: team-a}
spec:
  replicas: 7
  image: attacker.example/envoy:latest
`, "apply", "-f-")
	k.waitCondition("gateway", "team-a", "web", ".status", "Accepted", "False")
	msg := k.kubectl("", "get", "gateway", "web", "-n", "team-a", "-o", `jsonpath={.status.conditions[?(@.type=="Accepted")].reason} {.status.conditions[?(@.type=="Accepted")].message}`)
	if !strings.HasPrefix(msg, "InvalidParameters ") || !strings.Contains(msg, "spec.image") {
		t.Errorf("Accepted condition %q: want InvalidParameters naming spec.image", msg)
	}
	time.Sleep(500 * time.Millisecond)
	if got := replicasAndType(ctx, c, name, 3, corev1.ServiceTypeNodePort); got != "" {
		t.Errorf("refused parameters changed the objects: %s", got)
	}
	d := &appsv1.Deployment{}
	if err := c.Get(ctx, name, d); err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != provision.DefaultImage {
		t.Errorf("image %q: a Gateway's parameters chose the image", img)
	}
	k.kubectl("", "patch", "gateway", "web", "-n", "team-a", "--type=merge", "-p",
		`{"spec":{"infrastructure":{"parametersRef":{"group":"gatewarden.io","kind":"GatewayParameters","name":"missing"}}}}`)
	eventually(t, 5*time.Second, "a missing parameters object is named", func() string {
		m := k.kubectl("", "get", "gateway", "web", "-n", "team-a", "-o", `jsonpath={.status.conditions[?(@.type=="Accepted")].message}`)
		if !strings.Contains(m, "GatewayParameters team-a/missing not found") {
			return "message " + m
		}
		return ""
	})
	k.kubectl("", "patch", "gateway", "web", "-n", "team-a", "--type=json", "-p", `[{"op":"remove","path":"/spec/infrastructure/parametersRef"}]`)
	k.waitCondition("gateway", "team-a", "web", ".status", "Accepted", "True")
	eventually(t, 5*time.Second, "the PodDisruptionBudget no parameters ask for any more is removed", func() string {
		if err := c.Get(ctx, name, &policyv1.PodDisruptionBudget{}); !apierrors.IsNotFound(err) {
			return fmt.Sprint(err)
		}
		return replicasAndType(ctx, c, name, 2, corev1.ServiceTypeNodePort)
	})
	// Whatever a Gateway says, its objects are in its own namespace only.
	var deps appsv1.DeploymentList
	if err := c.List(ctx, &deps, crclient.MatchingLabels{provision.LabelGatewayName: "web"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		if d.Namespace != "team-a" {
			t.Errorf("Deployment %s/%s made for Gateway team-a/web", d.Namespace, d.Name)
		}
	}

	// The class's parameters missing: the class and its Gateway are not
	// accepted, saying which reference.
	k.kubectl("", "patch", "gatewayclass", "gatewarden", "--type=merge", "-p", `{"spec":{"parametersRef":{"name":"gone"}}}`)
	k.waitCondition("gatewayclass", "", "gatewarden", ".status", "Accepted", "False")
	if m := k.kubectl("", "get", "gatewayclass", "gatewarden", "-o", `jsonpath={.status.conditions[?(@.type=="Accepted")].reason} {.status.conditions[?(@.type=="Accepted")].message}`); !strings.Contains(m, "InvalidParameters GatewayClass gatewarden spec.parametersRef: GatewayParameters gatewarden-system/gone not found") {
		t.Errorf("GatewayClass Accepted condition %q", m)
	}
	k.waitCondition("gateway", "team-a", "web", ".status", "Accepted", "False")
	k.kubectl("", "patch", "gatewayclass", "gatewarden", "--type=merge", "-p", `{"spec":{"parametersRef":{"name":"class-defaults"}}}`)
	k.waitCondition("gatewayclass", "", "gatewarden", ".status", "Accepted", "True")
	k.waitCondition("gateway", "team-a", "web", ".status", "Accepted", "True")

	// Opting the class out removes the objects; opting in makes them again.
	k.kubectl("", "annotate", "gatewayclass", "gatewarden", provision.AnnotationProvision+"=false")
	eventually(t, 5*time.Second, "the objects of an opted-out class are gone", func() string {
		if err := c.Get(ctx, name, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("Deployment: %v", err)
		}
		return ""
	})
	k.kubectl("", "annotate", "gatewayclass", "gatewarden", provision.AnnotationProvision+"-")
	eventually(t, 5*time.Second, "the objects made again once the class opts in", func() string {
		return replicasAndType(ctx, c, name, 2, corev1.ServiceTypeNodePort)
	})
	// Autoscaling: a HorizontalPodAutoscaler owns the replicas.
	k.kubectl("", "patch", "gatewayparameters", "class-defaults", "-n", "gatewarden-system", "--type=merge", "-p",
		`{"spec":{"autoscaling":{"minReplicas":2,"maxReplicas":5}}}`)
	eventually(t, 5*time.Second, "the parameters' HorizontalPodAutoscaler", func() string {
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := c.Get(ctx, name, h); err != nil {
			return err.Error()
		}
		if h.Spec.MaxReplicas != 5 || h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 2 || h.Spec.ScaleTargetRef.Name != name.Name {
			return fmt.Sprintf("HPA spec %+v", h.Spec)
		}
		return ""
	})

	// A Gateway in another namespace named so that its objects would take
	// over team-b's own Service is refused, and the Service is left as it was.
	k.kubectl(`apiVersion: v1
kind: Service
metadata: {name: api-gatewarden, namespace: team-b}
spec:
  ports: [{port: 80}]
`, "apply", "-f-")
	k.kubectl(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: api, namespace: team-b}
spec:
  gatewayClassName: gatewarden
  listeners: [{name: http, protocol: HTTP, port: 8081}]
`, "apply", "-f-")
	time.Sleep(time.Second)
	s := &corev1.Service{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "team-b", Name: "api-gatewarden"}, s); err != nil {
		t.Fatal(err)
	}
	if len(s.OwnerReferences) != 0 || s.Spec.Ports[0].Port != 80 || s.Labels[provision.LabelGatewayName] != "" {
		t.Errorf("a Gateway took over team-b's Service: %+v %+v", s.ObjectMeta, s.Spec.Ports)
	}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "team-b", Name: "api-gatewarden"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment of a Gateway whose Service name is taken: %v, want none", err)
	}

	// Deleting the Gateway removes its objects.
	k.kubectl("", "delete", "gateway", "web", "-n", "team-a")
	eventually(t, 5*time.Second, "the objects of the deleted Gateway are gone", func() string {
		for _, o := range []crclient.Object{&corev1.ServiceAccount{}, &corev1.ConfigMap{}, &appsv1.Deployment{}, &corev1.Service{}, &autoscalingv2.HorizontalPodAutoscaler{}} {
			if err := c.Get(ctx, name, o); !apierrors.IsNotFound(err) {
				return fmt.Sprintf("%T: %v", o, err)
			}
		}
		return ""
	})
	if strings.Contains(g.Output(), "panic") {
		t.Fatalf("gatewarden panicked:\n%s", testenv.Tail(g.Output(), 40))
	}
}

// replicasAndType says how the Deployment and Service of name differ from
// the replicas and Service type wanted ("" when they do not).
func replicasAndType(ctx context.Context, c crclient.Client, name types.NamespacedName, replicas int32, typ corev1.ServiceType) string {
	d := &appsv1.Deployment{}
	s := &corev1.Service{}
	if err := c.Get(ctx, name, d); err != nil {
		return err.Error()
	}
	if err := c.Get(ctx, name, s); err != nil {
		return err.Error()
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != replicas || s.Spec.Type != typ {
		return fmt.Sprintf("replicas %v, Service %s", d.Spec.Replicas, s.Spec.Type)
	}
	return ""
}
