package resource

import (
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/testenv"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, and a
// file it accepts yields documents only when there was no error.
func FuzzLoad(f *testing.F) {
	testenv.AddFileSeeds(f, "../../translator/testdata/*.in.yaml")
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("\x00\xff\xfe garbage"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		type result struct {
			docs []Doc
			err  error
		}
		done := make(chan result, 1)
		go func() {
			docs, err := Load("fuzz.yaml", data)
			done <- result{docs, err}
		}()
		var docs []Doc
		var err error
		select {
		case r := <-done:
			docs, err = r.docs, r.err
		case <-time.After(3 * time.Second):
			t.Fatalf("Load did not return within 3 s on %q", data)
		}
		if err != nil && docs != nil {
			t.Fatalf("an error and %d documents", len(docs))
		}
		for _, d := range docs {
			if d.Object != nil && d.Object.GetName() == "" {
				t.Fatal("an object without a name was accepted")
			}
		}
	})
}
