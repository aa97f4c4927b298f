#!/usr/bin/env bash
# Builds the parts of the local single-node cluster (hack/cluster) into
# .cache/bin from pinned Go modules: kube-controller-manager, kube-scheduler,
# kubelet and kube-proxy from k8s.io/kubernetes (hack/cluster/kube, the same
# release as hack/kube-tools, whose kube-apiserver, etcd and kubectl it also
# needs), and containerd, its runc shim and ctr from
# github.com/containerd/containerd/v2 (hack/cluster/containerd). runc, the CNI
# plugins and iptables come from Debian (installed here with apt-get when
# missing). Later runs reuse the binaries while the pins are unchanged.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.cache/bin"
mkdir -p "$bin"
"$root/hack/install-kube.sh" >/dev/null

# Debian packages: the OCI runtime, the CNI plugins (bridge, host-local,
# loopback, portmap) and what kube-proxy and the kubelet run.
need=()
command -v runc >/dev/null || need+=(runc)
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback && -x /usr/lib/cni/portmap ]] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v conntrack >/dev/null || need+=(conntrack)
if ((${#need[@]})); then
  echo "installing Debian packages: ${need[*]}" >&2
  if [[ $EUID -ne 0 ]]; then echo "install-cluster: root is needed to apt-get install ${need[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

all_start=$SECONDS
build() { # DIR NAME PACKAGE [GO BUILD FLAGS...]
  local dir=$1 name=$2 pkg=$3 start=$SECONDS
  shift 3
  echo "building $name ($pkg) ..." >&2
  (cd "$dir" && go build "$@" -o "$bin/$name" "$pkg")
  echo "built $name in $((SECONDS - start)) s" >&2
}

kdir="$root/hack/cluster/kube"
stamp="$bin/.cluster-kube.sum"
want="$(cat "$kdir/go.mod" "$kdir/go.sum" | sha256sum | cut -d' ' -f1)"
if [[ -x "$bin/kubelet" && -x "$bin/kube-proxy" && -x "$bin/kube-controller-manager" && -x "$bin/kube-scheduler" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "kubelet, kube-proxy, kube-controller-manager and kube-scheduler are up to date in $bin"
else
  kver="$(cd "$kdir" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
  minor="$(echo "$kver" | cut -d. -f2)"
  ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$kver -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  for c in kube-controller-manager kube-scheduler kube-proxy kubelet; do
    build "$kdir" "$c" "k8s.io/kubernetes/cmd/$c" -ldflags "$ldflags"
  done
  echo "$want" > "$stamp"
fi

cdir="$root/hack/cluster/containerd"
stamp="$bin/.cluster-containerd.sum"
want="$(cat "$cdir/go.mod" "$cdir/go.sum" | sha256sum | cut -d' ' -f1)"
if [[ -x "$bin/containerd" && -x "$bin/containerd-shim-runc-v2" && -x "$bin/ctr" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "containerd, containerd-shim-runc-v2 and ctr are up to date in $bin"
else
  cver="$(cd "$cdir" && go list -m -f '{{.Version}}' github.com/containerd/containerd/v2)"
  ldflags="-X github.com/containerd/containerd/v2/version.Version=$cver -X github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2"
  # Static, without cgo: no btrfs or devmapper snapshotters (overlayfs is the
  # one the cluster uses), no libseccomp (runc applies the profile).
  for c in containerd containerd-shim-runc-v2 ctr; do
    CGO_ENABLED=0 build "$cdir" "$c" "github.com/containerd/containerd/v2/cmd/$c" -tags "no_btrfs no_devmapper no_zfs" -ldflags "$ldflags"
  done
  echo "$want" > "$stamp"
fi
((SECONDS - all_start > 2)) && echo "built the cluster's parts in $((SECONDS - all_start)) s" >&2
"$bin/kubelet" --version
"$bin/containerd" --version
