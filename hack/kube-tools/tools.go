//go:build tools

// Package tools pins the real Kubernetes API server, kubectl and etcd that the
// Kubernetes-mode tests run against (through controller-runtime's envtest).
// hack/install-kube.sh builds them into .cache/bin.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
