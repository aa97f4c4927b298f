package explain

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"github.com/go-jose/go-jose/v4"
	"google.golang.org/protobuf/types/known/anypb"
)

// status is a verification outcome, named after Envoy's.
type status int

const (
	statusOK status = iota
	statusMissing
	statusBadFormat
	statusHeaderBad
	statusAlgBad
	statusPayloadBad
	statusSignatureBad
	statusExpired
	statusNotYetValid
	statusUnknownIssuer
	statusAudience
	statusKidAlgMismatch
	statusVerification
	statusNoKeys
	statusRemoteJWKS
)

var statusText = map[status]string{
	statusOK:             "OK",
	statusMissing:        "Jwt is missing",
	statusBadFormat:      "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
	statusHeaderBad:      "Jwt header is an invalid JSON",
	statusAlgBad:         "Jwt header [alg] is not supported",
	statusPayloadBad:     "Jwt payload is an invalid JSON",
	statusSignatureBad:   "Jwt signature is an invalid Base64url encoded",
	statusExpired:        "Jwt is expired",
	statusNotYetValid:    "Jwt not yet valid",
	statusUnknownIssuer:  "Jwt issuer is not configured",
	statusAudience:       "Audiences in Jwt are not allowed",
	statusKidAlgMismatch: "Jwks doesn't have key to match kid or alg from Jwt",
	statusVerification:   "Jwt verification fails",
	statusNoKeys:         "Jwks doesn't have any valid public key",
	statusRemoteJWKS:     "Jwks remote fetch is failed",
}

func (s status) String() string { return statusText[s] }

// response is Envoy's answer to a failed verification: 403 for a token
// whose audience is not allowed, 401 otherwise.
func (s status) response() (int, string) {
	if s == statusAudience {
		return 403, s.String()
	}
	return 401, s.String()
}

// MarshalText renders a status by its message.
func (s status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// JWTDecision says how the request's tokens fared.
type JWTDecision struct {
	Disabled    bool     `json:"disabled,omitempty"`
	Requirement string   `json:"requirement,omitempty"`
	Status      status   `json:"status"`
	Steps       []string `json:"steps"`
}

// location is where a provider takes tokens from.
type location struct {
	header, prefix, param string
}

// provider is one JwtProvider, ready to verify.
type provider struct {
	name      string
	issuer    string
	audiences []string
	keys      []jose.JSONWebKey
	remote    *jwtauthnv3.RemoteJwks
	locations []location
	skew      int64
	payload   string
}

func newProvider(name string, p *jwtauthnv3.JwtProvider) (*provider, error) {
	pr := &provider{name: name, issuer: p.Issuer, audiences: p.Audiences, payload: p.PayloadInMetadata, skew: int64(p.ClockSkewSeconds)}
	if pr.skew == 0 {
		pr.skew = 60
	}
	switch {
	case p.GetLocalJwks() != nil:
		var set jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(p.GetLocalJwks().GetInlineString()), &set); err != nil {
			return nil, fmt.Errorf("inline JWKS: %w", err)
		}
		pr.keys = set.Keys
	case p.GetRemoteJwks() != nil:
		pr.remote = p.GetRemoteJwks()
	}
	for _, h := range p.FromHeaders {
		pr.locations = append(pr.locations, location{header: strings.ToLower(h.Name), prefix: h.ValuePrefix})
	}
	for _, q := range p.FromParams {
		pr.locations = append(pr.locations, location{param: q})
	}
	if len(p.FromHeaders) == 0 && len(p.FromParams) == 0 && len(p.FromCookies) == 0 {
		pr.locations = []location{{header: "authorization", prefix: "Bearer "}, {param: "access_token"}}
	}
	return pr, nil
}

// token is an extracted token and the issuers its location admits.
type token struct {
	value   string
	where   string
	issuers []string // "" admits every issuer
}

// extract finds the tokens of providers in the request, in Envoy's order:
// header locations sorted by header name and prefix, then query parameters
// sorted by name.
func extract(providers []*provider, r *request) []token {
	type spec struct {
		loc     location
		issuers []string
	}
	headers, params := map[string]*spec{}, map[string]*spec{}
	for _, p := range providers {
		for _, l := range p.locations {
			m, key := headers, l.header+l.prefix
			if l.param != "" {
				m, key = params, l.param
			}
			if m[key] == nil {
				m[key] = &spec{loc: l}
			}
			m[key].issuers = append(m[key].issuers, p.issuer)
		}
	}
	var out []token
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		s := headers[k]
		for _, v := range r.header.Values(s.loc.header) {
			if s.loc.prefix != "" {
				i := strings.Index(v, s.loc.prefix)
				if i < 0 {
					continue
				}
				rest := v[i+len(s.loc.prefix):]
				if j := strings.IndexFunc(rest, isBase64URLOrDot); j >= 0 {
					rest = rest[j:]
				} else {
					rest = v
				}
				v = rest
			}
			out = append(out, token{value: v, where: "header " + s.loc.header, issuers: s.issuers})
		}
	}
	if len(params) > 0 {
		q, _ := url.ParseQuery(r.query)
		for _, k := range slices.Sorted(maps.Keys(params)) {
			if vals, ok := q[k]; ok {
				out = append(out, token{value: vals[0], where: "query parameter " + k, issuers: params[k].issuers})
			}
		}
	}
	return out
}

func isBase64URLOrDot(c rune) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

func (t token) issuerAllowed(iss string) bool {
	return slices.Contains(t.issuers, "") || slices.Contains(t.issuers, iss)
}

// parsed is a decoded JWT.
type parsed struct {
	alg, kid  string
	iss       string
	audiences []string
	exp, nbf  int64
	payload   map[string]any
	raw       string
}

// jsonSegment decodes a token's header or payload: base64url (padded or
// not) of a JSON object.
func jsonSegment(seg string) (map[string]any, bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return nil, false
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m) == nil
}

func parseJWT(s string) (*parsed, status) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, statusBadFormat
	}
	header, ok := jsonSegment(parts[0])
	if !ok {
		return nil, statusHeaderBad
	}
	alg, ok := header["alg"].(string)
	if !ok || !supportedAlg(alg) {
		return nil, statusAlgBad
	}
	payload, ok := jsonSegment(parts[1])
	if !ok {
		return nil, statusPayloadBad
	}
	if _, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[2], "=")); err != nil {
		return nil, statusSignatureBad
	}
	p := &parsed{alg: alg, payload: payload, raw: s}
	p.kid, _ = header["kid"].(string)
	p.iss, _ = payload["iss"].(string)
	switch a := payload["aud"].(type) {
	case string:
		p.audiences = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				p.audiences = append(p.audiences, s)
			}
		}
	}
	if v, ok := payload["exp"].(float64); ok {
		p.exp = int64(v)
	}
	if v, ok := payload["nbf"].(float64); ok {
		p.nbf = int64(v)
	}
	return p, statusOK
}

func supportedAlg(alg string) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "EdDSA":
		return true
	}
	return false
}

// verifySignature selects keys as Envoy's jwt_verify_lib does: a key whose
// kid differs from the token's (both set) is skipped, so is one whose alg
// differs or whose type cannot sign with the token's alg.
func verifySignature(p *parsed, keys []jose.JSONWebKey) status {
	tried := false
	for _, k := range keys {
		if p.kid != "" && k.KeyID != "" && k.KeyID != p.kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != p.alg {
			continue
		}
		if !keyFitsAlg(k.Key, p.alg) {
			continue
		}
		tried = true
		sig, err := jose.ParseSignedCompact(p.raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(p.alg)})
		if err != nil {
			continue
		}
		if _, err := sig.Verify(k.Key); err == nil {
			return statusOK
		}
	}
	if !tried {
		return statusKidAlgMismatch
	}
	return statusVerification
}

func keyFitsAlg(key any, alg string) bool {
	switch key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ES")
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case []byte:
		return strings.HasPrefix(alg, "HS")
	}
	return false
}

// verifyToken checks one token for a provider as Envoy's authenticator does:
// format, issuer, time, audience, then signature.
func verifyToken(t token, prov *provider, audiences []string, now int64) (*parsed, status) {
	p, st := parseJWT(t.value)
	if st != statusOK {
		return nil, st
	}
	if !t.issuerAllowed(p.iss) {
		return nil, statusUnknownIssuer
	}
	if prov == nil {
		return nil, statusUnknownIssuer
	}
	if p.exp != 0 && now > p.exp+prov.skew {
		return nil, statusExpired
	}
	if p.nbf != 0 && now+prov.skew < p.nbf {
		return nil, statusNotYetValid
	}
	if len(audiences) > 0 && !slices.ContainsFunc(p.audiences, func(a string) bool { return slices.Contains(audiences, a) }) {
		return nil, statusAudience
	}
	if prov.remote != nil && prov.keys == nil {
		return nil, statusRemoteJWKS
	}
	if len(prov.keys) == 0 {
		return nil, statusNoKeys
	}
	return p, verifySignature(p, prov.keys)
}

// evalJWT applies the route's requirement.
func (e *Explainer) evalJWT(li *listener, cfg *anypb.Any, r *request, metadata map[string]any) *JWTDecision {
	jd := &JWTDecision{}
	if cfg == nil {
		jd.Disabled = true
		jd.Steps = append(jd.Steps, "no requirement on this route")
		return jd
	}
	prc := &jwtauthnv3.PerRouteConfig{}
	if err := cfg.UnmarshalTo(prc); err != nil {
		jd.Steps = append(jd.Steps, "unreadable per-route config: "+err.Error())
		return jd
	}
	if prc.GetDisabled() {
		jd.Disabled = true
		jd.Steps = append(jd.Steps, "disabled on this route")
		return jd
	}
	jd.Requirement = prc.GetRequirementName()
	req := li.jwt.RequirementMap[jd.Requirement]
	v := &verifier{li: li, r: r, now: r.now.Unix(), payloads: map[string]any{}, steps: &jd.Steps}
	jd.Status = v.requirement(req)
	if jd.Status == statusOK {
		for k, p := range v.payloads {
			metadata[k] = p
		}
	}
	jd.Steps = append(jd.Steps, "result: "+jd.Status.String())
	return jd
}
