package translator

import (
	"fmt"
	"slices"

	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"

	optv1 "github.com/gatewarden/gatewarden/pkg/apis/gateway/v1"
)

// jwtAuthnFilter is the Envoy name of the JWT filter. RBAC reads the verified
// payloads it writes to dynamic metadata under this name.
const jwtAuthnFilter = "envoy.filters.http.jwt_authn"

// jwtPolicy is the JWT configuration of one VirtualHostOption.
type jwtPolicy struct {
	// requirement is the key of the option's JwtRequirement in the filter's
	// requirement_map, named by the per-route config of its virtual hosts.
	requirement string
	providers   []*jwtProvider // sorted by name
}

// jwtProvider is one provider of an option.
type jwtProvider struct {
	// name is the provider's name in the option, which jwtPrincipal.provider
	// refers to and under which Envoy stores the verified payload.
	name string
	// envoyName is unique among every provider of a listener.
	envoyName string
	proto     *jwtauthnv3.JwtProvider
}

// buildJwtPolicy translates the jwt of a VirtualHostOption. The second result
// is a message naming the field, value and problem when it cannot.
func buildJwtPolicy(o *optv1.VirtualHostOption) (*jwtPolicy, string) {
	owner := o.Namespace + "/" + o.Name
	p := &jwtPolicy{requirement: owner}
	names := make([]string, 0, len(o.Spec.Options.Jwt.Providers))
	for name := range o.Spec.Options.Jwt.Providers {
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, "spec.options.jwt.providers: at least one provider is required"
	}
	for _, name := range names {
		spec := o.Spec.Options.Jwt.Providers[name]
		field := fmt.Sprintf("spec.options.jwt.providers.%s", name)
		prov, err := buildProvider(spec)
		if err != "" {
			return nil, field + "." + err
		}
		prov.PayloadInMetadata = name
		p.providers = append(p.providers, &jwtProvider{name: name, envoyName: owner + "/" + name, proto: prov})
	}
	return p, ""
}

func buildProvider(spec optv1.JwtProvider) (*jwtauthnv3.JwtProvider, string) {
	prov := &jwtauthnv3.JwtProvider{
		Issuer:    spec.Issuer,
		Audiences: spec.Audiences,
	}
	switch {
	case spec.Jwks.Local != nil:
		jwks, err := normalizeJWKS(spec.Jwks.Local.Key)
		if err != nil {
			return nil, fmt.Sprintf("jwks.local.key: invalid key: %v", err)
		}
		prov.JwksSourceSpecifier = &jwtauthnv3.JwtProvider_LocalJwks{LocalJwks: inlineString(jwks)}
	default:
		return nil, "jwks: local is required"
	}
	return prov, ""
}

// requirement is the JwtRequirement of a policy: any one of its providers.
func (p *jwtPolicy) requirementProto() *jwtauthnv3.JwtRequirement {
	if len(p.providers) == 1 {
		return &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_ProviderName{ProviderName: p.providers[0].envoyName}}
	}
	any := &jwtauthnv3.JwtRequirementOrList{}
	for _, prov := range p.providers {
		any.Requirements = append(any.Requirements, &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_ProviderName{ProviderName: prov.envoyName}})
	}
	return &jwtauthnv3.JwtRequirement{RequiresType: &jwtauthnv3.JwtRequirement_RequiresAny{RequiresAny: any}}
}

// buildJwtFilter is the listener-level jwt_authn config holding every
// provider and requirement its virtual hosts name; nil when there is none.
func buildJwtFilter(policies []*jwtPolicy) *jwtauthnv3.JwtAuthentication {
	if len(policies) == 0 {
		return nil
	}
	cfg := &jwtauthnv3.JwtAuthentication{
		Providers:      map[string]*jwtauthnv3.JwtProvider{},
		RequirementMap: map[string]*jwtauthnv3.JwtRequirement{},
	}
	for _, p := range policies {
		cfg.RequirementMap[p.requirement] = p.requirementProto()
		for _, prov := range p.providers {
			cfg.Providers[prov.envoyName] = prov.proto
		}
	}
	return cfg
}

// jwtPerRoute selects the requirement of a policy for a virtual host or route.
func jwtPerRoute(p *jwtPolicy) *jwtauthnv3.PerRouteConfig {
	return &jwtauthnv3.PerRouteConfig{RequirementSpecifier: &jwtauthnv3.PerRouteConfig_RequirementName{RequirementName: p.requirement}}
}
