package translator

import (
	rbaccfgv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	"google.golang.org/protobuf/types/known/anypb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// AnnotationDryRun set to "true" on a VirtualHostOption or RouteOption
// installs its rbac as Envoy shadow rules: Envoy evaluates them, counts and
// logs what they would have decided, and denies nothing because of them.
// Whatever RBAC the routes have without the option stays enforced, and so
// does the option's jwt: a dry run tries an authorization policy, never a
// weaker authentication.
const AnnotationDryRun = "gatewarden.io/dry-run"

// isDryRun reports whether an option asks for a dry run.
func isDryRun(o metav1.Object) bool {
	return o != nil && o.GetAnnotations()[AnnotationDryRun] == "true"
}

// dryRunPrefix prefixes the RBAC filter's dynamic metadata keys of a dry-run
// option's shadow rules ("shadow_engine_result", "shadow_effective_policy_id"),
// so that the access log names the option that would have denied a
// request: "dry_run:RouteOption/ns/name:shadow_engine_result": "denied".
func dryRunPrefix(kind string, o metav1.Object) string {
	return "dry_run:" + kind + "/" + o.GetNamespace() + "/" + o.GetName() + ":"
}

// dryRunNote is added to the Accepted condition of a dry-run option, so that
// `translate`, `explain` and kubectl show that its rbac is not enforced.
const dryRunNote = " (dry run: its rbac is evaluated and logged, not enforced; its jwt is enforced)"

// rbacSel is the RBAC of one route or virtual host: the rules enforced and
// the shadow rules of a dry-run option, each with the field it comes from.
type rbacSel struct {
	enforced, shadow           *optv1.RBACExtension
	enforcedField, shadowField string
	shadowPrefix               string
	// enforcedRules and shadowRules are the checked forms of enforced and
	// shadow, which buildRBACSel builds from (translation.withRules).
	enforcedRules, shadowRules *checkedRBAC
}

// buildRBACSel translates a selection, its rules checked, under the JWT
// providers of the route.
func buildRBACSel(sel rbacSel, providers []*jwtProvider) (*rbacv3.RBACPerRoute, string) {
	var rules, shadow *rbaccfgv3.RBAC
	var msg string
	if sel.enforcedRules != nil {
		if rules, msg = buildRBAC(sel.enforcedField, sel.enforcedRules, providers); msg != "" {
			return nil, msg
		}
	}
	if sel.shadowRules != nil {
		if shadow, msg = buildRBAC(sel.shadowField, sel.shadowRules, providers); msg != "" {
			return nil, msg
		}
	}
	if shadow == nil {
		return rbacPerRoute(rules), ""
	}
	out := rbacPerRoute(rules)
	if out.Rbac == nil {
		out.Rbac = &rbacv3.RBAC{TrackPerRuleStats: true}
	}
	out.Rbac.ShadowRules = shadow
	out.Rbac.ShadowRulesStatPrefix = sel.shadowPrefix
	return out, ""
}

// vhostRBACSel is the RBAC a virtual host gets from the option that won its
// rbac field.
func vhostRBACSel(spec *optv1.RBACExtension, from *optv1.VirtualHostOption) rbacSel {
	const field = "spec.options.rbac"
	if isDryRun(from) {
		return rbacSel{shadow: spec, shadowField: field, shadowPrefix: dryRunPrefix(optv1.KindVirtualHostOption, from)}
	}
	return rbacSel{enforced: spec, enforcedField: field}
}

// routeRBAC is the RBAC per-route config of a route with option opt whose
// virtual host has vhRBAC (from vhFrom), or nil when the route keeps its
// virtual host's. A dry-run RouteOption leaves the virtual host's rules
// enforced and adds its own as shadow rules.
func (t *translation) routeRBAC(p *portBuild, opt *routePolicy, vhRBAC *optv1.RBACExtension, vhFrom *optv1.VirtualHostOption, routeJwt *jwtConfig) (*anypb.Any, string) {
	const vhField = "spec.options.rbac (of the VirtualHostOption)"
	own := opt.obj.Spec.Options.Rbac
	ownDry := own != nil && isDryRun(opt.obj)
	vhDry := vhRBAC != nil && isDryRun(vhFrom)
	var sel rbacSel
	switch {
	case own == nil || (ownDry && own.Disable):
		// The virtual host's, rebuilt when the route's providers differ.
		if vhRBAC == nil || !opt.setsJwt() {
			return nil, ""
		}
		sel = vhostRBACSel(vhRBAC, vhFrom)
		if sel.enforced != nil {
			sel.enforcedField = vhField
		} else {
			sel.shadowField = vhField
		}
	case own.Disable:
		if vhRBAC == nil {
			return nil, ""
		}
		return t.rbacOff(), ""
	case !ownDry:
		if !vhDry && t.sameRBAC(own, vhRBAC) && !opt.setsJwt() {
			return nil, ""
		}
		sel = rbacSel{enforced: own, enforcedField: "spec.options.rbac"}
	default:
		sel = rbacSel{shadow: own, shadowField: "spec.options.rbac", shadowPrefix: dryRunPrefix(optv1.KindRouteOption, opt.obj)}
		if vhRBAC != nil && !vhDry {
			sel.enforced, sel.enforcedField = vhRBAC, vhField
		}
	}
	built := t.rbacForSel(sel, routeJwt)
	if built.msg != "" {
		return nil, built.msg
	}
	p.usesRBAC = true
	return built.any, ""
}
