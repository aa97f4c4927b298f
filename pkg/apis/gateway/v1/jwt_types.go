package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// VhostJwt configures JWT verification for a virtual host (Gloo's
// VhostExtension). Its providers are OR-ed: a request passes with a valid
// token of any one of them.
type VhostJwt struct {
	// Providers by name. The name is also the key under which Envoy keeps the
	// verified payload, which jwtPrincipal.provider refers to.
	// +optional
	Providers map[string]JwtProvider `json:"providers,omitempty"`
	// AllowMissingOrFailedJwt lets requests through whose token is missing or
	// fails verification. Deprecated: use validationPolicy. When true it wins
	// over validationPolicy.
	// +optional
	AllowMissingOrFailedJwt bool `json:"allowMissingOrFailedJwt,omitempty"`
	// ValidationPolicy says what happens to requests without a valid token.
	// +optional
	ValidationPolicy ValidationPolicy `json:"validationPolicy,omitempty"`
}

// ValidationPolicy says what happens to requests without a valid token.
// +kubebuilder:validation:Enum=REQUIRE_VALID;ALLOW_MISSING;ALLOW_MISSING_OR_FAILED
type ValidationPolicy string

// The validation policies.
const (
	// ValidationRequireValid (the default): only requests with a valid token
	// pass; no token is 401 "Jwt is missing", a bad one 401.
	ValidationRequireValid ValidationPolicy = "REQUIRE_VALID"
	// ValidationAllowMissing: requests without a token pass (RBAC on claims
	// still applies and finds none); a token that is present must be valid.
	ValidationAllowMissing ValidationPolicy = "ALLOW_MISSING"
	// ValidationAllowMissingOrFailed: requests pass whether the token is
	// missing, valid or not; only a valid token's claims reach RBAC.
	ValidationAllowMissingOrFailed ValidationPolicy = "ALLOW_MISSING_OR_FAILED"
)

// JwtStagedVhostExtension places JWT configuration before or after external
// authorization. gatewarden has no external authorization step, so the two
// stages run one after the other: a request must satisfy both stages that
// are set, beforeExtAuth first.
type JwtStagedVhostExtension struct {
	// +optional
	BeforeExtAuth *VhostJwt `json:"beforeExtAuth,omitempty"`
	// +optional
	AfterExtAuth *VhostJwt `json:"afterExtAuth,omitempty"`
}

// RouteJwt is a route's JWT switch (Gloo's RouteExtension).
type RouteJwt struct {
	// Disable turns JWT verification off for the route.
	// +optional
	Disable bool `json:"disable,omitempty"`
}

// JwtStagedRouteExtension turns each stage off for a route.
type JwtStagedRouteExtension struct {
	// +optional
	BeforeExtAuth *RouteJwt `json:"beforeExtAuth,omitempty"`
	// +optional
	AfterExtAuth *RouteJwt `json:"afterExtAuth,omitempty"`
}

// JwtStagedRouteProvidersExtension defines providers at route level. A stage
// set here replaces the virtual host's configuration of that stage for the
// route.
type JwtStagedRouteProvidersExtension struct {
	// +optional
	BeforeExtAuth *VhostJwt `json:"beforeExtAuth,omitempty"`
	// +optional
	AfterExtAuth *VhostJwt `json:"afterExtAuth,omitempty"`
}

// JwtProvider verifies tokens of one issuer.
type JwtProvider struct {
	// Jwks holds, or says where to fetch, the keys that verify signatures.
	Jwks Jwks `json:"jwks"`
	// Audiences: when set, the token's aud claim must name one of them.
	// +optional
	Audiences []string `json:"audiences,omitempty"`
	// Issuer: when set, the token's iss claim must equal it.
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// TokenSource says where the token is. Default: the Authorization header
	// with the prefix "Bearer ", or the access_token query parameter.
	// +optional
	TokenSource *TokenSource `json:"tokenSource,omitempty"`
	// KeepToken forwards the token to the upstream. Default false: the header
	// (or query parameter) carrying it is removed.
	// +optional
	KeepToken bool `json:"keepToken,omitempty"`
	// ClaimsToHeaders copies verified claims into request headers.
	// +optional
	ClaimsToHeaders []ClaimToHeader `json:"claimsToHeaders,omitempty"`
	// ClockSkewSeconds is the leeway allowed when checking exp and nbf.
	// Default 60.
	// +optional
	ClockSkewSeconds *uint32 `json:"clockSkewSeconds,omitempty"`
	// AttachFailedStatusToMetadata, when set, is the dynamic metadata key
	// (of envoy.filters.http.jwt_authn) under which Envoy stores the code and
	// message of a failed verification, for access logs.
	// +optional
	AttachFailedStatusToMetadata string `json:"attachFailedStatusToMetadata,omitempty"`
}

// Jwks is where a provider's keys come from: exactly one of local and remote.
type Jwks struct {
	// Remote fetches the keys from a JWKS server.
	// +optional
	Remote *RemoteJwks `json:"remote,omitempty"`
	// Local keys, inline.
	// +optional
	Local *LocalJwks `json:"local,omitempty"`
}

// LocalJwks holds keys inline.
type LocalJwks struct {
	// Key is a JWKS ({"keys":[...]}), a single JWK, or PEM public keys or
	// certificates. gatewarden checks it: a key that cannot be parsed makes
	// the option invalid, and its routes fail closed.
	Key string `json:"key"`
}

// RemoteJwks fetches keys from a JWKS server reached through a Service.
//
// gatewarden's fetch defaults, for identity providers that rotate keys and
// sometimes go down: each fetch times out after 5s and is retried twice with
// backoff (0.5s to 5s); keys are fetched asynchronously, when the
// configuration arrives and again every cacheDuration; a failed refetch keeps
// the last keys and is tried again after min(cacheDuration, 10s).
type RemoteJwks struct {
	// URL of the JWKS (http or https); its host and path are sent to the
	// server. An https URL is fetched with TLS: SNI and the certificate's
	// name are the URL's host, checked against the system's trusted
	// authorities, unless a BackendTLSPolicy targets the Service (its CA,
	// hostname and subjectAltNames then apply).
	URL string `json:"url"`
	// UpstreamRef is the Service of the JWKS server (required: a URL's host
	// alone is not accepted). For a server outside the cluster, an
	// ExternalName Service naming its host, which Envoy resolves by DNS, on
	// the URL's port. For another Service, its port is the URL's port, or
	// 80 / 443 by scheme, and it needs a ready endpoint. A Service of
	// another namespace needs a ReferenceGrant there.
	UpstreamRef ResourceRef `json:"upstreamRef"`
	// CacheDuration is how often the keys are fetched again, and so how soon
	// a rotation is seen. Default 5m. Takes Go ("5m") or protobuf ("300s")
	// duration syntax.
	// +optional
	CacheDuration *metav1.Duration `json:"cacheDuration,omitempty"`
	// AsyncFetch: gatewarden always fetches asynchronously; this sets
	// whether a listener starts without waiting for the first fetch.
	// +optional
	AsyncFetch *JwksAsyncFetch `json:"asyncFetch,omitempty"`
}

// ResourceRef names an object in a namespace.
type ResourceRef struct {
	Name string `json:"name"`
	// Namespace defaults to the option's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// JwksAsyncFetch is Envoy's JwksAsyncFetch.
type JwksAsyncFetch struct {
	// FastListener activates the listener without waiting for the first
	// fetch. Default false: a new or updated listener waits for it (and
	// starts anyway if it fails), so that it does not refuse tokens first.
	// +optional
	FastListener bool `json:"fastListener,omitempty"`
}

// TokenSource lists where a token may be found.
type TokenSource struct {
	// +optional
	Headers []HeaderSource `json:"headers,omitempty"`
	// QueryParams are query parameter names carrying the token.
	// +optional
	QueryParams []string `json:"queryParams,omitempty"`
}

// HeaderSource is a header carrying a token after a prefix.
type HeaderSource struct {
	// Header name, for example "authorization".
	Header string `json:"header"`
	// Prefix before the token, for example "Bearer ".
	// +optional
	Prefix string `json:"prefix,omitempty"`
}

// ClaimToHeader copies a verified claim into a request header.
type ClaimToHeader struct {
	// Claim name; a nested claim is written with dots ("llms.mistralai").
	Claim string `json:"claim"`
	// Header to write.
	Header string `json:"header"`
	// Append keeps an existing value of the header and adds the claim's;
	// false replaces it.
	// +optional
	Append bool `json:"append,omitempty"`
}
