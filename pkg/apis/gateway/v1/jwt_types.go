package v1

// VhostJwt configures JWT verification for a virtual host. Its providers are
// OR-ed: a request passes with a valid token of any one of them.
type VhostJwt struct {
	// Providers by name. The name is used by jwtPrincipal.provider.
	// +optional
	Providers map[string]JwtProvider `json:"providers,omitempty"`
}

// JwtProvider verifies tokens of one issuer.
type JwtProvider struct {
	// Jwks holds the keys that verify token signatures.
	Jwks Jwks `json:"jwks"`
	// Audiences accepted in the token's aud claim. Empty accepts any audience.
	// +optional
	Audiences []string `json:"audiences,omitempty"`
	// Issuer that must be in the token's iss claim. Empty accepts any issuer.
	// +optional
	Issuer string `json:"issuer,omitempty"`
}

// Jwks is where a provider's keys come from.
type Jwks struct {
	// Local keys, inline.
	// +optional
	Local *LocalJwks `json:"local,omitempty"`
}

// LocalJwks holds keys inline.
type LocalJwks struct {
	// Key is a JWKS ({"keys":[...]}). gatewarden checks it: a key that cannot
	// be parsed makes the option invalid, and its routes fail closed.
	Key string `json:"key"`
}
