//go:build tools

// Package tools pins the node and control-plane components of the local
// single-node cluster (hack/cluster): the same k8s.io/kubernetes release as
// hack/kube-tools, whose kube-apiserver, kubectl and etcd the cluster also
// runs. hack/install-cluster.sh builds them into .cache/bin.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
