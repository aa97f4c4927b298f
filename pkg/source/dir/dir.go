// Package dir is the directory source: every *.yaml, *.yml and *.json file
// under a directory, read into resource.Resources, watched and re-read on
// change. It is gatewarden's default source, for a laptop or for manifests
// mounted from a ConfigMap.
//
// A file that fails to parse never takes anything away: its last good
// version stays in use (or, if it never parsed, it adds nothing), and the
// problem is reported with file, line and reason. A half-written policy file
// therefore cannot silently remove a policy and open its routes.
package dir

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gatewarden/gatewarden/pkg/resource"
)

// Loader reads a directory, remembering the last good parse of each file.
// It is not safe for concurrent use.
type Loader struct {
	root  string
	files map[string]*fileState
	// objects is how many objects the last merge kept.
	objects int
}

type fileState struct {
	sum  [sha256.Size]byte
	stat fileStat  // of the content behind sum
	docs []heldDoc // the objects of the last good version
	err  error     // the current content's problem, if any
}

// heldDoc is a document of a kind gatewarden reads, as a loader keeps it
// (for thousands of files): its object and the line it starts on.
type heldDoc struct {
	obj  resource.Object
	line int32
}

// held keeps the documents that decoded to objects.
func held(docs []resource.Doc) []heldDoc {
	if docs == nil {
		return nil
	}
	out := make([]heldDoc, 0, len(docs))
	for _, d := range docs {
		if d.Object != nil {
			out = append(out, heldDoc{obj: d.Object, line: int32(min(d.Line, math.MaxInt32))})
		}
	}
	return out
}

// Scan is the outcome of reading the directory once.
type Scan struct {
	Resources *resource.Resources
	// Problems are the files (or documents) that could not be used as they
	// are now, each a *resource.Error or an I/O error naming the file.
	Problems []error
	// Files is the number of manifest files read.
	Files int
	// Changed reports whether any file's content differs from the last scan.
	Changed bool
}

// NewLoader returns a Loader for root.
func NewLoader(root string) *Loader {
	return &Loader{root: root, files: map[string]*fileState{}}
}

// IsManifest reports whether a file name is read as a manifest. Hidden files
// and editor leftovers are not.
func IsManifest(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") {
		return false
	}
	switch strings.ToLower(filepath.Ext(base)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// Scan reads every manifest under the root.
func (l *Loader) Scan() Scan {
	var out Scan
	seen := map[string]bool{}
	var paths []string
	err := filepath.WalkDir(l.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == l.root {
				return err
			}
			out.Problems = append(out.Problems, fmt.Errorf("read %s: %w", path, err))
			return nil
		}
		if d.IsDir() {
			if path != l.root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if IsManifest(path) {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		out.Problems = append(out.Problems, fmt.Errorf("read directory %s: %w", l.root, err))
		// Keep serving what was read before: a vanished directory is far
		// more likely a mount being swapped than an intent to drop all config.
		for p := range l.files {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	for _, path := range paths {
		seen[path] = true
		st := l.files[path]
		fst, statErr := statFile(path)
		if st != nil && statErr == nil && fst.unchangedSince(st.stat) {
			// Same inode, size and modification time, written over 2 s ago:
			// not re-read, so that a scan of 10,000 unchanged files is cheap.
			if st.err != nil {
				out.Problems = append(out.Problems, st.err)
			}
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				seen[path] = false
				continue
			}
			out.Problems = append(out.Problems, fmt.Errorf("read %s: %w", l.rel(path), err))
			continue
		}
		sum := sha256.Sum256(data)
		if st != nil {
			st.stat = fst
		}
		if st != nil && st.sum == sum {
			if st.err != nil {
				out.Problems = append(out.Problems, st.err)
			}
			continue
		}
		out.Changed = true
		if st == nil {
			st = &fileState{}
			l.files[path] = st
		}
		st.sum, st.stat = sum, fst
		docs, err := resource.Load(l.rel(path), data)
		if err != nil {
			if st.docs != nil {
				err = fmt.Errorf("%w (keeping the last good version of %s)", err, l.rel(path))
			}
			st.err = err
			out.Problems = append(out.Problems, err)
			continue
		}
		st.docs, st.err = held(docs), nil
	}
	for path := range l.files {
		if !seen[path] {
			delete(l.files, path)
			out.Changed = true
		}
	}
	out.Files = len(l.files)
	out.Resources, out.Problems = l.merge(out.Problems)
	return out
}

// merge builds Resources from every file's documents. An object defined in
// two places is a problem: the first file (in path order) keeps it.
func (l *Loader) merge(problems []error) (*resource.Resources, []error) {
	res := &resource.Resources{}
	type objKey struct{ kind, namespace, name string }
	type place struct {
		path string
		line int32
	}
	defined := make(map[objKey]place, l.objects)
	paths := make([]string, 0, len(l.files))
	for p := range l.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, path := range paths {
		for _, d := range l.files[path].docs {
			key := objKey{d.obj.GetObjectKind().GroupVersionKind().Kind, d.obj.GetNamespace(), d.obj.GetName()}
			if first, dup := defined[key]; dup {
				problems = append(problems, &resource.Error{File: l.rel(path), Line: int(d.line),
					Reason: fmt.Sprintf("%s %s/%s is already defined at %s:%d; this definition is ignored",
						key.kind, key.namespace, key.name, l.rel(first.path), first.line)})
				continue
			}
			defined[key] = place{path, d.line}
			res.Add(d.obj)
		}
	}
	l.objects = len(defined)
	res.Sort()
	return res, problems
}

// rel names a file relative to the root for messages.
func (l *Loader) rel(path string) string {
	if r, err := filepath.Rel(l.root, path); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.Join(filepath.Base(l.root), r)
	}
	return path
}

// Load reads a directory once, for commands that do not watch it.
func Load(root string) Scan {
	return NewLoader(root).Scan()
}

// FormatProblems renders problems one per line.
func FormatProblems(problems []error) string {
	var b bytes.Buffer
	for _, p := range problems {
		for _, line := range strings.Split(p.Error(), "\n") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// fileStat identifies a file's content cheaply.
type fileStat struct {
	ino, size uint64
	mtime     time.Time
}

func statFile(path string) (fileStat, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStat{}, err
	}
	fs := fileStat{size: uint64(fi.Size()), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		fs.ino = sys.Ino
	}
	return fs, nil
}

// unchangedSince trusts the stat only for content older than any file
// system's timestamp granularity: a rewrite of the same size within it would
// otherwise go unseen.
func (f fileStat) unchangedSince(old fileStat) bool {
	return f == old && !f.mtime.IsZero() && time.Since(f.mtime) > 2*time.Second
}
