# shellcheck shell=bash
# What the scripts that test on the local cluster (e2e.sh, conformance.sh)
# share: sourced after env.sh (whose kubectl it uses), not run.
cluster_scripts="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# remove_cluster_on_exit NAME [KEEP]: from here on, the script's exit
# removes the cluster (down.sh), also when a step failed, printing first
# the cluster's state and the last lines of the logs when one did, and
# last "NAME: PASS in N s" (or FAIL). A KEEP that is not empty (the
# KEEP_CLUSTER of e2e.sh) leaves the cluster up instead.
remove_cluster_on_exit() {
  cluster_test_name=$1
  cluster_test_keep=${2:-}
  cluster_test_start=$SECONDS
  trap cluster_test_exit EXIT
}

cluster_test_exit() {
  local rc=$?
  if ((rc != 0)); then
    echo "--- failed: the cluster's state and the last lines of the logs"
    kubectl get pods -A -o wide 2>/dev/null || true
    kubectl get events -A --sort-by .lastTimestamp 2>/dev/null | tail -20 || true
    kubectl -n gatewarden-system logs deploy/gatewarden --tail 30 2>/dev/null || true
    kubectl logs -A -l app.kubernetes.io/name=envoy --tail 10 --prefix 2>/dev/null || true
  fi
  if [[ -n "$cluster_test_keep" ]]; then echo "KEEP_CLUSTER is set: the cluster stays up (hack/cluster/down.sh removes it)"; return; fi
  "$cluster_scripts/down.sh" || rc=1
  echo "$cluster_test_name: $( ((rc == 0)) && echo PASS || echo FAIL ) in $((SECONDS - cluster_test_start)) s"
  exit $rc
}
