package translator

import (
	"strings"
	"testing"

	streamlogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	"google.golang.org/protobuf/encoding/protojson"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestAccessLogTarget(t *testing.T) {
	for value, want := range map[string]struct {
		target string
		bad    bool
	}{
		"":                            {accessLogStdout, true},
		"stdout":                      {accessLogStdout, false},
		"off":                         {accessLogOff, false},
		" off ":                       {accessLogOff, false},
		"/var/log/envoy/access.log":   {"/var/log/envoy/access.log", false},
		"relative.log":                {accessLogStdout, true},
		"/etc/profile":                {accessLogStdout, true},
		"/var/log/../../root/.bashrc": {accessLogStdout, true},
		"/var/log/../etc/x.log":       {accessLogStdout, true},
		"/var/log/%START_TIME%.log":   {accessLogStdout, true},
		"OFF":                         {accessLogStdout, true},
	} {
		gw := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationAccessLog: value}}}
		target, msg := accessLogTarget(gw)
		if target != want.target || (msg != "") != want.bad {
			t.Errorf("%q: target %q, message %q; want %q, a message: %v", value, target, msg, want.target, want.bad)
		}
		if want.bad && !strings.Contains(msg, AnnotationAccessLog) {
			t.Errorf("%q: the message %q does not name the annotation", value, msg)
		}
	}
	if target, msg := accessLogTarget(&gwv1.Gateway{}); target != accessLogStdout || msg != "" {
		t.Errorf("no annotation: %q, %q; want stdout and no message", target, msg)
	}
}

// TestAccessLogFormatHostileNames: provider names and failed-status keys
// come from tenants' options; none may add a command operator (such as
// the Authorization header) or another metadata path to the format.
func TestAccessLogFormatHostileNames(t *testing.T) {
	hostile := []string{"x%REQ(AUTHORIZATION)%", "a:b", "p)%%REQ(:PATH)%", "", strings.Repeat("a", 200), "sp ace"}
	logs := buildAccessLog(accessLogStdout, "ns/gw", "http-8080", append([]string{"good"}, hostile...), append([]string{"failed"}, hostile...))
	if len(logs) != 1 {
		t.Fatalf("%d access logs, want 1", len(logs))
	}
	cfg := &streamlogv3.StdoutAccessLog{}
	if err := logs[0].GetTypedConfig().UnmarshalTo(cfg); err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(js)
	for _, bad := range []string{"AUTHORIZATION", "a:b", ":PATH", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "sp ace"} {
		if strings.Contains(s, bad) {
			t.Errorf("the format holds %q: %s", bad, s)
		}
	}
	for _, good := range []string{"jwt_authn:good:sub", "jwt_authn:failed)"} {
		if !strings.Contains(s, good) {
			t.Errorf("the format lacks %q: %s", good, s)
		}
	}
	if buildAccessLog(accessLogOff, "ns/gw", "http-8080", nil, nil) != nil {
		t.Error("off: an access log is configured")
	}
}
