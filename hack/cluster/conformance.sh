#!/usr/bin/env bash
# The upstream Gateway API conformance suite (GATEWAY-HTTP) against gatewarden
# on the local single-node cluster: deploy/ with provisioning (each Gateway's
# Envoys are Pods gatewarden creates), the suite's echo-basic and CoreDNS
# Pods from the images of make images, EndpointSlices from the endpoint
# controller, requests to each Gateway's ClusterIP through kube-proxy. Writes
# the report to CONFORMANCE_REPORT (default conformance/report-cluster.yaml).
# The cluster is removed at the end, also when the suite fails.
# Needs root, make cluster-tools and make images (make conformance-cluster).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/env.sh"
source "$here/lib.sh"
cd "$root"
report="${CONFORMANCE_REPORT:-$root/conformance/report-cluster.yaml}"
remove_cluster_on_exit conformance-cluster

"$here/up.sh"
kubectl apply -k "$here/deploy-provision" >/dev/null
kubectl wait --for condition=Established crd --all --timeout 60s >/dev/null
kubectl apply -f "$here/deploy-provision/gatewayparameters.yaml"
# The suite's GatewayClass: the Gateways' Services are ClusterIP (no load
# balancer on this cluster), which the host reaches through kube-proxy.
kubectl apply -f - <<'EOF'
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: gatewarden
spec:
  controllerName: gatewarden.io/gatewarden
  parametersRef: {group: gatewarden.io, kind: GatewayParameters, name: cluster, namespace: gatewarden-system}
EOF
kubectl -n gatewarden-system rollout status deploy/gatewarden --timeout 180s
kubectl get pods -A -o wide

mkdir -p "$(dirname "$report")"
CONFORMANCE_REPORT="$report" go test -tags cluster -count=1 -v -timeout 40m -run '^TestConformanceCluster$' ./e2e/cluster/
kubectl get pods -A -o wide
echo "report: $report"
