package testenv

// GatewayClassManifest is the GatewayClass "gatewarden" of gatewarden's
// default controller name, which the tests' Gateways name; the tests' own
// manifests follow it.
const GatewayClassManifest = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gatewarden}
spec: {controllerName: gatewarden.io/gatewarden}
---
`
