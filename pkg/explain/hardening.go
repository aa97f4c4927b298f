package explain

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	rbaccfgv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// pathHardeningFilter is the name gatewarden gives the RBAC filter that
// refuses ambiguous paths before anything else (a DENY policy on url_path
// regular expressions), whose 403 the connection manager's local reply
// mapper turns into a 400.
const pathHardeningFilter = "gatewarden.path_hardening"

// readPathHardening keeps the path expressions of the filter's DENY policies
// and the answer the local reply mapper gives them.
func (li *listener) readPathHardening(hf *hcmv3.HttpFilter) error {
	cfg := &rbacv3.RBAC{}
	if err := hf.GetTypedConfig().UnmarshalTo(cfg); err != nil {
		return fmt.Errorf("filter %s: %w", hf.Name, err)
	}
	if cfg.GetRules().GetAction() != rbaccfgv3.RBAC_DENY {
		return fmt.Errorf("filter %s: want a DENY policy", hf.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Rules.Policies)) {
		for _, p := range cfg.Rules.Policies[name].Permissions {
			if re := p.GetUrlPath().GetPath().GetSafeRegex().GetRegex(); re != "" {
				li.refused = append(li.refused, re)
				continue
			}
			if h := p.GetHeader(); h.GetName() == ":authority" && h.GetStringMatch().GetSafeRegex().GetRegex() != "" {
				li.refusedHost = append(li.refusedHost, h.GetStringMatch().GetSafeRegex().GetRegex())
				continue
			}
			return fmt.Errorf("filter %s: policy %s: only url_path and :authority regular expressions are understood", hf.Name, name)
		}
	}
	li.refusedCode, li.refusedBody = 403, "RBAC: access denied"
	for _, m := range li.hcm.GetLocalReplyConfig().GetMappers() {
		if m.GetStatusCode().GetValue() != 0 {
			li.refusedCode = int(m.StatusCode.Value)
			li.refusedBody = m.GetBody().GetInlineString()
		}
	}
	return nil
}

// refusedPath answers a Host or path the hardening filter denies: its expressions
// see the path as Envoy normalised it, which decodes only the unreserved
// characters ("%2e" is ".", "%252e" stays).
func (li *listener) refusedPath(host, path string) (int, string, bool) {
	for _, re := range li.refusedHost {
		if fullMatch(re, host) {
			return li.refusedCode, li.refusedBody, true
		}
	}
	if len(li.refused) == 0 {
		return 0, "", false
	}
	p := removeDotSegments(decodeUnreserved(path))
	if li.hcm.MergeSlashes {
		for strings.Contains(p, "//") {
			p = strings.ReplaceAll(p, "//", "/")
		}
	}
	for _, re := range li.refused {
		if fullMatch(re, p) {
			return li.refusedCode, li.refusedBody, true
		}
	}
	return 0, "", false
}

// decodeUnreserved decodes the percent-encoded unreserved characters of a
// path (RFC 3986 2.3: letters, digits, "-", ".", "_", "~"), as Envoy's path
// normalisation does, and leaves every other encoding as it is.
func decodeUnreserved(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '%' && i+2 < len(path) {
			if c, err := url.PathUnescape(path[i : i+3]); err == nil && len(c) == 1 && isUnreserved(c[0]) {
				b.WriteByte(c[0])
				i += 2
				continue
			}
		}
		b.WriteByte(path[i])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// stripTrailingHostDot removes the trailing dot of the host name of a Host
// header ("api.test." and "api.test.:8080"), as Envoy's
// strip_trailing_host_dot does.
func stripTrailingHostDot(host string) string {
	name, port, hasPort := strings.Cut(host, ":")
	name = strings.TrimSuffix(name, ".")
	if hasPort {
		return name + ":" + port
	}
	return name
}
