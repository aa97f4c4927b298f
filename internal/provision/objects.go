package provision

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gatewarden/gatewarden/internal/kubeca"
	"github.com/gatewarden/gatewarden/translator"
	"github.com/gatewarden/gatewarden/xds"
)

// DefaultImage is the Envoy release whose API gatewarden's xDS protos
// (github.com/envoyproxy/go-control-plane/envoy) match.
const DefaultImage = "envoyproxy/envoy:v1.40.0"

// Where things are inside the Envoy Pod. The paths and ports are part of
// the Deployment's shape: tools that run these Pods outside a kubelet rely
// on them.
const (
	// BootstrapPath is Envoy's bootstrap, from the ConfigMap (key envoy.yaml).
	BootstrapPath = "/etc/envoy/envoy.yaml"
	BootstrapKey  = "envoy.yaml"
	// XDSCredentialsDir holds the Gateway's xDS Secret (client certificate,
	// CA and the SDS files the bootstrap names).
	XDSCredentialsDir = "/etc/gatewarden/xds-tls"
	// AdminAddress is Envoy's admin interface: loopback of the Pod only.
	AdminAddress = "127.0.0.1:19000"
	// MetricsPort serves GET /stats/prometheus and nothing else.
	MetricsPort = 19001
	// ReadyPort serves GET /ready (Envoy's readiness) and nothing else.
	ReadyPort = 19002
	// EnvoyUID is the envoy user of the official image.
	EnvoyUID = 101
	// ContainerName is the Envoy container's name.
	ContainerName = "envoy"
)

// Config is what the objects depend on besides the Gateway and its
// parameters.
type Config struct {
	// XDSAddress is "host:port" of gatewarden's xDS Service, as the Pods
	// reach it.
	XDSAddress string
	// XDSServerName is the name checked in gatewarden's certificate
	// (default the XDSAddress host).
	XDSServerName string
	// Image is Envoy's image when the parameters name none.
	Image string
}

// desired are the objects of one Gateway. hpa and pdb are nil when the
// parameters ask for none.
type desired struct {
	name           string
	serviceAccount *corev1.ServiceAccount
	configMap      *corev1.ConfigMap
	deployment     *appsv1.Deployment
	service        *corev1.Service
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	pdb            *policyv1.PodDisruptionBudget
}

// build makes the objects of gw from its parameters: a pure function, so
// that what gatewarden applies is tested without an API server.
func build(gw *gwv1.Gateway, p resolved, c Config) (*desired, error) {
	class := string(gw.Spec.GatewayClassName)
	name := ResourceName(gw.Name, class)
	spec := p.spec
	sni := c.XDSServerName
	if sni == "" {
		host, _, err := net.SplitHostPort(c.XDSAddress)
		if err != nil {
			return nil, fmt.Errorf("xDS address %q: %w", c.XDSAddress, err)
		}
		sni = host
	}
	boot, err := xds.Bootstrap(xds.BootstrapOptions{
		Gateway:        gw.Namespace + "/" + gw.Name,
		XDSAddress:     c.XDSAddress,
		AdminAddress:   AdminAddress,
		MetricsAddress: "0.0.0.0:" + strconv.Itoa(MetricsPort),
		ReadyAddress:   "0.0.0.0:" + strconv.Itoa(ReadyPort),
		TLS:            xds.BootstrapTLS{Dir: XDSCredentialsDir, SNI: sni},
	})
	if err != nil {
		return nil, fmt.Errorf("bootstrap of Gateway %s/%s's Envoys: %w", gw.Namespace, gw.Name, err)
	}
	sum := sha256.Sum256(boot)

	selector := map[string]string{
		LabelGatewayName: labelValue(gw.Name),
		LabelManagedBy:   managedBy,
		LabelName:        "envoy",
	}
	labels := map[string]string{}
	var annotations map[string]string
	if inf := gw.Spec.Infrastructure; inf != nil {
		for k, v := range inf.Labels {
			labels[string(k)] = string(v)
		}
		if len(inf.Annotations) > 0 {
			annotations = map[string]string{}
			for k, v := range inf.Annotations {
				annotations[string(k)] = string(v)
			}
		}
	}
	// Gatewarden's own labels win over the Gateway's: they select the Pods
	// and mark what gatewarden owns.
	maps.Copy(labels, selector)
	labels[LabelGatewayClass] = labelValue(class)
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name: name, Namespace: gw.Namespace,
			Labels: maps.Clone(labels), Annotations: maps.Clone(annotations),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: gwv1.GroupVersion.String(), Kind: "Gateway", Name: gw.Name, UID: gw.UID,
				Controller: ptr.To(true),
			}},
		}
	}
	d := &desired{name: name}
	d.serviceAccount = &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: meta(),
		// The Envoys never talk to the API server.
		AutomountServiceAccountToken: ptr.To(false),
	}
	d.configMap = &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: meta(),
		Data:       map[string]string{BootstrapKey: string(boot)},
	}

	ports := listenerPorts(gw, p.listenerSets)
	svcType := corev1.ServiceTypeLoadBalancer
	if spec.Service != nil && spec.Service.Type != nil {
		svcType = *spec.Service.Type
	}
	d.service = &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(),
		Spec:       corev1.ServiceSpec{Type: svcType, Selector: selector},
	}
	if svcType == corev1.ServiceTypeLoadBalancer {
		d.service.Spec.LoadBalancerIP = p.loadBalancerIP
	}
	if spec.Service != nil && len(spec.Service.Annotations) > 0 {
		if d.service.Annotations == nil {
			d.service.Annotations = map[string]string{}
		}
		maps.Copy(d.service.Annotations, spec.Service.Annotations)
	}
	var containerPorts []corev1.ContainerPort
	for _, lp := range ports {
		d.service.Spec.Ports = append(d.service.Spec.Ports, corev1.ServicePort{
			Name: lp.name, Protocol: lp.protocol, Port: lp.port, TargetPort: intstr.FromInt32(lp.port),
		})
		containerPorts = append(containerPorts, corev1.ContainerPort{Name: lp.name, ContainerPort: lp.port, Protocol: lp.protocol})
	}
	containerPorts = append(containerPorts,
		corev1.ContainerPort{Name: "metrics", ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP},
		corev1.ContainerPort{Name: "ready", ContainerPort: ReadyPort, Protocol: corev1.ProtocolTCP})

	image := c.Image
	if spec.Image != "" {
		image = spec.Image
	}
	if image == "" {
		image = DefaultImage
	}
	logLevel := spec.LogLevel
	if logLevel == "" {
		logLevel = "warn"
	}
	podAnnotations := map[string]string{}
	maps.Copy(podAnnotations, annotations)
	maps.Copy(podAnnotations, spec.PodAnnotations)
	// A Gateway's infrastructure annotations are its writer's: none may
	// loosen the Pods' confinement (parameters that try are refused).
	maps.DeleteFunc(podAnnotations, func(k, _ string) bool { return securityAnnotation(k) })
	podAnnotations[annotationBootstrapHash] = hex.EncodeToString(sum[:8])
	podAnnotations["prometheus.io/scrape"] = "true"
	podAnnotations["prometheus.io/port"] = strconv.Itoa(MetricsPort)
	podAnnotations["prometheus.io/path"] = xds.MetricsPath

	var resources corev1.ResourceRequirements
	if spec.Resources != nil {
		resources = *spec.Resources
	}
	d.deployment = &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(),
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels), Annotations: podAnnotations},
				Spec: corev1.PodSpec{
					ServiceAccountName:           name,
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true),
						RunAsUser:    ptr.To(int64(EnvoyUID)),
						RunAsGroup:   ptr.To(int64(EnvoyUID)),
						FSGroup:      ptr.To(int64(EnvoyUID)),
						// Listeners on ports below 1024 (80, 443) without
						// NET_BIND_SERVICE: a namespaced sysctl, allowed by
						// the restricted Pod Security Standard.
						Sysctls:        []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:    ContainerName,
						Image:   image,
						Command: []string{"envoy"},
						Args: []string{
							"--config-path", BootstrapPath,
							// Each Pod is its own node in gatewarden's logs.
							"--service-node", "$(POD_NAME)",
							"--log-level", logLevel,
							"--disable-hot-restart",
							// Access log lines reach stdout within a second
							// (Envoy's default: 10).
							"--file-flush-interval-msec", "1000",
						},
						Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"},
						}}},
						Ports:     containerPorts,
						Resources: resources,
						ReadinessProbe: &corev1.Probe{
							ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
								Path: xds.ReadyPath, Port: intstr.FromString("ready"),
							}},
							PeriodSeconds: 5, FailureThreshold: 3, TimeoutSeconds: 2,
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							Privileged:               ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							RunAsNonRoot:             ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "bootstrap", MountPath: strings.TrimSuffix(BootstrapPath, "/"+BootstrapKey), ReadOnly: true},
							{Name: "xds-tls", MountPath: XDSCredentialsDir, ReadOnly: true},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "bootstrap", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: name},
						}}},
						// The Gateway's own client certificate, named from
						// its namespace and name: no parameter can point a
						// Pod at another Gateway's.
						{Name: "xds-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName: kubeca.SecretName(gw.Namespace, gw.Name), DefaultMode: ptr.To(int32(0o440)),
						}}},
					},
					NodeSelector: spec.NodeSelector,
					Tolerations:  spec.Tolerations,
					Affinity:     spec.Affinity,
				},
			},
		},
	}
	if spec.Autoscaling == nil {
		d.deployment.Spec.Replicas = ptr.To(int32(1))
		if spec.Replicas != nil {
			d.deployment.Spec.Replicas = ptr.To(*spec.Replicas)
		}
	} else {
		a := spec.Autoscaling
		target := int32(80)
		if a.TargetCPUUtilizationPercentage != nil {
			target = *a.TargetCPUUtilizationPercentage
		}
		minR := a.MinReplicas
		if minR == nil {
			minR = ptr.To(int32(1))
		}
		d.hpa = &autoscalingv2.HorizontalPodAutoscaler{
			TypeMeta:   metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
			ObjectMeta: meta(),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
				MinReplicas:    minR,
				MaxReplicas:    a.MaxReplicas,
				Metrics: []autoscalingv2.MetricSpec{{
					Type: autoscalingv2.ResourceMetricSourceType,
					Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{
						Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(target),
					}},
				}},
			},
		}
	}
	if b := spec.PodDisruptionBudget; b != nil {
		d.pdb = &policyv1.PodDisruptionBudget{
			TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
			ObjectMeta: meta(),
			Spec: policyv1.PodDisruptionBudgetSpec{
				Selector:       &metav1.LabelSelector{MatchLabels: selector},
				MinAvailable:   b.MinAvailable,
				MaxUnavailable: b.MaxUnavailable,
			},
		}
	}
	return d, nil
}

type listenerPort struct {
	name     string
	port     int32
	protocol corev1.Protocol
}

// listenerPorts are the distinct ports of the listeners of gw and of the
// ListenerSets it takes, sorted, each named after the protocol of its first
// listener ("http-8080"; the Gateway's own first, as the translator settles
// conflicts). A UDP listener's port is a UDP port ("udp-5300"), of its own
// beside a TCP port of the same number.
func listenerPorts(gw *gwv1.Gateway, sets []*gwv1.ListenerSet) []listenerPort {
	type key struct {
		port     int32
		protocol corev1.Protocol
	}
	seen := map[key]bool{}
	var out []listenerPort
	all := slices.Clone(gw.Spec.Listeners)
	for _, s := range sets {
		for _, e := range s.Spec.Listeners {
			all = append(all, gwv1.Listener(e))
		}
	}
	// The Gateway does not take the listeners past the bound: their ports
	// stay closed.
	all = all[:min(len(all), translator.MaxGatewayListeners)]
	for _, l := range all {
		p := int32(l.Port)
		k := key{p, corev1.ProtocolTCP}
		if l.Protocol == gwv1.UDPProtocolType {
			k.protocol = corev1.ProtocolUDP
		}
		if seen[k] || p < 1 || p > 65535 {
			continue
		}
		seen[k] = true
		// A Service port name is an IANA service name: a custom protocol
		// ("example.com/x") cannot be one.
		proto := strings.ToLower(string(l.Protocol))
		if !slices.Contains([]string{"http", "https", "tls", "tcp", "udp"}, proto) {
			proto = "port"
		}
		out = append(out, listenerPort{name: fmt.Sprintf("%s-%d", proto, p), port: p, protocol: k.protocol})
	}
	slices.SortFunc(out, func(a, b listenerPort) int {
		return cmp.Or(int(a.port-b.port), strings.Compare(string(a.protocol), string(b.protocol)))
	})
	return out
}
