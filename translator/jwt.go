package translator

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"google.golang.org/protobuf/types/known/emptypb"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
	"github.com/gatewarden/gatewarden/pkg/xdsconfig"
)

// jwtAuthnFilter is the Envoy name of the JWT filter. RBAC reads the verified
// payloads it writes to dynamic metadata under this name.
const jwtAuthnFilter = xdsconfig.JWTAuthnFilter

// jwtStage is one translated VhostJwt: the providers of one stage of one
// option, and what to do without a valid token.
type jwtStage struct {
	// key names the stage uniquely among every option: "<kind>/<ns>/<name>/<field>".
	key       string
	providers []*jwtProvider // sorted by name
	policy    optv1.ValidationPolicy
	// jwksClusters are the clusters remote JWKS are fetched through.
	jwksClusters []backend
}

// jwtProvider is one provider of a stage.
type jwtProvider struct {
	// name is the provider's name in the option, which jwtPrincipal.provider
	// refers to and under which Envoy stores the verified payload.
	name string
	// envoyName is unique among every provider of a listener.
	envoyName string
	proto     *jwtauthnv3.JwtProvider
}

// jwtConfig is the JWT verification of a virtual host or route: a request
// must satisfy each stage that is set, before first.
type jwtConfig struct {
	before, after *jwtStage
}

func (c *jwtConfig) empty() bool { return c == nil || (c.before == nil && c.after == nil) }

// stages lists the stages that are set, in order.
func (c *jwtConfig) stages() []*jwtStage {
	var out []*jwtStage
	if c == nil {
		return nil
	}
	for _, s := range []*jwtStage{c.before, c.after} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// providers lists the providers of every stage, for RBAC: the payload keys
// a jwtPrincipal may read. A name given in both stages appears once.
func (c *jwtConfig) providers() []*jwtProvider {
	switch {
	case c == nil:
		return nil
	case c.after == nil && c.before != nil:
		return c.before.providers // one stage: its providers are distinct
	case c.before == nil && c.after != nil:
		return c.after.providers
	}
	var out []*jwtProvider
	for _, s := range c.stages() {
		for _, p := range s.providers {
			if !slices.ContainsFunc(out, func(q *jwtProvider) bool { return q.name == p.name }) {
				out = append(out, p)
			}
		}
	}
	return out
}

// requirementName names the config's requirement in the filter's
// requirement_map.
func (c *jwtConfig) requirementName() string {
	var keys []string
	for _, s := range c.stages() {
		keys = append(keys, s.key)
	}
	return strings.Join(keys, " + ")
}

// requirement is what a request must satisfy: every stage (AND).
func (c *jwtConfig) requirement() *jwtauthnv3.JwtRequirement {
	st := c.stages()
	if len(st) == 1 {
		return st[0].requirement()
	}
	all := &jwtauthnv3.JwtRequirementAndList{}
	for _, s := range st {
		all.Requirements = append(all.Requirements, s.requirement())
	}
	return &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_RequiresAll{RequiresAll: all}}
}

// requirement of one stage: any one of its providers (OR), and, by the
// validation policy, a missing or failed token let through.
func (s *jwtStage) requirement() *jwtauthnv3.JwtRequirement {
	var reqs []*jwtauthnv3.JwtRequirement
	for _, p := range s.providers {
		reqs = append(reqs, &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_ProviderName{ProviderName: p.envoyName}})
	}
	switch s.policy {
	case optv1.ValidationAllowMissing:
		reqs = append(reqs, &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_AllowMissing{AllowMissing: &emptypb.Empty{}}})
	case optv1.ValidationAllowMissingOrFailed:
		reqs = append(reqs, &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_AllowMissingOrFailed{AllowMissingOrFailed: &emptypb.Empty{}}})
	}
	if len(reqs) == 1 {
		return reqs[0]
	}
	return &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_RequiresAny{RequiresAny: &jwtauthnv3.JwtRequirementOrList{Requirements: reqs}}}
}

// buildJwtStage translates one VhostJwt found at field of an option. The
// error names the field, value and problem when it cannot (a
// *refNotPermittedError for a reference no ReferenceGrant allows).
func (t *translation) buildJwtStage(kind, namespace, name, field string, spec *optv1.VhostJwt) (*jwtStage, error) {
	short := map[string]string{optv1.KindVirtualHostOption: "vho", optv1.KindRouteOption: "rto"}[kind]
	stageField := strings.TrimPrefix(field, "spec.options.")
	st := &jwtStage{key: fmt.Sprintf("%s/%s/%s/%s", short, namespace, name, stageField), policy: spec.ValidationPolicy}
	if spec.AllowMissingOrFailedJwt {
		st.policy = optv1.ValidationAllowMissingOrFailed
	}
	switch st.policy {
	case "", optv1.ValidationRequireValid, optv1.ValidationAllowMissing, optv1.ValidationAllowMissingOrFailed:
	default:
		return nil, fmt.Errorf("%s.validationPolicy: %q is not one of REQUIRE_VALID, ALLOW_MISSING, ALLOW_MISSING_OR_FAILED", field, spec.ValidationPolicy)
	}
	if len(spec.Providers) == 0 {
		return nil, errors.New(field + ".providers: at least one provider is required")
	}
	for _, pname := range sortedKeys(spec.Providers) {
		pfield := fmt.Sprintf("%s.providers.%s", field, pname)
		prov, jwks, err := t.buildProvider(kind, namespace, pfield, spec.Providers[pname])
		if err != nil {
			return nil, err
		}
		prov.PayloadInMetadata = pname
		st.providers = append(st.providers, &jwtProvider{name: pname, envoyName: st.key + "/" + pname, proto: prov})
		if jwks != nil {
			st.jwksClusters = append(st.jwksClusters, *jwks)
		}
	}
	return st, nil
}

func (t *translation) buildProvider(kind, namespace, field string, spec optv1.JwtProvider) (*jwtauthnv3.JwtProvider, *backend, error) {
	prov := &jwtauthnv3.JwtProvider{
		Issuer:                 spec.Issuer,
		Audiences:              spec.Audiences,
		Forward:                spec.KeepToken,
		FailedStatusInMetadata: spec.AttachFailedStatusToMetadata,
		ClockSkewSeconds:       60,
		// Envoy keeps verified tokens so that a token seen again is not
		// verified again: most requests of a client reuse its token.
		JwtCacheConfig: &jwtauthnv3.JwtCacheConfig{JwtCacheSize: 1000},
	}
	if spec.ClockSkewSeconds != nil {
		prov.ClockSkewSeconds = *spec.ClockSkewSeconds
	}
	var jwksCluster *backend
	switch {
	case spec.Jwks.Local != nil && spec.Jwks.Remote != nil:
		return nil, nil, errors.New(field + ".jwks: set one of local and remote, not both")
	case spec.Jwks.Local != nil:
		jwks, err := normalizeJWKS(spec.Jwks.Local.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("%s.jwks.local.key: invalid key: %v", field, err)
		}
		prov.JwksSourceSpecifier = &jwtauthnv3.JwtProvider_LocalJwks{LocalJwks: inlineString(jwks)}
	case spec.Jwks.Remote != nil:
		remote, b, err := t.buildRemoteJwks(kind, namespace, field+".jwks.remote", spec.Jwks.Remote)
		if err != nil {
			return nil, nil, err
		}
		prov.JwksSourceSpecifier = &jwtauthnv3.JwtProvider_RemoteJwks{RemoteJwks: remote}
		// Envoy's cache of verified tokens outlives a key rotation: a token
		// of a key the provider removed (a compromised key, say) would still
		// pass until it falls out of the cache. Remote keys change without a
		// new listener, so their tokens are verified on every request.
		prov.JwtCacheConfig = nil
		jwksCluster = b
	default:
		return nil, nil, errors.New(field + ".jwks: one of local and remote is required")
	}
	if ts := spec.TokenSource; ts != nil {
		for i, h := range ts.Headers {
			if h.Header == "" {
				return nil, nil, fmt.Errorf("%s.tokenSource.headers[%d].header: a header name is required", field, i)
			}
			prov.FromHeaders = append(prov.FromHeaders, &jwtauthnv3.JwtHeader{Name: h.Header, ValuePrefix: h.Prefix})
		}
		for i, q := range ts.QueryParams {
			if q == "" {
				return nil, nil, fmt.Errorf("%s.tokenSource.queryParams[%d]: a parameter name is required", field, i)
			}
		}
		prov.FromParams = ts.QueryParams
	}
	for i, c := range spec.ClaimsToHeaders {
		if c.Claim == "" || c.Header == "" {
			return nil, nil, fmt.Errorf("%s.claimsToHeaders[%d]: claim and header are required", field, i)
		}
		// Envoy removes a client-sent header of this name before it writes
		// the claim, so a client cannot forge it; append has nothing to add to.
		prov.ClaimToHeaders = append(prov.ClaimToHeaders, &jwtauthnv3.JwtClaimToHeader{HeaderName: c.Header, ClaimName: c.Claim})
	}
	return prov, jwksCluster, nil
}

// buildJwtFilter is the listener-level jwt_authn config holding every
// provider and requirement its virtual hosts and routes name; nil when there
// is none.
func buildJwtFilter(configs []*jwtConfig) *jwtauthnv3.JwtAuthentication {
	if len(configs) == 0 {
		return nil
	}
	cfg := &jwtauthnv3.JwtAuthentication{
		Providers:      map[string]*jwtauthnv3.JwtProvider{},
		RequirementMap: map[string]*jwtauthnv3.JwtRequirement{},
	}
	for _, c := range configs {
		cfg.RequirementMap[c.requirementName()] = c.requirement()
		for _, s := range c.stages() {
			for _, prov := range s.providers {
				cfg.Providers[prov.envoyName] = prov.proto
			}
		}
	}
	return cfg
}

// jwtPerRoute selects the requirement of a config for a virtual host or
// route; an empty config turns JWT verification off there.
func jwtPerRoute(c *jwtConfig) *jwtauthnv3.PerRouteConfig {
	if c.empty() {
		return &jwtauthnv3.PerRouteConfig{RequirementSpecifier: &jwtauthnv3.PerRouteConfig_Disabled{Disabled: true}}
	}
	return &jwtauthnv3.PerRouteConfig{RequirementSpecifier: &jwtauthnv3.PerRouteConfig_RequirementName{RequirementName: c.requirementName()}}
}
