//go:build tools

// Package tools pins the code generators gatewarden runs with `go run`, so every
// machine generates CRDs and deepcopy code with the same versions.
package tools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
