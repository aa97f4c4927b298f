package translator

import (
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
	s.HTTPRoutes = shareEqual(s.HTTPRoutes, appendRouteStatusKey)
	s.VirtualHostOptions = shareEqual(s.VirtualHostOptions, appendPolicyStatusKey)
	s.RouteOptions = shareEqual(s.RouteOptions, appendPolicyStatusKey)
}

func shareEqual[V any](m map[types.NamespacedName]*V, key func([]byte, *V) []byte) map[types.NamespacedName]*V {
	held := map[string]*V{}
	var b []byte
	for k, v := range m {
		b = key(b[:0], v)
		if h, ok := held[string(b)]; ok {
			m[k] = h
			continue
		}
		held[string(b)] = v
	}
	return m
}

// The keys encode every field, strings length-prefixed, absent pointers
// apart from empty values, so that two statuses have the same key exactly
// when they are equal. TestStatusKeysCoverEveryField fails when a field is
// added to these types and not here.

func appendRouteStatusKey(b []byte, st *gwv1.HTTPRouteStatus) []byte {
	for _, p := range st.Parents {
		b = append(b, 'P')
		b = appendParentRefKey(b, p.ParentRef)
		b = appendKeyString(b, string(p.ControllerName))
		b = appendConditionsKey(b, p.Conditions)
	}
	return b
}

func appendPolicyStatusKey(b []byte, st *gwv1.PolicyStatus) []byte {
	for _, a := range st.Ancestors {
		b = append(b, 'A')
		b = appendParentRefKey(b, a.AncestorRef)
		b = appendKeyString(b, string(a.ControllerName))
		b = appendConditionsKey(b, a.Conditions)
	}
	return b
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
