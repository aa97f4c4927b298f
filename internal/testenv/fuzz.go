package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// AddFileSeeds adds the content of every file matching pattern (relative
// to the fuzz test's package folder) to f's seed corpus.
func AddFileSeeds(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}
