package explain

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
)

type verifier struct {
	li       *listener
	r        *request
	now      int64
	payloads map[string]any
	steps    *[]string
}

func (v *verifier) logf(format string, args ...any) {
	*v.steps = append(*v.steps, fmt.Sprintf(format, args...))
}

// requirement mirrors Envoy's verifiers. requires_any completes with the
// first OK; when every child failed it reports the last error that is
// neither "missing" nor "unknown issuer" (else "unknown issuer", else
// "missing"), and its allow_missing / allow_missing_or_failed members turn
// that into OK. requires_all completes with the first failure.
func (v *verifier) requirement(req *jwtauthnv3.JwtRequirement) status {
	switch rt := req.GetRequiresType().(type) {
	case *jwtauthnv3.JwtRequirement_ProviderName:
		return v.provider(rt.ProviderName, nil)
	case *jwtauthnv3.JwtRequirement_ProviderAndAudiences:
		return v.provider(rt.ProviderAndAudiences.ProviderName, rt.ProviderAndAudiences.Audiences)
	case *jwtauthnv3.JwtRequirement_RequiresAny:
		allowMissing, allowFailed := false, false
		var children []*jwtauthnv3.JwtRequirement
		for _, c := range rt.RequiresAny.Requirements {
			switch c.GetRequiresType().(type) {
			case *jwtauthnv3.JwtRequirement_AllowMissing:
				allowMissing = true
			case *jwtauthnv3.JwtRequirement_AllowMissingOrFailed:
				allowFailed = true
			default:
				children = append(children, c)
			}
		}
		if len(children) == 0 {
			return v.bypass(allowFailed)
		}
		final := statusMissing
		for _, c := range children {
			st := v.requirement(c)
			if st == statusOK {
				return statusOK
			}
			if (st != statusMissing && st != statusUnknownIssuer) || final == statusMissing {
				final = st
			}
		}
		switch {
		case allowFailed:
			v.logf("allowed: allow_missing_or_failed (would be %s)", final)
			return statusOK
		case allowMissing && final == statusMissing:
			v.logf("allowed: no token (allow_missing)")
			return statusOK
		}
		return final
	case *jwtauthnv3.JwtRequirement_RequiresAll:
		for _, c := range rt.RequiresAll.Requirements {
			if st := v.requirement(c); st != statusOK {
				return st
			}
		}
		return statusOK
	case *jwtauthnv3.JwtRequirement_AllowMissing:
		return v.bypass(false)
	case *jwtauthnv3.JwtRequirement_AllowMissingOrFailed:
		return v.bypass(true)
	}
	return statusOK
}

// provider verifies every token found in the provider's locations; all of
// them must be valid.
func (v *verifier) provider(name string, audiences []string) status {
	prov := v.li.providers[name]
	if prov == nil {
		v.logf("provider %s is not configured", name)
		return statusUnknownIssuer
	}
	if audiences == nil {
		audiences = prov.audiences
	}
	tokens := extract([]*provider{prov}, v.r)
	if len(tokens) == 0 {
		v.logf("provider %s: no token in %s", name, describeLocations(prov))
		return statusMissing
	}
	for i := len(tokens) - 1; i >= 0; i-- { // Envoy verifies the last found first
		t := tokens[i]
		p, st := verifyToken(t, prov, audiences, v.now)
		v.logf("provider %s: token in %s: %s", name, t.where, st)
		if st != statusOK {
			return st
		}
		if prov.payload != "" {
			v.payloads[prov.payload] = p.payload
		}
	}
	return statusOK
}

// bypass is a lone allow_missing (or allow_missing_or_failed) over every
// provider of the filter: each token is matched to a provider by its issuer.
func (v *verifier) bypass(allowFailed bool) status {
	var provs []*provider
	for _, n := range slices.Sorted(maps.Keys(v.li.providers)) {
		provs = append(provs, v.li.providers[n])
	}
	tokens := extract(provs, v.r)
	if len(tokens) == 0 {
		v.logf("no token: allowed (allow missing)")
		return statusOK
	}
	last := statusOK
	for i := len(tokens) - 1; i >= 0; i-- {
		t := tokens[i]
		var prov *provider
		if p, _ := parseJWT(t.value); p != nil {
			for _, cand := range provs {
				if cand.issuer == p.iss {
					prov = cand
					break
				}
			}
			for _, cand := range provs {
				if prov == nil && cand.issuer == "" {
					prov = cand
				}
			}
		}
		var aud []string
		if prov != nil {
			aud = prov.audiences
		}
		parsed, st := verifyToken(t, prov, aud, v.now)
		v.logf("token in %s: %s", t.where, st)
		if st == statusOK && prov.payload != "" {
			v.payloads[prov.payload] = parsed.payload
		}
		last = st
	}
	if allowFailed || last == statusMissing {
		return statusOK
	}
	return last
}

func describeLocations(p *provider) string {
	var out []string
	for _, l := range p.locations {
		if l.param != "" {
			out = append(out, "query parameter "+l.param)
		} else if l.prefix != "" {
			out = append(out, fmt.Sprintf("header %s (prefix %q)", l.header, l.prefix))
		} else {
			out = append(out, "header "+l.header)
		}
	}
	return strings.Join(out, ", ")
}
