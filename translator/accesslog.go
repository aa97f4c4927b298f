package translator

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	filelogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	streamlogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	"google.golang.org/protobuf/types/known/structpb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// AnnotationAccessLog on a Gateway says where its Envoys write their access
// log: "stdout" (the default, also when absent), "off", or an absolute path
// of a file ending in ".log", which Envoy opens for appending. The suffix
// keeps a Gateway's author from making Envoy append to a file that is not a
// log (a shell profile, a key file) under Envoy's own permissions.
const AnnotationAccessLog = "gatewarden.io/access-log"

// Access log destinations of AnnotationAccessLog.
const (
	accessLogStdout = "stdout"
	accessLogOff    = "off"
)

// accessLogTarget reads AnnotationAccessLog of a Gateway: the destination
// ("stdout", "off" or a path) and, when the value cannot be used, a message
// naming it; the log then goes to stdout, so that a typo never silences it.
func accessLogTarget(gw *gwv1.Gateway) (string, string) {
	v, ok := gw.Annotations[AnnotationAccessLog]
	if !ok {
		return accessLogStdout, ""
	}
	switch v = strings.TrimSpace(v); v {
	case accessLogStdout, accessLogOff:
		return v, ""
	}
	if !filepath.IsAbs(v) || filepath.Clean(v) != v || !strings.HasSuffix(v, ".log") || strings.ContainsAny(v, "%\x00\n") {
		return accessLogStdout, fmt.Sprintf("metadata.annotations[%s]: %q is not \"stdout\", \"off\" or a clean absolute path ending in \".log\"; the access log goes to stdout", AnnotationAccessLog, v)
	}
	return v, ""
}

// safeMetadataKey is what a provider name or failed-status key must look like
// to appear in an access log format. The names come from tenants' options:
// one holding ":" would address another metadata path, one holding "%"
// another command operator (such as the Authorization header), so any
// other name is left out of the log rather than escaped.
var safeMetadataKey = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,128}$`)

// accessLogFields are the fields of every access log line, each an Envoy
// command operator. The path is the one the client sent (before a
// rewrite) without its query string, where tokens may be passed (jwt_authn
// reads access_token there by default); no field reads a header that can
// carry a token.
var accessLogFields = map[string]string{
	"start_time":            "%START_TIME%",
	"method":                "%REQ(:METHOD)%",
	"path":                  "%PATH(NQ:ORIG_OR_PATH)%",
	"authority":             "%REQ(:AUTHORITY)%",
	"protocol":              "%PROTOCOL%",
	"response_code":         "%RESPONSE_CODE%",
	"response_code_details": "%RESPONSE_CODE_DETAILS%",
	"response_flags":        "%RESPONSE_FLAGS%",
	"duration_ms":           "%DURATION%",
	"upstream_host":         "%UPSTREAM_HOST%",
	"upstream_cluster":      "%UPSTREAM_CLUSTER%",
	"route_name":            "%ROUTE_NAME%",
	"request_id":            "%REQ(X-REQUEST-ID)%",
	"downstream_address":    "%DOWNSTREAM_REMOTE_ADDRESS%",
	// The RBAC filter's results: enforced_engine_result and
	// enforced_effective_policy_id, and for a dry-run policy the same
	// under its own prefix (see dryRunPrefix).
	"rbac": "%DYNAMIC_METADATA(" + rbacFilter + ")%",
}

// statName makes a Gateway, listener or policy name usable inside an Envoy
// stat prefix: Envoy's Prometheus tags are cut at dots, so dots become "_".
func statName(s string) string { return strings.ReplaceAll(s, ".", "_") }

// hcmStatPrefix names the Gateway and its listener in the HTTP connection
// manager's stats (and so in the jwt_authn and rbac counters below it):
// "<namespace>_<name>_http-<port>". Names of Kubernetes objects hold no "_",
// so the parts can be told apart.
func hcmStatPrefix(gateway, listener string) string {
	return statName(strings.ReplaceAll(gateway, "/", "_") + "_" + listener)
}

// buildAccessLog is the access log of a listener of gateway ("ns/name"):
// one JSON object per request, or nil when the Gateway turned it off.
//
// Which provider verified a token shows as the key under "jwt": jwt_authn
// writes each provider's payload under the provider's name, so the format
// asks for sub and iss under each name the listener's providers use, and
// Envoy leaves out those absent (omit_empty_values). The failed status of
// providers with attachFailedStatusToMetadata shows under "jwt_failure".
func buildAccessLog(target, gateway, listener string, providers, failedKeys []string) []*accesslogv3.AccessLog {
	if target == accessLogOff {
		return nil
	}
	fields := map[string]any{"gateway": gateway, "listener": listener}
	for k, v := range accessLogFields {
		fields[k] = v
	}
	jwt := map[string]any{}
	for _, p := range providers {
		if !safeMetadataKey.MatchString(p) {
			continue
		}
		jwt[p] = map[string]any{
			"sub": "%DYNAMIC_METADATA(" + jwtAuthnFilter + ":" + p + ":sub)%",
			"iss": "%DYNAMIC_METADATA(" + jwtAuthnFilter + ":" + p + ":iss)%",
		}
	}
	if len(jwt) > 0 {
		fields["jwt"] = jwt
	}
	failed := map[string]any{}
	for _, k := range failedKeys {
		if safeMetadataKey.MatchString(k) {
			failed[k] = "%DYNAMIC_METADATA(" + jwtAuthnFilter + ":" + k + ")%"
		}
	}
	if len(failed) > 0 {
		fields["jwt_failure"] = failed
	}
	js, err := structpb.NewStruct(fields)
	if err != nil {
		panic(fmt.Sprintf("access log format: %v", err)) // strings and maps only: a bug
	}
	format := &corev3.SubstitutionFormatString{
		Format:          &corev3.SubstitutionFormatString_JsonFormat{JsonFormat: js},
		OmitEmptyValues: true,
	}
	if target == accessLogStdout {
		return []*accesslogv3.AccessLog{{
			Name:       "envoy.access_loggers.stdout",
			ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&streamlogv3.StdoutAccessLog{AccessLogFormat: &streamlogv3.StdoutAccessLog_LogFormat{LogFormat: format}})},
		}}
	}
	return []*accesslogv3.AccessLog{{
		Name: "envoy.access_loggers.file",
		ConfigType: &accesslogv3.AccessLog_TypedConfig{TypedConfig: mustAny(&filelogv3.FileAccessLog{
			Path: target, AccessLogFormat: &filelogv3.FileAccessLog_LogFormat{LogFormat: format},
		})},
	}}
}

// logKeys lists, sorted and once each, the payload keys and failed-status
// keys of the port's JWT providers, for its access log.
func (p *portBuild) logKeys() (payloads, failed []string) {
	for _, c := range p.jwtConfigs() {
		for _, s := range c.stages() {
			for _, prov := range s.providers {
				payloads = append(payloads, prov.proto.PayloadInMetadata)
				if k := prov.proto.FailedStatusInMetadata; k != "" {
					failed = append(failed, k)
				}
			}
		}
	}
	slices.Sort(payloads)
	slices.Sort(failed)
	return slices.Compact(payloads), slices.Compact(failed)
}

// conditionAccessLog is the Gateway condition that reports an
// AnnotationAccessLog value that cannot be used.
const conditionAccessLog = "gatewarden.io/AccessLog"

// accessLogFor is the access log destination of a Gateway; an unusable
// annotation is reported on the Gateway's status.
func (t *translation) accessLogFor(gs *gatewayState) string {
	target, msg := accessLogTarget(gs.obj)
	if msg != "" && gs.status != nil {
		setCondition(&gs.status.Conditions, conditionAccessLog, false, "Invalid", msg, gs.obj.Generation)
	}
	return target
}
