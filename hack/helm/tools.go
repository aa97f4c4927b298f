//go:build tools

// Package helm pins the Helm CLI the chart tests run (`helm lint`, `helm
// template`), built from its Go module by hack/install-helm.sh.
package helm

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
