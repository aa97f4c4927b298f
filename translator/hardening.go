package translator

import (
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbaccfgv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Path hardening.
//
// Envoy normalises a path before routing and RBAC see it (RFC 3986 dot
// segments, merged slashes, percent-decoded unreserved characters), but some
// spellings survive that a second hop resolves differently: Tomcat, Jetty and
// Spring drop a ";..." path parameter before matching and resolving dot
// segments, so "/public/%2e%2e;/admin" (Envoy: "/public/..;/admin", under a
// "/public" permission) is "/admin" for them, and "/admin;x" misses an Exact
// "/admin" route (and its policy) in Envoy but is "/admin" behind it; a
// percent-encoded dot, slash or backslash left after normalisation (double
// encoding: "%252e") is decoded by the next hop into a separator. Such
// requests are refused with 400 before any route or policy sees them.
//
// A Host header given twice reaches Envoy as one value joined with a comma
// ("tenant.test,api.test"), which matches no listener's hostname but may
// match a tenant's wildcard; it is refused the same way.
//
// Envoy has no filter that answers 400 on a path, so a first RBAC filter
// denies them (its DENY policy "path-hardening", counted under
// "path_hardening." and named in %RESPONSE_CODE_DETAILS%), and the HTTP
// connection manager's local reply mapper turns that 403 into a 400. Encoded
// slashes and backslashes ("%2F", "%5C") are refused by Envoy itself
// (PathWithEscapedSlashesAction REJECT_REQUEST), also with 400.

// PathHardeningFilter names the HTTP filter that refuses ambiguous paths.
const PathHardeningFilter = "gatewarden.path_hardening"

// PathHardeningPolicy is the RBAC policy (and response code detail) of a
// refused path.
const PathHardeningPolicy = "path-hardening"

// refusedPath matches (RE2, whole path without query) a path parameter (";"
// or an encoded "%3B", anywhere: "/admin;x" misses an Exact "/admin" route
// and its policy, and the servlet containers behind drop ";x"), a
// percent-encoded dot, slash or backslash, however often its "%" is itself
// encoded, and a raw backslash: as Spring's StrictHttpFirewall refuses.
const refusedPath = `.*(;|%(25)*(3[bB]|2[eEfF]|5[cC])|\\).*`

// refusedAuthority matches a Host (":authority") that holds several values.
const refusedAuthority = `.*,.*`

const bodyPathRefused = "Bad Request: ambiguous request (a ';' path parameter, an encoded dot, slash or backslash in the path, or several Host headers)\n"

func regexHeader(name, re string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
		StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: re}}},
	}}
}

func refusedPathMatcher() *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: refusedPath}}}
}

// pathHardening is the RBAC filter that denies the refused paths, whatever
// the route.
func pathHardening() *rbacv3.RBAC {
	return &rbacv3.RBAC{
		RulesStatPrefix: "path_hardening.",
		Rules: &rbaccfgv3.RBAC{
			Action: rbaccfgv3.RBAC_DENY,
			Policies: map[string]*rbaccfgv3.Policy{PathHardeningPolicy: {
				Permissions: []*rbaccfgv3.Permission{
					{Rule: &rbaccfgv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{
						Rule: &matcherv3.PathMatcher_Path{Path: refusedPathMatcher()},
					}}},
					{Rule: &rbaccfgv3.Permission_Header{Header: regexHeader(":authority", refusedAuthority)}},
				},
				Principals: []*rbaccfgv3.Principal{{Identifier: &rbaccfgv3.Principal_Any{Any: true}}},
			}},
		},
	}
}

// pathRefusedReply turns the path hardening filter's 403 into a 400: a 403
// for a path the filter refuses (the same expression, on the same normalised
// path or Host) is always the filter's, since it runs first.
func pathRefusedReply() *hcmv3.LocalReplyConfig {
	return &hcmv3.LocalReplyConfig{Mappers: []*hcmv3.ResponseMapper{{
		Filter: &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_AndFilter{AndFilter: &accesslogv3.AndFilter{
			Filters: []*accesslogv3.AccessLogFilter{
				{FilterSpecifier: &accesslogv3.AccessLogFilter_StatusCodeFilter{StatusCodeFilter: &accesslogv3.StatusCodeFilter{
					Comparison: &accesslogv3.ComparisonFilter{
						Op:    accesslogv3.ComparisonFilter_EQ,
						Value: &corev3.RuntimeUInt32{DefaultValue: 403, RuntimeKey: "gatewarden.path_hardening.status"},
					},
				}}},
				{FilterSpecifier: &accesslogv3.AccessLogFilter_OrFilter{OrFilter: &accesslogv3.OrFilter{Filters: []*accesslogv3.AccessLogFilter{
					{FilterSpecifier: &accesslogv3.AccessLogFilter_HeaderFilter{HeaderFilter: &accesslogv3.HeaderFilter{Header: regexHeader(":path", refusedPathWithQuery)}}},
					{FilterSpecifier: &accesslogv3.AccessLogFilter_HeaderFilter{HeaderFilter: &accesslogv3.HeaderFilter{Header: regexHeader(":authority", refusedAuthority)}}},
				}}}},
			},
		}}},
		StatusCode: wrapperspb.UInt32(400),
		Body:       inlineString(bodyPathRefused),
	}}}
}

// refusedPathWithQuery is refusedPath on the ":path" header, which keeps the
// query string: only the part before "?" is looked at.
const refusedPathWithQuery = `[^?]*(;|%(25)*(3[bB]|2[eEfF]|5[cC])|\\)[^?]*(\?.*)?`
