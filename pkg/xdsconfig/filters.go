package xdsconfig

// The Envoy names of the HTTP filters that carry gatewarden's policies: the
// translator names its filters and per-route configurations with them, and
// explain finds them in a served configuration by them. RBAC reads the
// verified JWT payloads that the JWT filter writes to dynamic metadata
// under JWTAuthnFilter.
const (
	JWTAuthnFilter = "envoy.filters.http.jwt_authn"
	RBACFilter     = "envoy.filters.http.rbac"
)
