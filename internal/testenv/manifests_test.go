package testenv

import (
	"strings"
	"testing"
)

// TestBackendAddressType: an IPv4 address makes an IPv4 EndpointSlice,
// anything else an FQDN one.
func TestBackendAddressType(t *testing.T) {
	for addr, want := range map[string]string{"127.0.0.1": "addressType: IPv4", "169.254.169.254": "addressType: IPv4", "api.localhost": "addressType: FQDN", "::1": "addressType: FQDN"} {
		m := Backend("ns", "api", "http", 80, 8080, addr)
		if !strings.Contains(m, want) || !strings.Contains(m, "addresses: ["+addr+"]") || !strings.Contains(m, "port: 8080") {
			t.Errorf("Backend(..., %q):\n%s\nwant %s", addr, m, want)
		}
	}
}

// TestUDPBackend: the Service's and the EndpointSlice's ports are UDP.
func TestUDPBackend(t *testing.T) {
	m := UDPBackend("ns", "dns", 53, 5353, "127.0.0.1")
	for _, want := range []string{"{ports: [{name: udp, port: 53, protocol: UDP}]}", "ports: [{name: udp, port: 5353, protocol: UDP}]", "addressType: IPv4"} {
		if !strings.Contains(m, want) {
			t.Errorf("UDPBackend:\n%s\nwant %s", m, want)
		}
	}
	if strings.Contains(Backend("ns", "api", "http", 80, 8080, "127.0.0.1"), "protocol") {
		t.Error("Backend names a protocol")
	}
}
