#!/usr/bin/env bash
# Removes the cluster hack/cluster/up.sh made, whatever state it is in (also
# after a failed or interrupted up.sh): its processes and the Pods' processes,
# the mounts under its directory (containers' root file systems, Pod volumes,
# network namespaces), the bridge and what is left of the Pods' interfaces,
# kube-proxy's and the kubelet's iptables chains, the Pods' cgroups, the
# host settings the kubelet changed, and the directory. Running it when no
# cluster is up does nothing and succeeds.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/env.sh"
[[ $EUID -eq 0 ]] || { echo "cluster down: needs root" >&2; exit 1; }
failed=()

# pids_of_dir prints the pids of processes started from the cluster's
# binaries or naming its directory on their command line (the shims are
# given containerd's address).
pids_of_dir() {
  local p exe
  for p in /proc/[0-9]*; do
    exe="$(readlink "$p/exe" 2>/dev/null)" || continue
    if [[ "$exe" == "$bin/"* ]] && tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$dir"; then
      echo "${p#/proc/}"
    fi
  done
}
# pids_in_cgroups prints the pids of the processes in the Pods' cgroups.
pids_in_cgroups() {
  local d
  for d in $(cgroup_dirs); do
    [[ -d "$d" ]] && find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u
}
# pid_of NAME prints the pid in pids/NAME.pid if that process is still the
# component (its binary is the cluster's): a pid file never makes down.sh
# signal a process that reused the number.
pid_of() {
  local f="$dir/pids/$1.pid" p exe
  [[ -f "$f" ]] || return 0
  p="$(cat "$f")"
  exe="$(readlink "/proc/$p/exe" 2>/dev/null)" || return 0
  [[ "$exe" == "$bin/$1" ]] && echo "$p"
  return 0
}
stop() { # SIGNAL PIDS...
  local sig=$1; shift
  (($#)) && kill "-$sig" "$@" 2>/dev/null
  return 0
}
wait_gone() { # SECONDS PIDS...
  local secs=$1; shift
  for ((i = 0; i < secs * 10; i++)); do
    local alive=()
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
    ((${#alive[@]} == 0)) && return 0
    sleep 0.1
  done
  return 1
}

if [[ -d "$dir" ]]; then
  # The kubelet first, so that it restarts nothing; then the Pods, their
  # shims and the other components.
  mapfile -t first < <(for c in kubelet kube-proxy kube-scheduler kube-controller-manager; do pid_of "$c"; done)
  stop TERM "${first[@]}"
  wait_gone 10 "${first[@]}" || stop KILL "${first[@]}"
  mapfile -t pods < <(pids_in_cgroups)
  stop KILL "${pods[@]}"
  wait_gone 10 "${pods[@]}" || failed+=("Pod processes still running: ${pods[*]}")
  mapfile -t procs < <({ pids_of_dir; for c in "${components[@]}"; do pid_of "$c"; done; } | sort -u)
  stop TERM "${procs[@]}"
  if ! wait_gone 10 "${procs[@]}"; then
    stop KILL "${procs[@]}"
    wait_gone 5 "${procs[@]}" || failed+=("processes still running: ${procs[*]}")
  fi

  # Mounts under the directory, deepest first (containers' root file
  # systems, Pod volumes, network namespaces, /dev/shm of sandboxes).
  for _ in 1 2 3; do
    mapfile -t mounts < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r)
    ((${#mounts[@]} == 0)) && break
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  done
  left="$(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo)"
  [[ -z "$left" ]] || failed+=("mounts left: $left")
fi

# The bridge (its Pods' veth ends go with their network namespaces).
if ip link show "$bridge" >/dev/null 2>&1; then
  for l in $(ip -o link show master "$bridge" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do ip link del "$l" 2>/dev/null; done
  ip link del "$bridge" || failed+=("bridge $bridge")
fi

# iptables: kube-proxy removes its own rules; then any KUBE- or CNI- chain
# left (the kubelet's canaries and hints), with the rules that jump to them.
if [[ -x "$bin/kube-proxy" ]] && command -v iptables >/dev/null; then
  "$bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
fi
for ipt in iptables ip6tables; do
  command -v "$ipt" >/dev/null || continue
  for table in filter nat mangle raw; do
    chains="$("$ipt" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && ($2 ~ /^KUBE-/ || $2 ~ /^CNI-/) {print $2}')"
    [[ -z "$chains" ]] && continue
    # Rules jumping to them (in any chain), then the chains themselves.
    "$ipt" -t "$table" -S 2>/dev/null | grep -E -- '-j (KUBE-|CNI-)' | grep '^-A' | while read -r _ rest; do
      eval "\"$ipt\" -t \"$table\" -D $rest" 2>/dev/null
    done
    for c in $chains; do "$ipt" -t "$table" -F "$c" 2>/dev/null; done
    for c in $chains; do "$ipt" -t "$table" -X "$c" 2>/dev/null || failed+=("$ipt -t $table chain $c"); done
  done
done
if command -v nft >/dev/null; then
  for t in "ip kube-proxy" "ip6 kube-proxy"; do nft delete table $t 2>/dev/null; done
fi

# The Pods' cgroups, deepest first.
for d in $(cgroup_dirs); do
  [[ -d "$d" ]] || continue
  find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  [[ -d "$d" ]] && failed+=("cgroup $d")
done

if [[ -d "$dir" ]]; then
  # The host's settings as they were before up.sh.
  if [[ -f "$dir/sysctls.saved" ]]; then
    while IFS='=' read -r k v; do sysctl -qw "$k=$v" || failed+=("sysctl $k=$v"); done < "$dir/sysctls.saved"
  fi
  if [[ -f "$dir/created-run-containerd" ]]; then
    rm -rf /run/containerd
  fi
  if [[ -f "$dir/created-dirs" ]]; then
    while read -r d; do
      [[ "$d" == /var/lib/kubelet || "$d" == /var/lib/cni ]] && rm -rf "$d"
    done < "$dir/created-dirs"
  fi
  # nftables tables made while the cluster ran, once they hold no rule (a
  # rule is a line of a chain that is not its "type ... hook" header): a
  # table something else filled in the meantime is left alone.
  if [[ -f "$dir/nft-tables.before" ]] && command -v nft >/dev/null; then
    while read -r _ family name; do
      if ! nft list table "$family" "$name" 2>/dev/null | grep -E $'^\t\t' | grep -qvE $'^\t\ttype '; then
        nft delete table "$family" "$name" 2>/dev/null || failed+=("nftables table $family $name")
      fi
    done < <(comm -13 "$dir/nft-tables.before" <(nft list tables 2>/dev/null | sort))
  fi
  rm -rf "$dir" || failed+=("rm -rf $dir")
fi

if ((${#failed[@]})); then
  printf 'cluster down: left behind: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "cluster down: nothing left of the cluster"
