package translator

import (
	"fmt"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// retryOnConnectionErrors are the Envoy retry conditions of a failed
// connection or stream: the Gateway API asks that a rule with a retry
// stanza retries them, whatever its codes.
const retryOnConnectionErrors = "connect-failure,refused-stream,reset"

// retry is a rule's retry stanza, checked.
type retry struct {
	codes    []uint32
	attempts *uint32
	backoff  *time.Duration
}

// setRetry reads the retry stanza of rule i.
func (f *ruleFilters) setRetry(i int, r *gwv1.HTTPRouteRetry) string {
	if r == nil {
		return ""
	}
	field := fmt.Sprintf("spec.rules[%d].retry", i)
	out := &retry{}
	for k, c := range r.Codes {
		if c < 400 || c > 599 {
			return fmt.Sprintf("%s.codes[%d]: %d is not a status code between 400 and 599", field, k, c)
		}
		out.codes = append(out.codes, uint32(c))
	}
	if r.Attempts != nil {
		if *r.Attempts < 1 || *r.Attempts > 100 {
			return fmt.Sprintf("%s.attempts: %d is not between 1 and 100", field, *r.Attempts)
		}
		out.attempts = ptr(uint32(*r.Attempts))
	}
	if r.Backoff != nil {
		d, err := time.ParseDuration(string(*r.Backoff))
		if err != nil || d <= 0 {
			return fmt.Sprintf("%s.backoff: %q is not a positive duration", field, *r.Backoff)
		}
		out.backoff = &d
	}
	f.retry = out
	return ""
}

// applyRetry sets the retry policy of a route action whose timeouts are
// already set (applyTimeouts): attempts are retries after the first try,
// each bounded by timeouts.backendRequest; timeouts.request, when set,
// bounds them all.
func (f *ruleFilters) applyRetry(ra *routev3.RouteAction) {
	r := f.retry
	if r == nil {
		return
	}
	rp := ra.RetryPolicy
	if rp == nil {
		rp = &routev3.RetryPolicy{}
		ra.RetryPolicy = rp
	}
	on := retryOnConnectionErrors
	if len(r.codes) > 0 {
		on += ",retriable-status-codes"
		rp.RetriableStatusCodes = r.codes
	}
	rp.RetryOn = on
	if r.attempts != nil {
		rp.NumRetries = wrapperspb.UInt32(*r.attempts)
	}
	if r.backoff != nil {
		rp.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(*r.backoff)}
	}
	if f.timeout == nil && f.backendTimeout != nil {
		// Only backendRequest: it bounds each try, and the whole exchange
		// gets room for every try.
		rp.PerTryTimeout = durationpb.New(*f.backendTimeout)
		tries := int64(2) // Envoy's default: one retry
		if r.attempts != nil {
			tries = int64(*r.attempts) + 1
		}
		ra.Timeout = durationpb.New(time.Duration(tries) * *f.backendTimeout)
	}
}
