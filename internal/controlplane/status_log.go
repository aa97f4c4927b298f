package controlplane

import (
	"log/slog"

	"github.com/gatewarden/gatewarden/translator"
)

// logStatus logs every condition that is not True, so that in directory
// mode, where no status is written anywhere, a person still learns why an
// object is not served as written.
func logStatus(log *slog.Logger, res *translator.Result) {
	for _, p := range res.Status.Problems() {
		log.Warn("not accepted as written", "kind", p.Kind, "name", p.Name, "where", p.Where,
			"condition", p.Condition.Type, "reason", p.Condition.Reason, "message", p.Condition.Message)
	}
}
