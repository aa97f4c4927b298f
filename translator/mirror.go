package translator

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// mirror is one RequestMirror filter of a rule, its backend resolved: Envoy
// sends a copy of each matching request (or the given share of them) to the
// backend and drops its answer.
type mirror struct {
	field  string
	filter *gwv1.HTTPRequestMirrorFilter
	to     backend
	// perMillion is the share of requests mirrored, in millionths.
	perMillion uint32
}

// mirrorShare is the share of requests a RequestMirror filter copies, in
// millionths: percent, else fraction, else all of them.
func mirrorShare(field string, f *gwv1.HTTPRequestMirrorFilter) (uint32, string) {
	switch {
	case f.Percent != nil && f.Fraction != nil:
		return 0, field + ": percent and fraction cannot both be set"
	case f.Percent != nil:
		if *f.Percent < 0 || *f.Percent > 100 {
			return 0, fmt.Sprintf("%s.percent: %d is not between 0 and 100", field, *f.Percent)
		}
		return uint32(*f.Percent) * 10_000, ""
	case f.Fraction != nil:
		den := int64(100)
		if f.Fraction.Denominator != nil {
			den = int64(*f.Fraction.Denominator)
		}
		num := int64(f.Fraction.Numerator)
		if den < 1 || num < 0 || num > den {
			return 0, fmt.Sprintf("%s.fraction: %d/%d is not a fraction between 0 and 1", field, num, den)
		}
		return uint32(num * 1_000_000 / den), ""
	}
	return 1_000_000, ""
}

// resolveMirrors resolves the backends of rule i's RequestMirror filters,
// with the same checks as its backendRefs (kind, ReferenceGrant, endpoints
// allowed): a mirror that cannot be resolved makes the rule invalid rather
// than silently not mirroring.
func (t *translation) resolveMirrors(route *gwv1.HTTPRoute, st *ruleState) {
	for k := range st.filters.mirrors {
		m := &st.filters.mirrors[k]
		share, msg := mirrorShare(m.field+".requestMirror", m.filter)
		if msg != "" {
			st.setInvalid(msg, reasonUnsupportedValue)
			continue
		}
		m.perMillion = share
		b, err := t.resolveBackend(route, gwv1.BackendRef{BackendObjectReference: m.filter.BackendRef})
		if err != nil {
			st.setInvalid(fmt.Sprintf("%s.requestMirror.backendRef: %s", m.field, err.msg), err.reason)
			continue
		}
		m.to = b
	}
}

// applyMirrors adds a rule's mirrors to its route action and their
// clusters to the Gateway's backends.
func (f *ruleFilters) applyMirrors(ra *routev3.RouteAction, backends map[string]backend) {
	for _, m := range f.mirrors {
		p := &routev3.RouteAction_RequestMirrorPolicy{Cluster: m.to.clusterName()}
		if m.perMillion < 1_000_000 {
			p.RuntimeFraction = &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
				Numerator: m.perMillion, Denominator: typev3.FractionalPercent_MILLION,
			}}
		}
		ra.RequestMirrorPolicies = append(ra.RequestMirrorPolicies, p)
		backends[m.to.clusterName()] = m.to
	}
}
