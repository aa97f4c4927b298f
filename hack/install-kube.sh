#!/usr/bin/env bash
# Builds the real kube-apiserver and kubectl (k8s.io/kubernetes, pinned in
# hack/kube-tools/go.mod) and etcd (go.etcd.io/etcd/server/v3, same module
# graph) into .cache/bin, for envtest and the Kubernetes-mode tests. Takes a
# few minutes the first time; later runs reuse the binaries while the pins
# are unchanged. kubectl is built rather than taken from the system so that
# it matches the API server's version on every machine.
set -euo pipefail
source "$(dirname "$0")/pins.sh"
stamp="$bin/.kube-tools.sum"
want="$(pin_sum kube-tools)"
if [[ -x "$bin/kube-apiserver" && -x "$bin/etcd" && -x "$bin/kubectl" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "kube-apiserver, kubectl and etcd are up to date in $bin"
else
  echo "building kube-apiserver, kubectl and etcd into $bin (several minutes the first time; make tools does it ahead of make test)" >&2
  cd "$root/hack/kube-tools"
  kver="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
  minor="$(echo "$kver" | cut -d. -f2)"
  ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$kver -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  # Each build is announced and timed: the first one downloads the
  # modules and compiles for minutes with little else to show.
  all_start=$SECONDS
  build() { # NAME PACKAGE [GO BUILD FLAGS...]
    local name=$1 pkg=$2 start=$SECONDS
    shift 2
    echo "building $name ($pkg) ..." >&2
    go build "$@" -o "$bin/$name" "$pkg"
    echo "built $name in $((SECONDS - start)) s" >&2
  }
  build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver -ldflags "$ldflags"
  build kubectl k8s.io/kubernetes/cmd/kubectl -ldflags "$ldflags"
  build etcd go.etcd.io/etcd/server/v3
  echo "built kube-apiserver, kubectl and etcd $kver in $((SECONDS - all_start)) s" >&2
  echo "$want" > "$stamp"
fi
"$bin/kube-apiserver" --version
v="$("$bin/etcd" --version)"; echo "${v%%$'\n'*}"

"$bin/kubectl" version --client 2>/dev/null
