#!/usr/bin/env bash
# Checks that the local cluster comes up, runs a Pod reachable at its Pod IP
# and through its Service's ClusterIP (kube-proxy), and that down.sh leaves
# nothing behind: twice in a row, comparing the host before and after
# (processes, mounts, network namespaces, links, iptables chains and rules,
# nftables tables, cgroups, the sysctls the kubelet changes, directories).
# Needs root, make cluster-tools and make images.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/env.sh"
trap '"$here/down.sh" >/dev/null 2>&1 || true' EXIT

# snapshot prints what the host has that a cluster could leave behind.
snapshot() {
  # (.cache/bin is shared with other checkouts' tests: a process from it
  # that does not name the cluster's directory is not the cluster's.)
  echo "# processes naming the cluster's directory, or the Pods' programs"
  for p in /proc/[0-9]*; do
    exe="$(readlink "$p/exe" 2>/dev/null)" || continue
    cmd="$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" || continue
    if [[ "$cmd" == *"$dir"* || "$exe" == /pause || "$exe" == /httpbin ]]; then echo "$exe $cmd"; fi
  done | sort
  echo "# mount points"
  awk '{print $5}' /proc/self/mountinfo | sort
  echo "# network namespaces"
  ip netns list 2>/dev/null | sort
  echo "# links"
  ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort
  echo "# addresses and routes"
  ip -o addr show | awk '{print $2, $4}' | sort
  ip route show | sort
  echo "# iptables chains and rules"
  for ipt in iptables ip6tables; do
    for t in filter nat mangle raw; do "$ipt" -t "$t" -S 2>/dev/null | sed "s/^/$ipt $t /"; done
  done
  echo "# nftables tables"
  nft list tables 2>/dev/null | sort
  # (Other cgroups of the host come and go with its other work.)
  echo "# the cluster's cgroups and any kubepods cgroup"
  find /sys/fs/cgroup -maxdepth 4 -type d \( -name "$cgroup_root" -o -name 'kubepods*' \) 2>/dev/null | sort
  echo "# sysctls"
  for s in "${sysctls[@]}"; do echo "$s=$(sysctl -n "$s")"; done
  echo "# directories"
  ls -d "$dir" /run/containerd /var/lib/kubelet /var/log/pods /etc/cni/net.d /var/lib/cni /var/run/netns 2>/dev/null || true
}

before="$(snapshot)"
for run in 1 2; do
  echo "=== run $run: up"
  "$here/up.sh"
  kubectl create namespace updown >/dev/null
  kubectl -n updown run httpbin --image gatewarden.local/httpbin:dev --image-pull-policy Never --port 8080 --labels app=httpbin >/dev/null
  kubectl -n updown expose pod httpbin --port 80 --target-port 8080 >/dev/null
  kubectl -n updown wait --for condition=Ready pod/httpbin --timeout 90s >/dev/null
  pod_ip="$(kubectl -n updown get pod httpbin -o jsonpath='{.status.podIP}')"
  svc_ip="$(kubectl -n updown get service httpbin -o jsonpath='{.spec.clusterIP}')"
  kubectl get pods -A -o wide
  [[ "$pod_ip" == 10.213.0.* ]] || { echo "FAIL: Pod IP $pod_ip is not in $pod_cidr"; exit 1; }
  echo "GET http://$pod_ip:8080/get (Pod IP): $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$pod_ip:8080/get")"
  code=""
  for _ in $(seq 30); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$svc_ip/get" || true)"
    [[ "$code" == 200 ]] && break
    sleep 1
  done
  echo "GET http://$svc_ip/get (ClusterIP, kube-proxy): $code"
  [[ "$code" == 200 ]] || { echo "FAIL: the Service's ClusterIP answered $code, want 200"; exit 1; }
  echo "=== run $run: down"
  "$here/down.sh"
  after="$(snapshot)"
  if [[ "$after" != "$before" ]]; then
    echo "FAIL: run $run left something behind (< before, > after):"
    diff <(echo "$before") <(echo "$after") || true
    exit 1
  fi
  echo "run $run: the host is as it was before up.sh"
done
echo "PASS: up and down twice, nothing left behind"
