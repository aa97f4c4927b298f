#!/usr/bin/env bash
# The guide (Gateway-level JWT policy) in Kubernetes mode on the local
# single-node cluster: gatewarden installed with its Helm chart, the Envoys
# it provisions for the guide's Gateway, the Gateway and httpbin from
# deploy/samples, all as real Deployments with the images of make images; every step checked with curl to the Envoy Service's ClusterIP
# (through kube-proxy) and the statuses read with kubectl. The cluster is
# brought up first and removed at the end, also when a step fails.
# Needs root, make cluster-tools and make images (make e2e-cluster does both).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/env.sh"
source "$here/lib.sh"
cd "$root"
remove_cluster_on_exit e2e-cluster "${KEEP_CLUSTER:-}"
source examples/gateway-jwt/tokens.env

"$here/up.sh"
step() { echo; echo "=== $*"; }

# The install a user runs (helm install gatewarden charts/gatewarden), with
# the images of make images, never pulled, and the Envoys' way to
# gatewarden's xDS without cluster DNS (this cluster runs no CoreDNS): the
# xDS Service gets a fixed ClusterIP, which the provisioned bootstraps name,
# checking the Service's DNS name in gatewarden's certificate.
step "install: helm install gatewarden charts/gatewarden (local images, xDS Service at 10.214.0.18)"
"$bin/helm" install gatewarden charts/gatewarden --namespace gatewarden-system --create-namespace \
  --set image.repository=gatewarden.local/gatewarden --set image.tag=dev --set image.pullPolicy=Never \
  --set provisioning.envoyImage=gatewarden.local/envoy:dev \
  --set provisioning.xdsAddress=10.214.0.18:18000 \
  --set provisioning.xdsServerName=gatewarden.gatewarden-system.svc \
  --set xdsService.clusterIP=10.214.0.18 --wait=false
kubectl wait --for condition=Established crd --all --timeout 60s >/dev/null
# There is no load balancer here: the class's parameters make the Gateways'
# Services ClusterIP.
kubectl apply -f "$here/deploy-provision/gatewayparameters.yaml"
step "the guide's Gateway and httpbin: kubectl apply -k deploy/samples (hack/cluster/samples); the class's Services ClusterIP"
kubectl apply -k "$here/samples" >/dev/null
kubectl patch gatewayclass gatewarden --type merge \
  -p '{"spec":{"parametersRef":{"group":"gatewarden.io","kind":"GatewayParameters","name":"cluster","namespace":"gatewarden-system"}}}'
for _ in $(seq 60); do
  name="$(kubectl -n gloo-system get deploy -l gateway.networking.k8s.io/gateway-name=http -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)"
  [[ -n "$name" ]] && break
  sleep 1
done
[[ -n "$name" ]] || { echo "FAIL: gatewarden provisioned no Envoy Deployment for gloo-system/http in 60 s"; exit 1; }
envoy=(gloo-system "$name")
for d in gatewarden-system/gatewarden httpbin/httpbin "${envoy[0]}/${envoy[1]}"; do
  kubectl -n "${d%/*}" rollout status "deploy/${d#*/}" --timeout 180s
done
kubectl get pods -A -o wide
kubectl get endpointslices -n httpbin -o wide

gw_ip="$(kubectl -n "${envoy[0]}" get service "${envoy[1]}" -o jsonpath='{.spec.clusterIP}')"
url="http://$gw_ip:8080/headers"
echo "the Gateway's Service: ${envoy[0]}/${envoy[1]}, ClusterIP $gw_ip (kube-proxy to the Envoy Pods)"

# expect WANT [alice|bob]: curl the Gateway (with Alice's or Bob's token)
# until it answers WANT (Envoy follows a change within moments), then print
# the command and the answer: the status line, headers and the body's start.
expect() {
  local want=$1 who=${2:-} out code="" args=() shown=""
  case "$who" in
    alice) args=(-H "Authorization: Bearer $ALICE_TOKEN"); shown=' -H "Authorization: Bearer $ALICE_TOKEN"' ;;
    bob) args=(-H "Authorization: Bearer $BOB_TOKEN"); shown=' -H "Authorization: Bearer $BOB_TOKEN"' ;;
  esac
  for _ in $(seq 60); do
    out="$(curl -s -i --max-time 5 "$url" -H "host: www.example.com:8080" "${args[@]}" || true)"
    code="$(head -1 <<<"$out" | awk '{print $2}')"
    [[ "$code" == "$want" ]] && break
    sleep 1
  done
  echo "\$ curl -i $url -H \"host: www.example.com:8080\"$shown"
  sed -E 's/\r$//' <<<"$out" | grep -v -i -E '^(date|x-request-id|content-length|x-envoy-upstream-service-time):' | head -12
  [[ "$code" == "$want" ]] || { echo "FAIL: want $want, got ${code:-no answer}"; exit 1; }
  # Envoy keeps the token from the upstream (the guide's output shows no
  # Authorization header among those httpbin received).
  if [[ "$want" == 200 && -n "$who" ]] && grep -qi '"Authorization"' <<<"$out"; then
    echo "FAIL: httpbin received the Authorization header"; exit 1
  fi
  echo "ok: $want"
}
status() { # KIND NAMESPACE NAME PATH: the conditions, one a line
  kubectl -n "$2" get "$1" "$3" -o jsonpath="{range $4.conditions[*]}{\"$1 $2/$3 \"}{.type}={.status} ({.reason}){\"\\n\"}{end}"
}
wait_status() { # KIND NAMESPACE NAME PATH TYPE WANT
  for _ in $(seq 60); do
    [[ "$(kubectl -n "$2" get "$1" "$3" -o jsonpath="{$4.conditions[?(@.type==\"$5\")].status}")" == "$6" ]] && return
    sleep 1
  done
  status "$1" "$2" "$3" "$4"
  echo "FAIL: $1 $2/$3 $5 is not $6"; exit 1
}

step "1. no policy yet: httpbin answers"
wait_status gateway gloo-system http .status Programmed True
wait_status httproute httpbin httpbin '.status.parents[0]' Accepted True
wait_status httproute httpbin httpbin '.status.parents[0]' ResolvedRefs True
status gatewayclass "" gatewarden .status
status gateway gloo-system http .status
status httproute httpbin httpbin '.status.parents[0]'
expect 200

step "2. virtualhostoption.yaml: a JWT on every route of the Gateway"
kubectl apply -f examples/gateway-jwt/virtualhostoption.yaml
wait_status virtualhostoption gloo-system jwt '.status.ancestors[0]' Accepted True
status virtualhostoption gloo-system jwt '.status.ancestors[0]'
expect 401
expect 200 alice
expect 200 bob

step "3. routeoption.yaml: RBAC on the team claim (regex de.): Alice 200, Bob 403"
kubectl apply -f examples/gateway-jwt/routeoption.yaml
wait_status routeoption httpbin jwt '.status.ancestors[0]' Accepted True
status routeoption httpbin jwt '.status.ancestors[0]'
expect 200 alice
expect 403 bob

step "4. the RouteOption replaced: llms.mistralai LIST_CONTAINS mistral-large-latest: Alice 403, Bob 200"
kubectl apply -f examples/gateway-jwt-steps/routeoption-list-contains.yaml
wait_status routeoption httpbin jwt '.status.ancestors[0]' Accepted True
expect 403 alice
expect 200 bob

step "5. cleanup of the guide: the RouteOption, then the VirtualHostOption deleted; the route is open again"
kubectl delete routeoption jwt -n httpbin
kubectl delete virtualhostoption jwt -n gloo-system
expect 200

step "the Pods and their IPs"
kubectl get pods -A -o wide
kubectl get gateway,httproute -A
