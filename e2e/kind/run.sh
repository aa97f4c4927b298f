#!/usr/bin/env bash
# The guide on a kind cluster, with images built locally: the same steps as
# e2e/kube_test.go, but with Pods, Deployments and a real endpoint controller.
#
# Needs docker, kind and kubectl. This project's own machines have no Docker
# engine, so this script is NOT run by `make test` or CI and is not counted as
# tested there; it is kept short so that a person can read and run it.
set -euo pipefail
cd "$(dirname "$0")/../.."
cluster="${CLUSTER:-gatewarden}"
image="ghcr.io/gatewarden/gatewarden:latest"
source examples/gateway-jwt/tokens.env

kind create cluster --name "$cluster"
trap 'kind delete cluster --name "$cluster"' EXIT
docker build -t "$image" .
kind load docker-image "$image" --name "$cluster"

kubectl apply -k deploy/
kubectl wait --for=condition=Established crd --all --timeout=60s
kubectl apply -k deploy/samples/
kubectl -n gatewarden-system rollout status deploy/gatewarden --timeout=120s
kubectl -n httpbin rollout status deploy/httpbin --timeout=120s
# gatewarden provisions the Gateway's Envoys: <gateway>-<gatewayclass>.
for _ in $(seq 60); do kubectl -n gloo-system get deploy/http-gatewarden >/dev/null 2>&1 && break; sleep 1; done
kubectl -n gloo-system rollout status deploy/http-gatewarden --timeout=120s

kubectl -n gloo-system port-forward svc/http-gatewarden 8080:8080 >/dev/null 2>&1 &
trap 'kill %1; kind delete cluster --name "$cluster"' EXIT
sleep 2

code() { curl -s -o /dev/null -w '%{http_code}' localhost:8080/headers -H "host: www.example.com:8080" "$@"; }
expect() { # expect WANT CURL-ARGS...
  local want="$1"; shift
  for _ in $(seq 30); do [[ "$(code "$@")" == "$want" ]] && { echo "ok: $want"; return; }; sleep 1; done
  echo "FAIL: want $want, got $(code "$@")"; exit 1
}
expect 200
kubectl apply -f examples/gateway-jwt/virtualhostoption.yaml
expect 401
expect 200 -H "Authorization: Bearer $ALICE_TOKEN"
kubectl apply -f examples/gateway-jwt/routeoption.yaml
expect 200 -H "Authorization: Bearer $ALICE_TOKEN"
expect 403 -H "Authorization: Bearer $BOB_TOKEN"
kubectl apply -f examples/gateway-jwt-steps/routeoption-list-contains.yaml
expect 403 -H "Authorization: Bearer $ALICE_TOKEN"
expect 200 -H "Authorization: Bearer $BOB_TOKEN"
kubectl delete routeoption jwt -n httpbin
kubectl delete virtualhostoption jwt -n gloo-system
expect 200
kubectl get gateway,httproute,virtualhostoption,routeoption -A
