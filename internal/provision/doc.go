// Package provision is gatewarden's automated deployment (GEP-1762): for
// every Gateway of a GatewayClass gatewarden controls it creates, in the
// Gateway's namespace, and keeps in their desired state the ServiceAccount,
// the Envoy bootstrap (ConfigMap), the Envoy Deployment and the Service of
// the listeners (the Gateway's and those of the ListenerSets it takes),
// plus a HorizontalPodAutoscaler and a PodDisruptionBudget
// when the Gateway's parameters ask for them. Every object is named
// `<gateway>-<gatewayclass>`, labelled gateway.networking.k8s.io/gateway-name,
// owned by the Gateway and applied with server-side apply; the Envoy Pods
// mount the Gateway's xDS client certificate (the Secret pkg/kubeca writes
// next to the Gateway), so the proxies authenticate with no manual step.
//
// Parameters come from GatewayParameters (gatewarden.io/v1alpha1) named by
// the GatewayClass and, overriding it, by the Gateway. Parameters that
// cannot be used leave the objects as they were and mark the Gateway
// Accepted=False with reason InvalidParameters; Mark adds that, and
// Programmed=False while the Deployment has no available replica, to the
// statuses gatewarden writes.
package provision
