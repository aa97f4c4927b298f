package translator

import (
	"slices"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// share makes the statuses of routes and options that are equal in content
// one value. Most objects of a configuration say the same ("Route is
// accepted" by the same parent), and a status is kept as long as the
// configuration is served: thousands of routes then hold a few statuses.
// Statuses are read-only once Translate returns.
func (s *Status) share() {
	s.HTTPRoutes = shareEqual(s.HTTPRoutes, appendRouteStatusKey, equalRouteStatus)
	s.VirtualHostOptions = shareEqual(s.VirtualHostOptions, appendPolicyStatusKey, equalPolicyStatus)
	s.RouteOptions = shareEqual(s.RouteOptions, appendPolicyStatusKey, equalPolicyStatus)
	if s.BackendTLSPolicies != nil {
		s.BackendTLSPolicies = shareEqual(s.BackendTLSPolicies, appendPolicyStatusKey, equalPolicyStatus)
	}
}

func shareEqual[V any](m map[types.NamespacedName]*V, key func([]byte, *V) []byte, equal func(a, b *V) bool) map[types.NamespacedName]*V {
	held := map[string]*V{}
	var b []byte
	// Most statuses are equal to the one before: comparing them is cheaper
	// than encoding and looking up their keys.
	var last *V
	for k, v := range m {
		if v == last {
			continue
		}
		if last != nil && equal(v, last) {
			m[k] = last
			continue
		}
		b = key(b[:0], v)
		h, ok := held[string(b)]
		if !ok {
			h = v
			held[string(b)] = v
		}
		m[k], last = h, h
	}
	return m
}

// The keys encode every field, strings length-prefixed, absent pointers
// apart from empty values, so that two statuses have the same key exactly
// when they are equal; the equal functions compare every field.
// TestStatusKeysCoverEveryField fails when a field is added to these types
// and not here.

func appendRouteStatusKey(b []byte, st *gwv1.HTTPRouteStatus) []byte {
	for _, p := range st.Parents {
		b = appendRefStatusKey(append(b, 'P'), p.ParentRef, p.ControllerName, p.Conditions)
	}
	return b
}

func appendPolicyStatusKey(b []byte, st *gwv1.PolicyStatus) []byte {
	for _, a := range st.Ancestors {
		b = appendRefStatusKey(append(b, 'A'), a.AncestorRef, a.ControllerName, a.Conditions)
	}
	return b
}

// appendRefStatusKey encodes the status of an object towards one parent
// (a route's) or ancestor (a policy's).
func appendRefStatusKey(b []byte, ref gwv1.ParentReference, controller gwv1.GatewayController, conds []metav1.Condition) []byte {
	b = appendParentRefKey(b, ref)
	b = appendKeyString(b, string(controller))
	return appendConditionsKey(b, conds)
}

func appendParentRefKey(b []byte, r gwv1.ParentReference) []byte {
	b = appendKeyOptString(b, r.Group)
	b = appendKeyOptString(b, r.Kind)
	b = appendKeyOptString(b, r.Namespace)
	b = appendKeyString(b, string(r.Name))
	b = appendKeyOptString(b, r.SectionName)
	if r.Port == nil {
		return append(b, '-')
	}
	b = strconv.AppendInt(append(b, '#'), int64(*r.Port), 10)
	return append(b, ';')
}

func appendConditionsKey(b []byte, conds []metav1.Condition) []byte {
	for _, c := range conds {
		b = append(b, 'C')
		b = appendKeyString(b, c.Type)
		b = appendKeyString(b, string(c.Status))
		b = appendKeyString(b, c.Reason)
		b = appendKeyString(b, c.Message)
		b = strconv.AppendInt(b, c.ObservedGeneration, 10)
		b = append(b, ';')
		if !c.LastTransitionTime.IsZero() {
			b = c.LastTransitionTime.UTC().AppendFormat(b, "2006-01-02T15:04:05.999999999")
		}
		b = append(b, ';')
	}
	return b
}

func appendKeyString(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func appendKeyOptString[T ~string](b []byte, p *T) []byte {
	if p == nil {
		return append(b, '-')
	}
	return appendKeyString(append(b, '+'), string(*p))
}

func equalRouteStatus(a, b *gwv1.HTTPRouteStatus) bool {
	return slices.EqualFunc(a.Parents, b.Parents, func(x, y gwv1.RouteParentStatus) bool {
		return equalRefStatus(x.ParentRef, y.ParentRef, x.ControllerName, y.ControllerName, x.Conditions, y.Conditions)
	})
}

func equalPolicyStatus(a, b *gwv1.PolicyStatus) bool {
	return slices.EqualFunc(a.Ancestors, b.Ancestors, func(x, y gwv1.PolicyAncestorStatus) bool {
		return equalRefStatus(x.AncestorRef, y.AncestorRef, x.ControllerName, y.ControllerName, x.Conditions, y.Conditions)
	})
}

func equalRefStatus(r1, r2 gwv1.ParentReference, c1, c2 gwv1.GatewayController, conds1, conds2 []metav1.Condition) bool {
	return c1 == c2 && equalPtr(r1.Group, r2.Group) && equalPtr(r1.Kind, r2.Kind) && equalPtr(r1.Namespace, r2.Namespace) &&
		r1.Name == r2.Name && equalPtr(r1.SectionName, r2.SectionName) && equalPtr(r1.Port, r2.Port) &&
		slices.EqualFunc(conds1, conds2, func(x, y metav1.Condition) bool {
			return x.Type == y.Type && x.Status == y.Status && x.Reason == y.Reason && x.Message == y.Message &&
				x.ObservedGeneration == y.ObservedGeneration && x.LastTransitionTime.Equal(&y.LastTransitionTime)
		})
}

func equalPtr[T comparable](a, b *T) bool {
	return a == b || (a != nil && b != nil && *a == *b)
}
