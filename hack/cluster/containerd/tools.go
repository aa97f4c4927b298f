//go:build tools

// Package tools pins containerd (the container runtime of the local
// single-node cluster, hack/cluster) and its ctr client, which imports the
// locally built images. hack/install-cluster.sh builds them into .cache/bin.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
