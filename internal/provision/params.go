package provision

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	gwdv1a1 "github.com/gatewarden/gatewarden/pkg/apis/gatewarden/v1alpha1"
)

// paramsError is a parameters mistake, said on the Gateway with reason
// InvalidParameters: it names the object and field.
type paramsError struct{ msg string }

func (e *paramsError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &paramsError{msg: fmt.Sprintf(format, args...)}
}

// resolved are the parameters in effect for one Gateway.
type resolved struct {
	// provision false: the class opted out, nothing is made.
	provision bool
	spec      gwdv1a1.GatewayParametersSpec
	// listenerSets are the ListenerSets the Gateway takes: the Service
	// exposes the ports of their listeners too.
	listenerSets []*gwv1.ListenerSet
	// loadBalancerIP is the address the Service asks its load balancer
	// for (addresses.go).
	loadBalancerIP string
}

// resolve reads the class's and the Gateway's parameters, merges them (the
// Gateway's fields win) and checks the result. A paramsError is the user's
// to fix; other errors are the API server's.
func resolve(ctx context.Context, r client.Reader, gw *gwv1.Gateway, gc *gwv1.GatewayClass) (resolved, error) {
	out := resolved{provision: gc.Annotations[AnnotationProvision] != "false"}
	var class, local *gwdv1a1.GatewayParameters
	if ref := gc.Spec.ParametersRef; ref != nil {
		where := fmt.Sprintf("GatewayClass %s spec.parametersRef", gc.Name)
		if string(ref.Group) != gwdv1a1.GroupName || string(ref.Kind) != gwdv1a1.KindGatewayParameters {
			return out, invalid("%s: group %q kind %q: want group %s kind %s", where, ref.Group, ref.Kind, gwdv1a1.GroupName, gwdv1a1.KindGatewayParameters)
		}
		if ref.Namespace == nil || *ref.Namespace == "" {
			return out, invalid("%s: namespace is required (GatewayParameters are namespaced)", where)
		}
		p, err := get(ctx, r, string(*ref.Namespace), ref.Name, where)
		if err != nil {
			return out, err
		}
		class = p
	}
	if gw.Spec.Infrastructure != nil && gw.Spec.Infrastructure.ParametersRef != nil {
		ref := gw.Spec.Infrastructure.ParametersRef
		where := fmt.Sprintf("Gateway %s/%s spec.infrastructure.parametersRef", gw.Namespace, gw.Name)
		if string(ref.Group) != gwdv1a1.GroupName || string(ref.Kind) != gwdv1a1.KindGatewayParameters {
			return out, invalid("%s: group %q kind %q: want group %s kind %s", where, ref.Group, ref.Kind, gwdv1a1.GroupName, gwdv1a1.KindGatewayParameters)
		}
		// A LocalParametersReference: the Gateway's own namespace, always.
		p, err := get(ctx, r, gw.Namespace, ref.Name, where)
		if err != nil {
			return out, err
		}
		if err := classOnly(p); err != nil {
			return out, err
		}
		local = p
	}
	if class != nil {
		out.spec = *class.Spec.DeepCopy()
		if class.Spec.Provision != nil && !*class.Spec.Provision {
			out.provision = false
		}
	}
	if local != nil {
		merge(&out.spec, local.Spec.DeepCopy())
	}
	if inf := gw.Spec.Infrastructure; inf != nil && out.provision {
		for k := range inf.Annotations {
			if addressAnnotation(string(k)) {
				return out, invalid("Gateway %s/%s spec.infrastructure.annotations: %q asks a load balancer for an address; a Gateway requests addresses in spec.addresses, which gatewarden checks are no other Service's", gw.Namespace, gw.Name, k)
			}
		}
	}
	name := "parameters"
	switch {
	case local != nil:
		name = fmt.Sprintf("GatewayParameters %s/%s", local.Namespace, local.Name)
	case class != nil:
		name = fmt.Sprintf("GatewayParameters %s/%s", class.Namespace, class.Name)
	}
	return out, check(name, &out.spec)
}

func get(ctx context.Context, r client.Reader, ns, name, where string) (*gwdv1a1.GatewayParameters, error) {
	p := &gwdv1a1.GatewayParameters{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, invalid("%s: GatewayParameters %s/%s not found", where, ns, name)
		}
		return nil, fmt.Errorf("%s: read GatewayParameters %s/%s: %w", where, ns, name, err)
	}
	return p, nil
}

// classOnly refuses, in a Gateway's parameters, the fields that choose what
// runs with the Gateway's xDS identity and where: whoever may create a
// Gateway in a namespace writes them, and must not pick the program that
// holds the Gateway's client certificate, nor schedule it onto nodes kept
// for others (tolerations, node selectors and affinity), nor ask a load
// balancer for an address past gatewarden's check (addressAnnotation).
func classOnly(p *gwdv1a1.GatewayParameters) error {
	s := p.Spec
	var field string
	switch {
	case s.Image != "":
		field = "spec.image"
	case s.Provision != nil:
		field = "spec.provision"
	case len(s.NodeSelector) > 0:
		field = "spec.nodeSelector"
	case len(s.Tolerations) > 0:
		field = "spec.tolerations"
	case s.Affinity != nil:
		field = "spec.affinity"
	default:
		for k := range serviceAnnotations(&s) {
			if addressAnnotation(k) {
				return invalid("GatewayParameters %s/%s spec.service.annotations: %q asks a load balancer for an address: it may be set only in the GatewayClass's parameters; a Gateway requests addresses in spec.addresses, which gatewarden checks are no other Service's", p.Namespace, p.Name, k)
			}
		}
		return nil
	}
	return invalid("GatewayParameters %s/%s %s: may be set only in the GatewayClass's parameters, not in a Gateway's", p.Namespace, p.Name, field)
}

// merge sets in dst every field set in src.
func merge(dst, src *gwdv1a1.GatewayParametersSpec) {
	if src.Replicas != nil {
		dst.Replicas = src.Replicas
	}
	if src.Autoscaling != nil {
		dst.Autoscaling = src.Autoscaling
	}
	if src.Resources != nil {
		dst.Resources = src.Resources
	}
	if src.Service != nil {
		if dst.Service == nil {
			dst.Service = &gwdv1a1.ServiceParameters{}
		}
		if src.Service.Type != nil {
			dst.Service.Type = src.Service.Type
		}
		if src.Service.Annotations != nil {
			dst.Service.Annotations = src.Service.Annotations
		}
	}
	if src.PodAnnotations != nil {
		dst.PodAnnotations = src.PodAnnotations
	}
	if src.PodDisruptionBudget != nil {
		dst.PodDisruptionBudget = src.PodDisruptionBudget
	}
	if src.LogLevel != "" {
		dst.LogLevel = src.LogLevel
	}
}

var logLevels = []string{"trace", "debug", "info", "warning", "warn", "error", "critical", "off"}

// check refuses what the API server's schema lets through but cannot be
// applied, naming the field.
func check(name string, s *gwdv1a1.GatewayParametersSpec) error {
	if s.Replicas != nil && *s.Replicas < 0 {
		return invalid("%s spec.replicas: %d is negative", name, *s.Replicas)
	}
	if a := s.Autoscaling; a != nil {
		minR := int32(1)
		if a.MinReplicas != nil {
			minR = *a.MinReplicas
		}
		if minR < 1 || a.MaxReplicas < minR {
			return invalid("%s spec.autoscaling: minReplicas %d and maxReplicas %d: want 1 <= minReplicas <= maxReplicas", name, minR, a.MaxReplicas)
		}
		if t := a.TargetCPUUtilizationPercentage; t != nil && (*t < 1 || *t > 100) {
			return invalid("%s spec.autoscaling.targetCPUUtilizationPercentage: %d is not in 1..100", name, *t)
		}
	}
	if p := s.PodDisruptionBudget; p != nil && (p.MinAvailable == nil) == (p.MaxUnavailable == nil) {
		return invalid("%s spec.podDisruptionBudget: set exactly one of minAvailable and maxUnavailable", name)
	}
	if r := s.Resources; r != nil {
		for res, req := range r.Requests {
			if lim, ok := r.Limits[res]; ok && req.Cmp(lim) > 0 {
				return invalid("%s spec.resources.requests.%s: %s is above its limit %s", name, res, req.String(), lim.String())
			}
		}
	}
	if s.Image != "" && strings.ContainsAny(s.Image, " \t\n") {
		return invalid("%s spec.image: %q is not an image reference", name, s.Image)
	}
	if s.LogLevel != "" && !contains(logLevels, s.LogLevel) {
		return invalid("%s spec.logLevel: %q: want one of %s", name, s.LogLevel, strings.Join(logLevels, ", "))
	}
	if s.Service != nil && s.Service.Type != nil {
		switch *s.Service.Type {
		case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		default:
			return invalid("%s spec.service.type: %q: want ClusterIP, NodePort or LoadBalancer", name, *s.Service.Type)
		}
	}
	for field, m := range map[string]map[string]string{"spec.podAnnotations": s.PodAnnotations, "spec.service.annotations": serviceAnnotations(s)} {
		for k := range m {
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				return invalid("%s %s: key %q: %s", name, field, k, strings.Join(errs, "; "))
			}
		}
	}
	for k := range s.PodAnnotations {
		if securityAnnotation(k) {
			return invalid("%s spec.podAnnotations: %q would change the Envoy Pods' confinement, which gatewarden sets", name, k)
		}
	}
	for k, v := range s.NodeSelector {
		if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(errs) > 0 {
			return invalid("%s spec.nodeSelector: %q: %s", name, k, strings.Join(errs, "; "))
		}
	}
	return nil
}

func serviceAnnotations(s *gwdv1a1.GatewayParametersSpec) map[string]string {
	if s.Service == nil {
		return nil
	}
	return s.Service.Annotations
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// securityAnnotation reports a Pod annotation that loosens a container's
// confinement (AppArmor and the seccomp annotations kubelets of older
// releases still read): never set from parameters or a Gateway's
// infrastructure annotations, whoever wrote them.
func securityAnnotation(k string) bool {
	for _, p := range []string{
		"container.apparmor.security.beta.kubernetes.io/",
		"apparmor.security.beta.kubernetes.io/",
		"seccomp.security.alpha.kubernetes.io/",
		"container.seccomp.security.alpha.kubernetes.io/",
	} {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// addressAnnotation reports a Service annotation by which a load balancer
// implementation assigns a chosen address (or shares one with another
// Service). A Gateway's writer asks for an address in spec.addresses,
// which gatewarden grants only when no other Service has or asks for it
// (addresses.go); these annotations would skip that check and let a
// tenant's Service take another's address. The GatewayClass's parameters,
// the platform's, may set them.
func addressAnnotation(k string) bool {
	switch k {
	case "metallb.universe.tf/loadBalancerIPs", "metallb.io/loadBalancerIPs",
		"metallb.universe.tf/allow-shared-ip", "metallb.io/allow-shared-ip",
		"kube-vip.io/loadbalancerIPs",
		"io.cilium/lb-ipam-ips", "lbipam.cilium.io/ips", "lbipam.cilium.io/sharing-key",
		"service.beta.kubernetes.io/azure-load-balancer-ipv4", "service.beta.kubernetes.io/azure-load-balancer-ipv6",
		"service.beta.kubernetes.io/azure-pip-name",
		"service.beta.kubernetes.io/aws-load-balancer-eip-allocations",
		"service.beta.kubernetes.io/aws-load-balancer-private-ipv4-addresses",
		"networking.gke.io/load-balancer-ip-addresses":
		return true
	}
	return false
}
