package explain

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	rbaccfgv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// RBACDecision says which policies matched.
type RBACDecision struct {
	Disabled bool     `json:"disabled,omitempty"`
	Allowed  bool     `json:"allowed"`
	Matched  []string `json:"matched,omitempty"`
	Steps    []string `json:"steps"`
	// DryRun is what the rbac of a dry-run option (annotation
	// gatewarden.io/dry-run) would decide: Envoy evaluates it as shadow
	// rules and enforces nothing of it.
	DryRun *DryRunDecision `json:"dryRun,omitempty"`
}

// DryRunDecision is the outcome of a dry-run option's rules.
type DryRunDecision struct {
	// Option is "Kind/namespace/name".
	Option     string   `json:"option"`
	WouldAllow bool     `json:"wouldAllow"`
	Matched    []string `json:"matched,omitempty"`
}

// evalRBAC applies the route's RBACPerRoute. The verified JWT payloads are
// in metadata by payload key, as Envoy keeps them under jwt_authn's name.
func evalRBAC(cfg *anypb.Any, r *request, metadata map[string]any) *RBACDecision {
	rd := &RBACDecision{Allowed: true}
	pr, err := decodeRBAC(cfg)
	if err != nil {
		rd.Steps = append(rd.Steps, "unreadable per-route config: "+err.Error())
		return rd
	}
	if shadow := pr.GetRbac().GetShadowRules(); shadow != nil {
		// gatewarden names the option in the shadow rules' prefix,
		// "dry_run:Kind/namespace/name:".
		opt := strings.TrimSuffix(strings.TrimPrefix(pr.GetRbac().GetShadowRulesStatPrefix(), "dry_run:"), ":")
		allowed, matched, steps := evalRules(shadow, r, metadata)
		rd.DryRun = &DryRunDecision{Option: opt, WouldAllow: allowed, Matched: matched}
		for _, s := range steps {
			rd.Steps = append(rd.Steps, "dry run of "+opt+" (not enforced): "+s)
		}
	}
	rules := pr.GetRbac().GetRules()
	if rules == nil {
		rd.Disabled = true
		rd.Steps = append(rd.Steps, "no rules enforced on this route")
		return rd
	}
	var steps []string
	rd.Allowed, rd.Matched, steps = evalRules(rules, r, metadata)
	rd.Steps = append(rd.Steps, steps...)
	return rd
}

// evalRules applies one set of rules: whether they allow the request, the
// policies that match, and the steps of the evaluation.
func evalRules(rules *rbaccfgv3.RBAC, r *request, metadata map[string]any) (allowed bool, matched, steps []string) {
	for _, name := range slices.Sorted(maps.Keys(rules.Policies)) {
		p := rules.Policies[name]
		perm := anyPermission(p.Permissions, r)
		prin := anyPrincipal(p.Principals, metadata)
		steps = append(steps, fmt.Sprintf("policy %s: permissions %s, principals %s", name, yesNo(perm), yesNo(prin)))
		if perm && prin {
			matched = append(matched, name)
		}
	}
	switch rules.Action {
	case rbaccfgv3.RBAC_ALLOW:
		allowed = len(matched) > 0
	case rbaccfgv3.RBAC_DENY:
		allowed = len(matched) == 0
	}
	if allowed {
		steps = append(steps, "allowed")
	} else {
		steps = append(steps, "denied: no policy matches")
	}
	return allowed, matched, steps
}

func yesNo(b bool) string {
	if b {
		return "match"
	}
	return "do not match"
}

func anyPermission(ps []*rbaccfgv3.Permission, r *request) bool {
	return slices.ContainsFunc(ps, func(p *rbaccfgv3.Permission) bool { return permission(p, r) })
}

func permission(p *rbaccfgv3.Permission, r *request) bool {
	switch rule := p.Rule.(type) {
	case *rbaccfgv3.Permission_Any:
		return rule.Any
	case *rbaccfgv3.Permission_AndRules:
		return !slices.ContainsFunc(rule.AndRules.Rules, func(c *rbaccfgv3.Permission) bool { return !permission(c, r) })
	case *rbaccfgv3.Permission_OrRules:
		return anyPermission(rule.OrRules.Rules, r)
	case *rbaccfgv3.Permission_NotRule:
		return !permission(rule.NotRule, r)
	case *rbaccfgv3.Permission_Header:
		return headerMatches(rule.Header, r)
	case *rbaccfgv3.Permission_UrlPath:
		sm := rule.UrlPath.GetPath()
		return sm != nil && stringMatches(sm, r.path)
	}
	return false
}

func anyPrincipal(ps []*rbaccfgv3.Principal, md map[string]any) bool {
	return slices.ContainsFunc(ps, func(p *rbaccfgv3.Principal) bool { return principal(p, md) })
}

func principal(p *rbaccfgv3.Principal, md map[string]any) bool {
	switch id := p.Identifier.(type) {
	case *rbaccfgv3.Principal_Any:
		return id.Any
	case *rbaccfgv3.Principal_AndIds:
		return !slices.ContainsFunc(id.AndIds.Ids, func(c *rbaccfgv3.Principal) bool { return !principal(c, md) })
	case *rbaccfgv3.Principal_OrIds:
		return anyPrincipal(id.OrIds.Ids, md)
	case *rbaccfgv3.Principal_NotId:
		return !principal(id.NotId, md)
	case *rbaccfgv3.Principal_SourcedMetadata:
		return metadataMatches(id.SourcedMetadata.GetMetadataMatcher(), md)
	case *rbaccfgv3.Principal_Metadata:
		// Deprecated in Envoy, but a configuration read from a running
		// Envoy (explain --envoy-admin) may still carry it.
		return metadataMatches(id.Metadata, md) //nolint:staticcheck // SA1019: read, never written

	}
	return false
}

// metadataMatches walks the path into the jwt_authn metadata (payloads by
// key) and applies the value matcher; a missing value never matches.
func metadataMatches(m *matcherv3.MetadataMatcher, md map[string]any) bool {
	if m == nil || m.Filter != jwtFilter {
		return m != nil && m.Invert
	}
	var v any = md
	for _, seg := range m.Path {
		obj, ok := v.(map[string]any)
		if !ok {
			return m.Invert
		}
		if v, ok = obj[seg.GetKey()]; !ok {
			return m.Invert
		}
	}
	return valueMatches(m.Value, v) != m.Invert
}

// valueMatches follows Envoy's ValueMatcher on protobuf Value kinds: JSON
// numbers are doubles, a string matcher wants a string, a bool matcher a
// bool, a list matcher a list.
func valueMatches(vm *matcherv3.ValueMatcher, v any) bool {
	switch p := vm.MatchPattern.(type) {
	case *matcherv3.ValueMatcher_NullMatch_:
		return v == nil
	case *matcherv3.ValueMatcher_StringMatch:
		s, ok := v.(string)
		return ok && stringMatches(p.StringMatch, s)
	case *matcherv3.ValueMatcher_BoolMatch:
		b, ok := v.(bool)
		return ok && b == p.BoolMatch
	case *matcherv3.ValueMatcher_PresentMatch:
		return p.PresentMatch && v != nil
	case *matcherv3.ValueMatcher_DoubleMatch:
		f, ok := v.(float64)
		return ok && p.DoubleMatch.GetExact() == f
	case *matcherv3.ValueMatcher_ListMatch:
		l, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range l {
			if valueMatches(p.ListMatch.GetOneOf(), e) {
				return true
			}
		}
		return false
	case *matcherv3.ValueMatcher_OrMatch:
		for _, c := range p.OrMatch.ValueMatchers {
			if valueMatches(c, v) {
				return true
			}
		}
		return false
	}
	return false
}

// Summary is a one-line rendering of the decision.
func (d *Decision) Summary() string {
	if d.GRPCStatus != nil {
		return d.grpcSummary()
	}
	if d.Body != "" {
		return fmt.Sprintf("%d %s", d.Code, strings.TrimSpace(d.Body))
	}
	if d.Upstream != "" {
		return fmt.Sprintf("%d (forwarded to %s)", d.Code, d.Upstream)
	}
	return fmt.Sprintf("%d", d.Code)
}
