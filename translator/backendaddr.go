package translator

import (
	"fmt"
	"net"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// Backends a route may not reach.
//
// A tenant names its backends with EndpointSlices, which the API server
// accepts with almost any address: "localhost" in an FQDN slice, or a
// selector-less Service's slice of its own. Envoy connects from its own
// network namespace, so such an endpoint reaches the proxy itself (its admin
// interface, anything else on its loopback), the cloud's metadata service
// (169.254.169.254) or, with 0.0.0.0, the loopback again. These are refused:
// the route's ResolvedRefs is False naming the address, and its rule answers
// 500. Loopback stays allowed where Options.AllowLoopbackBackends says so
// (directory mode, for local development; off in Kubernetes mode).
//
// A host name is refused when it is "localhost", ends in ".localhost" (RFC
// 6761: Envoy resolves them to the loopback) or has an all-numeric last label
// (no real top-level domain is numeric, but a resolver may read "127.1" as an
// address). A DNS name that resolves to a loopback address cannot be seen
// from here; Kubernetes' own ExternalName Services share that limit.

// addressClass says why an endpoint address is not an ordinary one: "" for
// an ordinary address, else "loopback", "link-local", "unspecified" or "a
// numeric host name".
func addressClass(addr string) string {
	if ip := net.ParseIP(addr); ip != nil {
		switch {
		case metadataAddrs[ip.String()]:
			return "a cloud metadata service"
		case ip.IsLoopback():
			return "loopback"
		case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
			return "link-local"
		case ip.IsUnspecified():
			return "unspecified"
		}
		return ""
	}
	h := strings.TrimSuffix(strings.ToLower(addr), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return "loopback"
	}
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return "a numeric host name" // read as an address by resolvers, which may be any
	}
	if metadataNames[h] {
		return "a cloud metadata service"
	}
	switch {
	case !strings.Contains(h, "."):
		return "a single label (a Service of the cluster through the search domains)"
	case strings.HasSuffix(h, ".svc") || strings.Contains(h, ".svc."):
		return "a Service of the cluster (name it in backendRefs, where another namespace needs a ReferenceGrant)"
	case strings.Contains(h, ".pod."):
		return "a Pod of the cluster by its address (the cluster's DNS answers a-b-c-d.<namespace>.pod.<domain> with a.b.c.d)"
	}
	return ""
}

// metadataNames and metadataAddrs are the clouds' instance metadata
// services that are neither link-local nor loopback by address or name.
var (
	metadataNames = map[string]bool{"metadata.google.internal": true, "metadata": true, "metadata.goog": true, "instance-data": true, "instance-data.ec2.internal": true}
	metadataAddrs = map[string]bool{"fd00:ec2::254": true, "100.100.100.200": true}
)

// forbiddenEndpoint returns why a Service's endpoints may not be reached
// through a route or a JWKS fetch ("" when they may): the first address of its
// EndpointSlices that is link-local or unspecified, or loopback unless
// loopback backends are allowed.
func (t *translation) forbiddenEndpoint(namespace, service string) string {
	for _, es := range t.index.slices[nn(namespace, service)] {
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 && es.AddressType != discoveryv1.AddressTypeFQDN {
			continue
		}
		for _, ep := range es.Endpoints {
			for _, a := range ep.Addresses {
				class := addressClass(a)
				if class == "" || (class == "loopback" && t.opts.AllowLoopbackBackends) {
					continue
				}
				hint := ""
				if class == "loopback" {
					hint = " (allowed only with --allow-loopback-backends, on by default in directory mode)"
				}
				return fmt.Sprintf("Service %s/%s: endpoint address %q (EndpointSlice %s) is %s, which routes and JWKS fetches may not reach%s", namespace, service, a, es.Name, class, hint)
			}
		}
	}
	return ""
}
