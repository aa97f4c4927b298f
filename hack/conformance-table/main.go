// Command conformance-table writes the table of conformance profiles and
// features in README.md from the suite's report (conformance/report.yaml),
// between the lines "<!-- conformance-table -->" and
// "<!-- /conformance-table -->", so that what the README claims is what the
// last run of the suite found. `make conformance` runs it after the suite;
// with -check it only fails when the README is stale.
package main

import (
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

// Generate returns readme with its conformance table rendered from the
// report under root.
func Generate(root, readme string) (string, error) {
	path := filepath.Join(root, "conformance", "report.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var r confv1.ConformanceReport
	if err := sigsyaml.UnmarshalStrict(data, &r); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	begin := strings.Index(readme, beginMarker)
	end := strings.Index(readme, endMarker)
	if begin < 0 || end < begin {
		return "", fmt.Errorf("README.md has no %q ... %q section", beginMarker, endMarker)
	}
	return readme[:begin+len(beginMarker)] + "\n" + Render(&r) + readme[end:], nil
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
