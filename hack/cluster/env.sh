# The settings of the local single-node cluster, shared by up.sh, down.sh
# and the tests (sourced, not run). Every name and range here is the
# cluster's own, so that down.sh can remove exactly what up.sh made.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Resolved: .cache may be a symlink, and /proc/PID/exe names the real path.
bin="$(realpath -m "$root/.cache/bin")"
images="${IMAGES_DIR:-$root/.cache/images}"
# Everything the cluster writes (certificates, etcd's data, containerd's root
# and state, the kubelet's root, logs, pid files) lives under this directory.
# Socket paths must stay under 108 bytes: keep it short.
dir="${CLUSTER_DIR:-/var/lib/gatewarden-cluster}"
node="gatewarden-node"
bridge="gwcluster0"
# The node's IP is the bridge's: the cluster's components listen there and
# on loopback, never on the host's own interfaces. The ranges are private
# ones that no route of the host uses (up.sh checks).
node_ip="10.213.0.1"
pod_cidr="10.213.0.0/24"
service_cidr="10.214.0.0/24"
api_service_ip="10.214.0.1"
api_port=6443
etcd_port=12379
etcd_peer_port=12380
# The cgroup (in every v1 hierarchy) the kubelet puts the Pods under.
cgroup_root="gatewarden-cluster"
# Host settings the kubelet and the bridge plugin change; down.sh restores them.
sysctls=(kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward)
components=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)
export KUBECONFIG="$dir/pki/admin.kubeconfig"
export CONTAINERD_ADDRESS="$dir/containerd/containerd.sock"
export CONTAINERD_NAMESPACE=k8s.io
# cgroup_dirs prints the cluster's cgroup directories: one in each cgroup
# v1 hierarchy (this project's machines have v1 only; on hybrid hosts the
# v2 mount "unified" too), or the one of a unified v2 host.
cgroup_dirs() {
  if [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; then
    echo "/sys/fs/cgroup/$cgroup_root"
    return
  fi
  local h
  for h in /sys/fs/cgroup/*/; do
    h="${h%/}"
    # Skip the links (cpu -> cpu,cpuacct); keep the v2 mount of hybrid
    # hosts (unified), where the kubelet makes its cgroups too.
    [[ -L "$h" ]] && continue
    echo "$h/$cgroup_root"
  done
}
kubectl() { "$bin/kubectl" "$@"; }
ctr() { "$bin/ctr" "$@"; }
