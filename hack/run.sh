#!/usr/bin/env bash
# `make run`: the guide, live. Starts httpbin on 127.0.0.1:8000, gatewarden
# serving a copy of examples/gateway-jwt (edit the copy and watch Envoy follow),
# and Envoy on :8080 with the bootstrap gatewarden writes. Ctrl-C stops all three.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
ENVOY_BIN="${ENVOY_BIN:-$root/.cache/bin/envoy}"
work="$root/.cache/run"
resources="$work/resources"
rm -rf "$work"
mkdir -p "$resources"
cp examples/gateway-jwt/*.yaml "$resources/"
source examples/gateway-jwt/tokens.env

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "stopping httpbin, gatewarden and Envoy"
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

bin/httpbin -addr 127.0.0.1:8000 >"$work/httpbin.log" 2>&1 & pids+=($!)
bin/gatewarden serve --resources "$resources" --xds-address 127.0.0.1:18000 --admin-address 127.0.0.1:9090 \
  2> >(tee "$work/gatewarden.log" >&2) & pids+=($!)
bin/gatewarden bootstrap --gateway gloo-system/http --xds-address 127.0.0.1:18000 >"$work/envoy.yaml"
"$ENVOY_BIN" -c "$work/envoy.yaml" --log-level warn >"$work/envoy.log" 2>&1 & pids+=($!)

for _ in $(seq 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: www.example.com:8080' localhost:8080/headers || true)
  [[ "$code" != "000" ]] && break
  sleep 0.1
done

cat <<EOT

gatewarden serves $resources (the guide after its RBAC step) to Envoy on :8080.
Logs: $work/{gatewarden,envoy,httpbin}.log   Admin: http://127.0.0.1:9090/debug/config

  export ALICE_TOKEN=$ALICE_TOKEN
  export BOB_TOKEN=$BOB_TOKEN

  # 401 Jwt is missing
  curl -vik http://localhost:8080/headers -H "host: www.example.com:8080"
  # 200: Alice is in team dev, which matches "de."
  curl -vik http://localhost:8080/headers -H "host: www.example.com:8080" -H "Authorization: Bearer \$ALICE_TOKEN"
  # 403 RBAC: access denied: Bob is in team ops
  curl -vik http://localhost:8080/headers -H "host: www.example.com:8080" -H "Authorization: Bearer \$BOB_TOKEN"

  # The guide's last step (LIST_CONTAINS on llms.mistralai): Alice 403, Bob 200
  cp examples/gateway-jwt-steps/routeoption-list-contains.yaml $resources/routeoption.yaml

Ctrl-C stops all three.
EOT
wait -n "${pids[@]}"
