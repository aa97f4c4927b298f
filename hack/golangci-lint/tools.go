//go:build tools

// Package tools pins golangci-lint, built from its module by
// hack/install-golangci-lint.sh, so every machine lints with the same version
// and the same linters.
package tools

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
)
