// Command conformance-table writes the tables of conformance profiles and
// features in README.md from the suite's reports (conformance/report.yaml,
// and conformance/report-experimental.yaml of the experimental channel),
// between the lines "<!-- conformance-table -->" and
// "<!-- /conformance-table -->", so that what the README claims is what the
// last run of the suite found. `make conformance` and
// `make conformance-experimental` run it after the suite; with -check it
// only fails when the README is stale.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

const (
	beginMarker = "<!-- conformance-table -->"
	endMarker   = "<!-- /conformance-table -->"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	check := flag.Bool("check", false, "fail if README.md is not up to date instead of writing it")
	flag.Parse()
	if err := run(*root, *check); err != nil {
		fmt.Fprintln(os.Stderr, "conformance-table:", err)
		os.Exit(1)
	}
}

func run(root string, check bool) error {
	readmePath := filepath.Join(root, "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	want, err := Generate(root, string(readme))
	if err != nil {
		return err
	}
	if want == string(readme) {
		return nil
	}
	if check {
		return fmt.Errorf("%s: the conformance table is stale: run `go run ./hack/conformance-table`", readmePath)
	}
	return os.WriteFile(readmePath, []byte(want), 0o644)
}

// reports are the suite's reports the table shows, in order: the standard
// channel's run (make conformance), required, and the experimental
// channel's (make conformance-experimental), shown when present.
var reports = []struct {
	file     string
	required bool
}{{"report.yaml", true}, {"report-experimental.yaml", false}}

// Generate returns readme with its conformance tables rendered from the
// reports under root.
func Generate(root, readme string) (string, error) {
	var tables []string
	for _, rep := range reports {
		path := filepath.Join(root, "conformance", rep.file)
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) && !rep.required {
			continue
		}
		if err != nil {
			return "", err
		}
		var r confv1.ConformanceReport
		if err := sigsyaml.UnmarshalStrict(data, &r); err != nil {
			return "", fmt.Errorf("read %s: %w", path, err)
		}
		tables = append(tables, Render(&r))
	}
	begin := strings.Index(readme, beginMarker)
	end := strings.Index(readme, endMarker)
	if begin < 0 || end < begin {
		return "", fmt.Errorf("README.md has no %q ... %q section", beginMarker, endMarker)
	}
	return readme[:begin+len(beginMarker)] + "\n" + strings.Join(tables, "\n") + readme[end:], nil
}

// Render is the Markdown table of a report: one row per profile.
func Render(r *confv1.ConformanceReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Suite %s (%s channel), gatewarden %s, %s:\n\n", r.GatewayAPIVersion, r.GatewayAPIChannel, r.Version, r.Date)
	b.WriteString("| profile | core | extended | extended features passed |\n|---|---|---|---|\n")
	for _, p := range r.ProfileReports {
		ext, features := "-", "-"
		if p.Extended != nil {
			ext = status(p.Extended.Status)
			if len(p.Extended.SupportedFeatures) > 0 {
				features = "`" + strings.Join(p.Extended.SupportedFeatures, "`, `") + "`"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", p.Name, status(p.Core), ext, features)
	}
	return b.String()
}

func status(s confv1.Status) string {
	out := fmt.Sprintf("%s: %d passed", s.Result, s.Passed)
	if s.Failed > 0 {
		out += fmt.Sprintf(", %d failed (%s)", s.Failed, strings.Join(s.FailedTests, ", "))
	}
	if s.Skipped > 0 {
		out += fmt.Sprintf(", %d skipped (%s)", s.Skipped, strings.Join(s.SkippedTests, ", "))
	}
	return out
}
