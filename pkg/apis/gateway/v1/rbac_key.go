package v1

import (
	"maps"
	"slices"
	"strconv"
)

// ContentKey encodes every field of the extension, maps in key order,
// strings length-prefixed, so that two extensions have the same key exactly
// when they are equal: many options carry the same rules, which are then
// held and translated once. TestContentKeyCoversEveryField fails when a
// field is added to these types and not here.
func (spec *RBACExtension) ContentKey() string {
	b := make([]byte, 0, 256)
	str := func(s string) { b = strconv.AppendInt(b, int64(len(s)), 10); b = append(b, ':'); b = append(b, s...) }
	if spec.Disable {
		b = append(b, 'D')
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Policies)) {
		p := spec.Policies[name]
		b = append(b, 'P')
		str(name)
		str(p.NestedClaimDelimiter)
		for _, pr := range p.Principals {
			j := pr.JwtPrincipal
			b = append(b, 'J')
			str(j.Provider)
			str(string(j.Matcher))
			for _, c := range slices.Sorted(maps.Keys(j.Claims)) {
				str(c)
				str(j.Claims[c])
			}
		}
		if p.Permissions != nil {
			b = append(b, 'M')
			str(p.Permissions.PathPrefix)
			for _, m := range p.Permissions.Methods {
				str(m)
			}
		}
		b = append(b, ';')
	}
	return string(b)
}
