package translator

import (
	"strings"
	"testing"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// TestMirrorShare checks the share of requests a mirror copies, in
// millionths, and the refused fractions.
func TestMirrorShare(t *testing.T) {
	tests := map[string]struct {
		f    gwv1.HTTPRequestMirrorFilter
		want uint32
		msg  string
	}{
		"all":           {gwv1.HTTPRequestMirrorFilter{}, 1_000_000, ""},
		"percent":       {gwv1.HTTPRequestMirrorFilter{Percent: ptr(int32(20))}, 200_000, ""},
		"none":          {gwv1.HTTPRequestMirrorFilter{Percent: ptr(int32(0))}, 0, ""},
		"fraction":      {gwv1.HTTPRequestMirrorFilter{Fraction: &gwv1.Fraction{Numerator: 1, Denominator: ptr(int32(3))}}, 333_333, ""},
		"fraction /100": {gwv1.HTTPRequestMirrorFilter{Fraction: &gwv1.Fraction{Numerator: 50}}, 500_000, ""},
		"both":          {gwv1.HTTPRequestMirrorFilter{Percent: ptr(int32(1)), Fraction: &gwv1.Fraction{Numerator: 1}}, 0, "cannot both"},
		"over 1":        {gwv1.HTTPRequestMirrorFilter{Fraction: &gwv1.Fraction{Numerator: 5, Denominator: ptr(int32(4))}}, 0, "fraction"},
		"percent > 100": {gwv1.HTTPRequestMirrorFilter{Percent: ptr(int32(101))}, 0, "percent"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, msg := mirrorShare("f", &tc.f)
			if got != tc.want || (tc.msg == "") != (msg == "") || !strings.Contains(msg, tc.msg) {
				t.Errorf("mirrorShare = %d, %q; want %d, %q", got, msg, tc.want, tc.msg)
			}
		})
	}
}

// TestSetRetry checks the refused retry stanzas.
func TestSetRetry(t *testing.T) {
	d := func(s string) *gwv1.Duration { v := gwv1.Duration(s); return &v }
	tests := map[string]struct {
		r   gwv1.HTTPRouteRetry
		msg string
	}{
		"valid":        {gwv1.HTTPRouteRetry{Codes: []gwv1.HTTPRouteRetryStatusCode{500, 503}, Attempts: ptr(3), Backoff: d("100ms")}, ""},
		"code":         {gwv1.HTTPRouteRetry{Codes: []gwv1.HTTPRouteRetryStatusCode{302}}, "codes[0]"},
		"attempts":     {gwv1.HTTPRouteRetry{Attempts: ptr(0)}, "attempts"},
		"backoff":      {gwv1.HTTPRouteRetry{Backoff: d("soon")}, "backoff"},
		"zero backoff": {gwv1.HTTPRouteRetry{Backoff: d("0s")}, "backoff"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var f ruleFilters
			msg := f.setRetry(2, &tc.r)
			if (tc.msg == "") != (msg == "") || !strings.Contains(msg, tc.msg) || (msg != "" && !strings.Contains(msg, "spec.rules[2].retry")) {
				t.Errorf("setRetry = %q, want %q", msg, tc.msg)
			}
		})
	}
}
