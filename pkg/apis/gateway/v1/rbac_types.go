package v1

// RBACExtension authorizes requests by the claims of their verified JWT.
type RBACExtension struct {
	// Disable turns RBAC off: on a route, even when its virtual host has
	// policies.
	// +optional
	Disable bool `json:"disable,omitempty"`
	// Policies by name; a request is allowed when any one policy matches.
	// +optional
	Policies map[string]RBACPolicy `json:"policies,omitempty"`
}

// RBACPolicy allows a request when any of its principals matches and, when
// set, its permissions match too.
type RBACPolicy struct {
	// Principals are OR-ed.
	// +optional
	Principals []RBACPrincipal `json:"principals,omitempty"`
	// Permissions restrict the requests the principals may make.
	// +optional
	Permissions *RBACPermissions `json:"permissions,omitempty"`
	// NestedClaimDelimiter, when set, splits claim names into a path into the
	// token's JSON payload: with ".", "llms.mistralai" is payload.llms.mistralai.
	// When empty, a claim name is one literal key, dots included.
	// +optional
	NestedClaimDelimiter string `json:"nestedClaimDelimiter,omitempty"`
}

// RBACPrincipal is who a policy allows.
type RBACPrincipal struct {
	// JwtPrincipal matches the claims of a verified JWT.
	JwtPrincipal JWTPrincipal `json:"jwtPrincipal"`
}

// ClaimMatcher is how a claim's value is compared with the policy's.
// +kubebuilder:validation:Enum=EXACT_STRING;BOOLEAN;LIST_CONTAINS;REGEX_MATCH
type ClaimMatcher string

// The claim matchers.
const (
	// ClaimMatcherExactString: the claim is a string equal to the value.
	ClaimMatcherExactString ClaimMatcher = "EXACT_STRING"
	// ClaimMatcherBoolean: the claim is a JSON boolean equal to the value
	// ("true" or "false"); the string "true" does not match.
	ClaimMatcherBoolean ClaimMatcher = "BOOLEAN"
	// ClaimMatcherListContains: the claim is a JSON array with an element
	// equal to the value.
	ClaimMatcherListContains ClaimMatcher = "LIST_CONTAINS"
	// ClaimMatcherRegexMatch: the claim is a string that the RE2 regular
	// expression matches in full ("de." matches "dev", not "devops").
	ClaimMatcherRegexMatch ClaimMatcher = "REGEX_MATCH"
)

// JWTPrincipal matches the claims of a verified JWT.
type JWTPrincipal struct {
	// Claims to match, by name; all of them must match (AND).
	// +optional
	Claims map[string]string `json:"claims,omitempty"`
	// Provider names the JWT provider whose token is matched. Empty matches
	// the token of any provider of the route.
	// +optional
	Provider string `json:"provider,omitempty"`
	// Matcher compares every claim of this principal. Default EXACT_STRING.
	// +optional
	Matcher ClaimMatcher `json:"matcher,omitempty"`
}

// RBACPermissions restrict what a principal may do.
type RBACPermissions struct {
	// PathPrefix the request path must start with.
	// +optional
	PathPrefix string `json:"pathPrefix,omitempty"`
	// Methods of which the request's must be one (GET, POST, ...).
	// +optional
	Methods []string `json:"methods,omitempty"`
}
