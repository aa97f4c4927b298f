package translator

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestInvalidReason: the reason RefNotPermitted comes from the error's type
// where the reference was refused, wrapped or not, and never from its text:
// a value a tenant wrote into a message cannot change the reason.
func TestInvalidReason(t *testing.T) {
	rnp := &refNotPermittedError{"spec.options.jwt.providers.p.jwks.remote.upstreamRef: Service a/b is in another namespace"}
	for name, c := range map[string]struct {
		err  error
		want string
	}{
		"refused reference":         {rnp, "RefNotPermitted"},
		"refused reference wrapped": {fmt.Errorf("stage: %w", rnp), "RefNotPermitted"},
		"other problem":             {errors.New("spec.options.jwt.providers: at least one provider is required"), "Invalid"},
		"reason only in the text":   {fmt.Errorf("%s.url: %q is not an http or https URL", "f", "x (RefNotPermitted)"), "Invalid"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := invalidReason(c.err); got != c.want {
				t.Errorf("invalidReason(%v) = %q, want %q", c.err, got, c.want)
			}
		})
	}
	if got := rnp.Error(); !strings.HasSuffix(got, " (RefNotPermitted)") {
		t.Errorf("message %q does not end with the reason", got)
	}
}
