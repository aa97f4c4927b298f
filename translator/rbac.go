package translator

import (
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"

	rbaccfgv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// rbacFilter is the Envoy name of the RBAC filter.
const rbacFilter = xdsconfig.RBACFilter

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// buildRBAC translates checked rules, found at field, for a route whose JWT
// providers are providers. A principal naming a provider the route does not
// have is an error, since it could never match.
func buildRBAC(field string, rules *checkedRBAC, providers []*jwtProvider) (*rbaccfgv3.RBAC, string) {
	if rules.invalid != "" {
		return nil, rules.invalid
	}
	out := &rbaccfgv3.RBAC{Action: rbaccfgv3.RBAC_ALLOW, Policies: make(map[string]*rbaccfgv3.Policy, len(rules.policies))}
	for _, pol := range rules.policies {
		p := &rbaccfgv3.Policy{Permissions: []*rbaccfgv3.Permission{pol.permission}}
		for i, pr := range pol.principals {
			id, msg := buildPrincipal(pr, providers)
			if msg != "" {
				return nil, fmt.Sprintf("%s.policies.%s.principals[%d].jwtPrincipal.%s", field, pol.name, i, msg)
			}
			p.Principals = append(p.Principals, id)
		}
		if len(p.Principals) == 0 {
			// A policy without principals allows nobody, as in Envoy.
			p.Principals = []*rbaccfgv3.Principal{nobody()}
		}
		out.Policies[pol.name] = p
	}
	return out, ""
}

func nobody() *rbaccfgv3.Principal {
	return &rbaccfgv3.Principal{Identifier: &rbaccfgv3.Principal_NotId{NotId: &rbaccfgv3.Principal{Identifier: &rbaccfgv3.Principal_Any{Any: true}}}}
}

func buildPrincipal(jp checkedPrincipal, providers []*jwtProvider) (*rbaccfgv3.Principal, string) {
	var keys []string
	if jp.provider != "" {
		i := slices.IndexFunc(providers, func(p *jwtProvider) bool { return p.name == jp.provider })
		if i < 0 {
			var names []string
			for _, p := range providers {
				names = append(names, p.name)
			}
			return nil, fmt.Sprintf("provider: %q is not a JWT provider of the route (providers: %s)", jp.provider, strings.Join(names, ", "))
		}
		keys = []string{providers[i].name}
	} else {
		for _, p := range providers {
			keys = append(keys, p.name)
		}
	}
	if len(keys) == 0 {
		// No provider verifies tokens on this route: no claim can match.
		return nobody(), ""
	}
	var perProvider []*rbaccfgv3.Principal
	for _, key := range keys {
		var ids []*rbaccfgv3.Principal
		for _, c := range jp.claims {
			ids = append(ids, metadataPrincipal(key, c.path, c.value))
		}
		if len(ids) == 0 {
			// No claims: any verified token of the provider.
			ids = append(ids, metadataPrincipal(key, nil, &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_PresentMatch{PresentMatch: true}}))
		}
		perProvider = append(perProvider, andIDs(ids))
	}
	if len(perProvider) == 1 {
		return perProvider[0], ""
	}
	return &rbaccfgv3.Principal{Identifier: &rbaccfgv3.Principal_OrIds{OrIds: &rbaccfgv3.Principal_Set{Ids: perProvider}}}, ""
}

func andIDs(ids []*rbaccfgv3.Principal) *rbaccfgv3.Principal {
	if len(ids) == 1 {
		return ids[0]
	}
	return &rbaccfgv3.Principal{Identifier: &rbaccfgv3.Principal_AndIds{AndIds: &rbaccfgv3.Principal_Set{Ids: ids}}}
}

// metadataPrincipal matches value at path in the payload the JWT filter
// stored under payloadKey.
func metadataPrincipal(payloadKey string, path []string, vm *matcherv3.ValueMatcher) *rbaccfgv3.Principal {
	m := &matcherv3.MetadataMatcher{Filter: jwtAuthnFilter, Value: vm,
		Path: make([]*matcherv3.MetadataMatcher_PathSegment, 0, len(path)+1)}
	for _, seg := range append([]string{payloadKey}, path...) {
		m.Path = append(m.Path, &matcherv3.MetadataMatcher_PathSegment{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: seg}})
	}
	return &rbaccfgv3.Principal{Identifier: &rbaccfgv3.Principal_SourcedMetadata{SourcedMetadata: &rbaccfgv3.SourcedMetadata{MetadataMatcher: m}}}
}

func buildPermission(p *optv1.RBACPermissions) *rbaccfgv3.Permission {
	var rules []*rbaccfgv3.Permission
	if p != nil && p.PathPrefix != "" {
		rules = append(rules, &rbaccfgv3.Permission{Rule: &rbaccfgv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{
			Rule: &matcherv3.PathMatcher_Path{Path: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: p.PathPrefix}}},
		}}})
	}
	if p != nil && len(p.Methods) > 0 {
		var methods []*rbaccfgv3.Permission
		for _, m := range p.Methods {
			methods = append(methods, &rbaccfgv3.Permission{Rule: &rbaccfgv3.Permission_Header{Header: &routev3.HeaderMatcher{
				Name:                 ":method",
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m}}},
			}}})
		}
		if len(methods) == 1 {
			rules = append(rules, methods[0])
		} else {
			rules = append(rules, &rbaccfgv3.Permission{Rule: &rbaccfgv3.Permission_OrRules{OrRules: &rbaccfgv3.Permission_Set{Rules: methods}}})
		}
	}
	switch len(rules) {
	case 0:
		return &rbaccfgv3.Permission{Rule: &rbaccfgv3.Permission_Any{Any: true}}
	case 1:
		return rules[0]
	default:
		return &rbaccfgv3.Permission{Rule: &rbaccfgv3.Permission_AndRules{AndRules: &rbaccfgv3.Permission_Set{Rules: rules}}}
	}
}

// rbacPerRoute wraps rules for a route or virtual host; nil rules turn RBAC
// off there. Envoy counts each policy's decisions under its name
// (rbac.policy.NAME.allowed), the per-policy counters of the dashboards.
func rbacPerRoute(rules *rbaccfgv3.RBAC) *rbacv3.RBACPerRoute {
	if rules == nil {
		return &rbacv3.RBACPerRoute{}
	}
	return &rbacv3.RBACPerRoute{Rbac: &rbacv3.RBAC{Rules: rules, TrackPerRuleStats: true}}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkedRegexes remembers the outcome of checking each expression: a
// workload of thousands of routes typically repeats a few expressions.
var checkedRegexes sync.Map // string -> error (nil stored as errNone)

var errNone = fmt.Errorf("")

// maxRegexProgram is Envoy's default limit on the size of a compiled
// regular expression (runtime key re2.max_program_size.error_level): Envoy
// rejects the whole configuration that holds a larger one, so gatewarden
// refuses it first, where it can name the field.
const maxRegexProgram = 100

// checkRegex parses an expression with RE2 syntax, as Envoy's safe_regex
// (Google RE2) would, and bounds its compiled size.
func checkRegex(expr string) error {
	if v, ok := checkedRegexes.Load(expr); ok {
		if v.(error) == errNone {
			return nil
		}
		return v.(error)
	}
	err := parseRegex(expr)
	if err == nil {
		checkedRegexes.Store(expr, errNone)
	} else {
		checkedRegexes.Store(expr, err)
	}
	return err
}

func parseRegex(expr string) error {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return err
	}
	if n := re2ProgramSize(prog); n > maxRegexProgram {
		return fmt.Errorf("too complex: RE2 would compile it to about %d instructions, over Envoy's limit of %d", n, maxRegexProgram)
	}
	return nil
}

// re2ProgramSize estimates, from above, the size RE2 gives the program:
// RE2 adds two instructions of its own, and compiles a character class to
// one instruction per byte range where Go keeps one. Measured against
// Envoy 1.40: "x" repeated 96 times is 100 for both, 97 times is over.
func re2ProgramSize(p *syntax.Prog) int {
	n := 2
	for _, in := range p.Inst {
		if in.Op == syntax.InstRune && len(in.Rune) > 2 {
			n += len(in.Rune) / 2
			continue
		}
		n++
	}
	return n
}
