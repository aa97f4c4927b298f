package translator

import (
	"fmt"
	"slices"
	"strings"

	rbaccfgv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// checkedRBAC is an rbac extension checked once per distinct content: what
// can be known without the route (claim values under their matcher, claim
// paths, methods) is validated, and the pieces every route's RBAC is made of
// (value matchers, split claim paths, permissions) are built then, so that
// nothing is parsed twice. Routes differ only in their JWT providers, which
// buildRBAC adds. Its parts are shared by every route's configuration and
// never modified.
type checkedRBAC struct {
	// invalid says what is wrong (field, value, problem); the rest is
	// empty then.
	invalid  string
	policies []checkedPolicy // by name
}

type checkedPolicy struct {
	name       string
	principals []checkedPrincipal
	permission *rbaccfgv3.Permission
}

type checkedPrincipal struct {
	provider string
	claims   []checkedClaim // by claim name
}

// checkedClaim is one claim's matcher on the verified payload: path is the
// claim split by the policy's nestedClaimDelimiter, below the provider's
// payload key.
type checkedClaim struct {
	path  []string
	value *matcherv3.ValueMatcher
}

// Limits on one RBAC extension: beyond them a policy is almost surely a
// mistake or an attack, and would bloat every Envoy's configuration.
const (
	maxRBACItems  = 64 // policies, principals per policy, claims per principal
	maxClaimDepth = 16 // segments of a nested claim name
)

// checkRBAC checks spec, found at field, into its checked form.
func checkRBAC(field string, spec *optv1.RBACExtension) *checkedRBAC {
	if len(spec.Policies) > maxRBACItems {
		return &checkedRBAC{invalid: fmt.Sprintf("%s.policies: %d policies, at most %d are allowed", field, len(spec.Policies), maxRBACItems)}
	}
	out := &checkedRBAC{}
	for _, name := range sortedKeys(spec.Policies) {
		pol := spec.Policies[name]
		if len(pol.Principals) > maxRBACItems {
			return &checkedRBAC{invalid: fmt.Sprintf("%s.policies.%s.principals: %d principals, at most %d are allowed", field, name, len(pol.Principals), maxRBACItems)}
		}
		cp := checkedPolicy{name: name}
		for i, pr := range pol.Principals {
			f := fmt.Sprintf("%s.policies.%s.principals[%d].jwtPrincipal", field, name, i)
			c, msg := checkPrincipal(pr.JwtPrincipal, pol.NestedClaimDelimiter)
			if msg != "" {
				return &checkedRBAC{invalid: f + msg}
			}
			cp.principals = append(cp.principals, c)
		}
		if pol.Permissions != nil {
			for i, m := range pol.Permissions.Methods {
				if m == "" || strings.ToUpper(m) != m {
					return &checkedRBAC{invalid: fmt.Sprintf("%s.policies.%s.permissions.methods[%d]: %q is not an upper-case HTTP method", field, name, i, m)}
				}
			}
		}
		cp.permission = buildPermission(pol.Permissions)
		out.policies = append(out.policies, cp)
	}
	return out
}

// checkPrincipal checks one jwtPrincipal; a message starts with the field
// below it (".claims...").
func checkPrincipal(jp optv1.JWTPrincipal, delimiter string) (checkedPrincipal, string) {
	out := checkedPrincipal{provider: jp.Provider}
	if len(jp.Claims) > maxRBACItems {
		return out, fmt.Sprintf(".claims: %d claims, at most %d are allowed", len(jp.Claims), maxRBACItems)
	}
	claims := sortedKeys(jp.Claims)
	for _, claim := range claims {
		vm, msg := valueMatcher(jp.Matcher, jp.Claims[claim])
		if msg != "" {
			return out, fmt.Sprintf(".claims.%s: %s", claim, msg)
		}
		out.claims = append(out.claims, checkedClaim{path: []string{claim}, value: vm})
	}
	if delimiter == "" {
		return out, ""
	}
	for i, claim := range claims {
		segs := strings.Split(claim, delimiter)
		if slices.Contains(segs, "") {
			return out, fmt.Sprintf(".claims: claim %q has an empty segment when split at %q", claim, delimiter)
		}
		if len(segs) > maxClaimDepth {
			return out, fmt.Sprintf(".claims: claim %q is nested %d deep, at most %d is allowed", truncate(claim, 60), len(segs), maxClaimDepth)
		}
		out.claims[i].path = segs
	}
	return out, ""
}

// valueMatcher checks and translates one claim value under a matcher.
func valueMatcher(m optv1.ClaimMatcher, value string) (*matcherv3.ValueMatcher, string) {
	switch m {
	case "", optv1.ClaimMatcherExactString:
		return stringValue(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: value}}), ""
	case optv1.ClaimMatcherBoolean:
		var b bool
		switch strings.ToLower(value) {
		case "true":
			b = true
		case "false":
		default:
			return nil, fmt.Sprintf("value %q is not a boolean; BOOLEAN takes \"true\" or \"false\"", value)
		}
		return &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_BoolMatch{BoolMatch: b}}, ""
	case optv1.ClaimMatcherListContains:
		return &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_ListMatch{ListMatch: &matcherv3.ListMatcher{
			MatchPattern: &matcherv3.ListMatcher_OneOf{OneOf: stringValue(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: value}})},
		}}}, ""
	case optv1.ClaimMatcherRegexMatch:
		if err := checkRegex(value); err != nil {
			return nil, fmt.Sprintf("value %q is not a valid RE2 regular expression: %v", value, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		return stringValue(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: value}}}), ""
	default:
		return nil, fmt.Sprintf("matcher %q is not supported; supported: EXACT_STRING, BOOLEAN, LIST_CONTAINS, REGEX_MATCH", m)
	}
}

func stringValue(s *matcherv3.StringMatcher) *matcherv3.ValueMatcher {
	return &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: s}}
}
