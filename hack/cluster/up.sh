#!/usr/bin/env bash
# Brings up a single-node Kubernetes cluster on this machine, without Docker:
# etcd, kube-apiserver (RBAC and the Node authorizer, service-account keys,
# its own CA), kube-controller-manager, kube-scheduler, containerd with
# Debian's runc, the kubelet and kube-proxy (iptables mode), Pods on a CNI
# bridge. The images it runs are built locally (make images) and imported:
# nothing is pulled. hack/cluster/down.sh removes all of it; up.sh runs it
# first when a previous cluster was left behind.
#
# Needs root, the binaries of hack/install-cluster.sh (make cluster-tools) and
# the image tarballs of make images. Prints the KUBECONFIG to use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/env.sh"
start_time=$SECONDS

die() { echo "cluster up: $*" >&2; exit 1; }
[[ $EUID -eq 0 ]] || die "needs root (it creates a bridge, mounts and cgroups)"
for b in etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet kube-proxy containerd containerd-shim-runc-v2 ctr; do
  [[ -x "$bin/$b" ]] || die "$bin/$b is missing: run make cluster-tools (hack/install-cluster.sh)"
done
for b in runc iptables openssl; do command -v "$b" >/dev/null || die "$b is missing: run make cluster-tools (it installs the Debian packages)"; done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || die "the CNI plugins are missing from /usr/lib/cni: apt-get install containernetworking-plugins"
[[ -f "$images/pause.tar" ]] || die "$images/pause.tar is missing: run make images"

if [[ -e "$dir" ]] || ip link show "$bridge" >/dev/null 2>&1; then
  echo "cluster up: $dir or the bridge $bridge exists (a cluster left behind): running down.sh first" >&2
  "$here/down.sh"
fi
for cidr in "$pod_cidr" "$service_cidr"; do
  if ip route show to match "${cidr%/*}" | grep -v '^default' | grep -q .; then
    die "the range $cidr is already routed on this host ($(ip route show to match "${cidr%/*}" | grep -v '^default' | head -1)): change it in hack/cluster/env.sh"
  fi
done

mkdir -p "$dir"/{pki,logs,pids,etcd,containerd,kubelet,pod-logs,cni/net.d,cni/ipam,runc}
chmod 700 "$dir" "$dir/pki"
# Host settings to restore at down.sh, and whether /run/containerd (where
# containerd's shims put their sockets, whatever the state directory) was
# there before; so too the directories the kubelet and the CNI plugins make
# outside $dir (/var/lib/kubelet; /var/lib/cni, libcni's cache of results)
# and the nftables tables (iptables-nft makes filter, nat and mangle the
# first time kube-proxy or the kubelet adds a chain).
for s in "${sysctls[@]}"; do echo "$s=$(sysctl -n "$s")"; done > "$dir/sysctls.saved"
[[ -e /run/containerd ]] || touch "$dir/created-run-containerd"
for d in /var/lib/kubelet /var/lib/cni; do [[ -e "$d" ]] || echo "$d"; done > "$dir/created-dirs"
if command -v nft >/dev/null; then nft list tables 2>/dev/null | sort > "$dir/nft-tables.before"; fi

# The bridge first: the node's address is on it, and the components bind it.
ip link add "$bridge" type bridge
ip addr add "$node_ip/${pod_cidr#*/}" dev "$bridge"
ip link set "$bridge" up

# --- certificates -----------------------------------------------------------
pki="$dir/pki"
ossl() { openssl "$@" 2>"$dir/logs/openssl.log" || { cat "$dir/logs/openssl.log" >&2; die "openssl $1 failed"; }; }
ossl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key"
ossl req -x509 -new -key "$pki/ca.key" -subj "/CN=gatewarden-cluster-ca" -days 30 -out "$pki/ca.crt"
cert() { # NAME SUBJECT USAGE [SUBJECT-ALT-NAMES]
  local name=$1 subj=$2 usage=$3 san=${4:-}
  ossl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key"
  ossl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [[ -n "$san" ]] && echo "subjectAltName=$san"
  } > "$pki/$name.ext"
  ossl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 30 -extfile "$pki/$name.ext" -out "$pki/$name.crt"
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}
cert kube-apiserver "/CN=kube-apiserver" serverAuth \
  "IP:$node_ip,IP:$api_service_ip,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
cert kube-apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" clientAuth
cert kubelet "/CN=$node" serverAuth "IP:$node_ip,DNS:$node"
cert admin "/O=system:masters/CN=gatewarden-cluster-admin" clientAuth
cert node "/O=system:nodes/CN=system:node:$node" clientAuth
cert kube-controller-manager "/CN=system:kube-controller-manager" clientAuth
cert kube-scheduler "/CN=system:kube-scheduler" clientAuth
cert kube-proxy "/CN=system:kube-proxy" clientAuth
ossl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key"
ossl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
kubeconfig() { # NAME CERT
  local f="$pki/$1.kubeconfig"
  kubectl config set-cluster local --server="https://$node_ip:$api_port" --certificate-authority="$pki/ca.crt" --embed-certs --kubeconfig="$f" >/dev/null
  kubectl config set-credentials "$2" --client-certificate="$pki/$2.crt" --client-key="$pki/$2.key" --embed-certs --kubeconfig="$f" >/dev/null
  kubectl config set-context local --cluster=local --user="$2" --kubeconfig="$f" >/dev/null
  kubectl config use-context local --kubeconfig="$f" >/dev/null
  chmod 600 "$f"
}
for c in admin node kube-controller-manager kube-scheduler kube-proxy; do kubeconfig "$c" "$c"; done

# --- processes --------------------------------------------------------------
# Each runs in its own session (Ctrl-C on a test leaves them to down.sh), its
# output in logs/NAME.log, its pid in pids/NAME.pid.
start() { # NAME COMMAND...
  local name=$1; shift
  setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! > "$dir/pids/$name.pid"
}
wait_for() { # WHAT SECONDS COMMAND...
  local what=$1 secs=$2; shift 2
  local name=${what%% *}
  for ((i = 0; i < secs * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [[ -f "$dir/pids/$name.pid" ]] && ! kill -0 "$(cat "$dir/pids/$name.pid")" 2>/dev/null; then
      tail -20 "$dir/logs/$name.log" >&2; die "$name exited (log: $dir/logs/$name.log)"
    fi
    sleep 0.5
  done
  tail -20 "$dir/logs/$name.log" >&2 || true
  die "$what: not ready after $secs s (logs in $dir/logs)"
}

start etcd "$bin/etcd" --name "$node" --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "$node=http://127.0.0.1:$etcd_peer_port" --listen-metrics-urls "" --log-level warn
wait_for "etcd" 30 curl -sf "http://127.0.0.1:$etcd_port/health"

issuer="https://kubernetes.default.svc.cluster.local"
start kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$etcd_port" \
  --bind-address "$node_ip" --advertise-address "$node_ip" --secure-port "$api_port" \
  --service-cluster-ip-range "$service_cidr" \
  --tls-cert-file "$pki/kube-apiserver.crt" --tls-private-key-file "$pki/kube-apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --service-account-issuer "$issuer" --api-audiences "$issuer" \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --kubelet-client-certificate "$pki/kube-apiserver-kubelet-client.crt" --kubelet-client-key "$pki/kube-apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
  --allow-privileged=true --profiling=false
wait_for "kube-apiserver" 90 kubectl get --raw /readyz

# The API server reads logs and runs exec through the kubelet's API.
kubectl create clusterrolebinding gatewarden-cluster:kube-apiserver-kubelet-client \
  --clusterrole system:kubelet-api-admin --user kube-apiserver-kubelet-client >/dev/null

start kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig "$pki/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig "$pki/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig "$pki/kube-controller-manager.kubeconfig" \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --use-service-account-credentials --service-cluster-ip-range "$service_cidr" \
  --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
  --bind-address 127.0.0.1 --leader-elect=false --profiling=false
start kube-scheduler "$bin/kube-scheduler" \
  --kubeconfig "$pki/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig "$pki/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig "$pki/kube-scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --profiling=false

# --- containerd -------------------------------------------------------------
cat > "$dir/containerd/config.toml" <<EOF
version = 3
root = "$dir/containerd/root"
state = "$dir/containerd/state"

[grpc]
  address = "$CONTAINERD_ADDRESS"
[ttrpc]
  address = "$CONTAINERD_ADDRESS.ttrpc"

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = "$dir/containerd/opt"
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = 'gatewarden.local/pause:dev'
  [plugins.'io.containerd.cri.v1.runtime']
    netns_mounts_under_state_dir = true
    # Root here may lack CAP_SYS_RESOURCE (containers, some VMs): then no
    # process may lower its oom_score_adj, and runc fails to start a Pod
    # whose score the kubelet sets below containerd's own.
    restrict_oom_score_adj = true
    enable_unprivileged_ports = true
    enable_unprivileged_icmp = true
    cdi_spec_dirs = []
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '$(command -v runc)'
          Root = '$dir/runc'
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = '$dir/cni/net.d'
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
EOF
cat > "$dir/cni/net.d/10-gatewarden-cluster.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "gatewarden-cluster",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$pod_cidr", "gateway": "$node_ip"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$dir/cni/ipam"
      }
    }
  ]
}
EOF
# containerd finds its shim on PATH.
PATH="$bin:$PATH" start containerd "$bin/containerd" --config "$dir/containerd/config.toml" --log-level warn
wait_for "containerd" 30 ctr version
for t in "$images"/*.tar; do
  ctr images import --all-platforms "$t" >/dev/null 2>"$dir/logs/ctr-import.log" || die "ctr images import $t failed"
done
echo "imported into containerd: $(ctr images ls -q 2>/dev/null | grep -v '^sha256:' | tr '\n' ' ')"

# --- kubelet and kube-proxy -------------------------------------------------
# The kubelet puts the Pods' cgroups under this cluster's own cgroup.
for d in $(cgroup_dirs); do mkdir -p "$d"; done
cat > "$dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has cgroup v1 only; the kubelet refuses it unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$cgroup_root
address: $node_ip
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
containerRuntimeEndpoint: unix://$CONTAINERD_ADDRESS
podLogsDir: $dir/pod-logs
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
failSwapOn: false
serializeImagePulls: false
# A shared machine: evict nothing because other work fills the disk.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
start kubelet "$bin/kubelet" --config "$dir/kubelet/config.yaml" \
  --kubeconfig "$pki/node.kubeconfig" --root-dir "$dir/kubelet" \
  --hostname-override "$node" --node-ip "$node_ip" --v 1
cat > "$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $pod_cidr
hostnameOverride: $node
bindAddress: $node_ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clientConnection: {kubeconfig: $pki/kube-proxy.kubeconfig}
nodePortAddresses: ["$node_ip/32"]
# Leave the host's conntrack and sysctl settings alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
oomScoreAdj: 0
EOF
start kube-proxy "$bin/kube-proxy" --config "$dir/kube-proxy.yaml"

node_ready() { [[ "$(kubectl get node "$node" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" == True ]]; }
wait_for "kubelet (node $node Ready)" 120 node_ready
# The default ServiceAccount of a namespace comes from the controller manager.
wait_for "kube-controller-manager (ServiceAccount default/default)" 60 kubectl -n default get serviceaccount default
echo "cluster up in $((SECONDS - start_time)) s: node $node ($node_ip), Pods $pod_cidr on $bridge, Services $service_cidr"
echo "export KUBECONFIG=$KUBECONFIG"
