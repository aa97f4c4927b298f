package testenv

import (
	"fmt"
	"net"
)

// GatewayClassManifest is the GatewayClass "gatewarden" of gatewarden's
// default controller name, which the tests' Gateways name; the tests' own
// manifests follow it.
const GatewayClassManifest = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: gatewarden}
spec: {controllerName: gatewarden.io/gatewarden}
---
`

// JWTGatewayManifest follows GatewayClassManifest with the Gateway infra/gw,
// one HTTP listener for api.test on port %[1]d, and a VirtualHostOption on
// it requiring a JWT of issuer iss-1 verified with the JWKS %[2]s (both
// filled by fmt.Sprintf); a test's own options of that VirtualHostOption
// (rbac, say) may follow at once, indented under options.
const JWTGatewayManifest = GatewayClassManifest + `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: gatewarden
  listeners:
  - {name: http, protocol: HTTP, port: %[1]d, hostname: api.test}
` + jwtOptionHead + `%[2]s'}}}}}
`

// jwtOptionHead is the VirtualHostOption infra/jwt on the Gateway infra/gw
// requiring a JWT of issuer iss-1, up to its JWKS and the quote it is in.
const jwtOptionHead = `---
apiVersion: gateway.solo.io/v1
kind: VirtualHostOption
metadata: {name: jwt, namespace: infra}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: gw}]
  options:
    jwt: {providers: {p1: {issuer: iss-1, jwks: {local: {key: '`

// JWTOption is the VirtualHostOption infra/jwt of JWTGatewayManifest
// alone, with the JWKS jwks: for a manifest with a Gateway gw of its own.
// It starts with the document separator, to follow any manifest.
func JWTOption(jwks string) string { return jwtOptionHead + jwks + "'}}}}}\n" }

// FQDNBackend is Backend at the host NAME.localhost: loopback, though not
// an IP address a tenant could name.
func FQDNBackend(namespace, name, portName string, port, targetPort int) string {
	return Backend(namespace, name, portName, port, targetPort, name+".localhost")
}

// Backend is the Service namespace/name with one port (portName, port)
// and its EndpointSlice: address (an IPv4 address, else a host name) on
// targetPort. It starts with the document separator, to follow any
// manifest.
func Backend(namespace, name, portName string, port, targetPort int, address string) string {
	return backend(namespace, name, portName, "", port, targetPort, address)
}

// UDPBackend is Backend with a UDP port named udp.
func UDPBackend(namespace, name string, port, targetPort int, address string) string {
	return backend(namespace, name, "udp", ", protocol: UDP", port, targetPort, address)
}

func backend(namespace, name, portName, protocol string, port, targetPort int, address string) string {
	addressType := "FQDN"
	if ip := net.ParseIP(address); ip != nil && ip.To4() != nil {
		addressType = "IPv4"
	}
	return fmt.Sprintf(`---
apiVersion: v1
kind: Service
metadata: {name: %[2]s, namespace: %[1]s}
spec: {ports: [{name: %[3]s, port: %[4]d%[8]s}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %[2]s, namespace: %[1]s, labels: {kubernetes.io/service-name: %[2]s}}
addressType: %[6]s
ports: [{name: %[3]s, port: %[5]d%[8]s}]
endpoints: [{addresses: [%[7]s]}]
`, namespace, name, portName, port, targetPort, addressType, address, protocol)
}
