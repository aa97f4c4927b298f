package workload

import (
	"testing"

	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/translator"
)

// Translate writes n routes into a temporary directory, loads and
// translates them with opts, for tests that need a configuration of some
// size. It fails the test on any problem.
func Translate(tb testing.TB, n int, opts translator.Options) *translator.Result {
	tb.Helper()
	d := tb.TempDir()
	if err := Write(d, Options{Routes: n}); err != nil {
		tb.Fatal(err)
	}
	scan := dir.Load(d)
	if len(scan.Problems) > 0 {
		tb.Fatal(scan.Problems)
	}
	res := translator.Translate(scan.Resources, opts)
	if len(res.Gateways) != 1 || len(res.Gateways[0].Routes) == 0 {
		tb.Fatalf("the workload of %d routes made %d gateways", n, len(res.Gateways))
	}
	return res
}
