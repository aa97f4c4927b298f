package workload_test

import (
	"bytes"
	"testing"

	"github.com/gatewarden/gatewarden/internal/render"
	"github.com/gatewarden/gatewarden/internal/workload"
	"github.com/gatewarden/gatewarden/pkg/source/dir"
	"github.com/gatewarden/gatewarden/translator"
)

// TestWorkloadTranslatesDeterministically translates a workload large
// enough for the parallel RBAC build, twice, and wants identical output
// with every object accepted.
func TestWorkloadTranslatesDeterministically(t *testing.T) {
	d := t.TempDir()
	if err := workload.Write(d, workload.Options{Routes: 300}); err != nil {
		t.Fatal(err)
	}
	scan := dir.Load(d)
	if len(scan.Problems) > 0 || len(scan.Resources.HTTPRoutes) != 300 {
		t.Fatalf("load: %v, %d routes", scan.Problems, len(scan.Resources.HTTPRoutes))
	}
	var outs [][]byte
	for i := 0; i < 2; i++ {
		res := translator.Translate(scan.Resources, translator.Options{AllowLoopbackBackends: true})
		if p := res.Status.Problems(); len(p) > 0 {
			t.Fatalf("not accepted: %+v", p[0])
		}
		y, err := render.YAML(res)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, y)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("two translations of the same workload differ")
	}
}
