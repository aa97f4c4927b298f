// Package dashboard reads the Grafana dashboard gatewarden ships
// (deploy/grafana/gatewarden.json), so that tests can check that every
// metric its queries name is one Envoy or gatewarden really exports: a
// renamed stat would otherwise leave an empty panel nobody notices.
package dashboard

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
)

// Path is the dashboard's path in the repository.
const Path = "deploy/grafana/gatewarden.json"

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// Queries returns the PromQL expressions of a dashboard file, by panel title.
func Queries(path string) (map[string][]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read dashboard: %w", err)
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	out := map[string][]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if t.Expr != "" {
					out[p.Title] = append(out[p.Title], t.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out, nil
}

var (
	// Label matchers ({...}), grouping clauses (by/without (...)) and range
	// selectors ([5m]) name labels and durations, not metrics.
	labelParts = regexp.MustCompile(`\{[^}]*\}|\b(?:by|without)\s*\([^)]*\)|\[[^\]]*\]`)
	metricName = regexp.MustCompile(`\b(?:envoy|gatewarden)_[A-Za-z0-9_:]+`)
)

// MetricNames are the metric names an expression reads: the identifiers of
// Envoy's and gatewarden's namespaces outside label matchers and groupings.
func MetricNames(expr string) []string {
	names := metricName.FindAllString(labelParts.ReplaceAllString(expr, " "), -1)
	slices.Sort(names)
	return slices.Compact(names)
}
