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
