#!/usr/bin/env bash
# `make run`: the guide, live. Starts httpbin on 127.0.0.1:8000, gatewarden
# serving .cache/run/resources (a fresh copy, made on every start, of the
# guide's Gateway and httpbin manifests, with no policy yet: the README's
# walkthrough adds the policies one step at a time), and Envoy on :8080 with
# the bootstrap gatewarden writes. The banner is printed only once all three
# answer; a port already in use or a process that does not come up ends the
# script at once with a non-zero status, naming the port or the process.
#
# Ctrl-C stops all three and ends with status 0. On a terminal the script
# reads Ctrl-C as a key (stty -isig) rather than letting the terminal send
# SIGINT: the signal would also reach make, which then reports the run as
# failed ("Error 130") or dies of it. SIGINT and SIGTERM sent otherwise stop
# it the same way.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
ENVOY_BIN="${ENVOY_BIN:-$root/.cache/bin/envoy}"
work="$root/.cache/run"
resources="$work/resources"
# How long each process has to come up.
START_TIMEOUT="${START_TIMEOUT:-20}"

die() {
  echo "run.sh: $*" >&2
  exit 1
}

command -v curl >/dev/null || die "curl is needed (run.sh checks with it that Envoy answers, and the walkthrough uses it): install it, e.g. apt-get install curl"
for b in bin/gatewarden bin/httpbin; do
  [[ -x "$b" ]] || die "$b not found: build it with make build (make run does)"
done
[[ -x "$ENVOY_BIN" ]] || die "Envoy not found at $ENVOY_BIN: install it with make envoy (make run does), or set ENVOY_BIN"

# The ports, checked before anything is started or the last run's files are
# removed (a run already going keeps its directory).
ports=(8000 9090 18000 8080 19000)
declare -A purpose=([8000]="httpbin" [9090]="gatewarden's admin endpoint" [18000]="gatewarden's xDS server"
  [8080]="Envoy's listener" [19000]="Envoy's admin endpoint")

# holder PORT: the process listening on PORT, as ss tells it ("name (pid N)"),
# or nothing when ss cannot tell (not installed, or another user's process).
holder() {
  command -v ss >/dev/null || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -1 |
    sed -E 's/users:\(\("([^"]*)",pid=([0-9]*)/\1 (pid \2)/'
}

# in_use PORT: whether something listens on PORT (any address).
in_use() {
  if command -v ss >/dev/null; then
    [[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

for p in "${ports[@]}"; do
  if in_use "$p"; then
    who="$(holder "$p")"
    die "port $p (${purpose[$p]}) is already in use${who:+ by $who}: stop that process (another make run?) and start again"
  fi
done

rm -rf "$work"
mkdir -p "$resources"
cp examples/gateway-jwt/gateway.yaml examples/gateway-jwt/httpbin.yaml "$resources/"

pids=()
names=()
logs=()
tty_saved=""
cleanup() {
  trap - INT TERM EXIT
  [[ -n "$tty_saved" ]] && stty "$tty_saved" 2>/dev/null
  if ((${#pids[@]})); then
    echo
    echo "stopping httpbin, gatewarden and Envoy"
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
  fi
  # Envoy's admin socket (the bootstrap's default), which a killed Envoy
  # leaves behind.
  rm -f /tmp/envoy-admin-gloo-system-http.sock
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

# started NAME LOG: records the process just started in the background.
started() {
  pids+=($!)
  names+=("$1")
  logs+=("$2")
}

# exited I: whether process I has exited; if so, says so with its log.
exited() {
  kill -0 "${pids[$1]}" 2>/dev/null && return 1
  echo "run.sh: ${names[$1]} exited; the end of its log (${logs[$1]}):" >&2
  tail -n 20 "${logs[$1]}" >&2
  return 0
}

# await I WHAT CMD...: waits until CMD succeeds, failing when process I exits
# or START_TIMEOUT passes.
await() {
  local i=$1 what=$2
  shift 2
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    exited "$i" && exit 1
    ((SECONDS < deadline)) || die "${names[$i]} did not $what within ${START_TIMEOUT}s; its log: ${logs[$i]}"
    sleep 0.1
  done
}

envoy_answers() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: www.example.com:8080' http://localhost:8080/headers)"
  [[ "$code" == 200 ]]
}

bin/httpbin -addr 127.0.0.1:8000 </dev/null >"$work/httpbin.log" 2>&1 &
started httpbin "$work/httpbin.log"
await 0 "answer on 127.0.0.1:8000" curl -sf http://127.0.0.1:8000/get

bin/gatewarden serve --resources "$resources" --xds-address 127.0.0.1:18000 --admin-address 127.0.0.1:9090 \
  </dev/null 2> >(tee "$work/gatewarden.log" >&2) &
started gatewarden "$work/gatewarden.log"
await 1 "become ready (http://127.0.0.1:9090/readyz)" curl -sf http://127.0.0.1:9090/readyz

bin/gatewarden bootstrap --gateway gloo-system/http --xds-address 127.0.0.1:18000 >"$work/envoy.yaml"
"$ENVOY_BIN" -c "$work/envoy.yaml" --log-level warn --disable-hot-restart </dev/null >"$work/envoy.log" 2>&1 &
started Envoy "$work/envoy.log"
await 2 "answer 200 on :8080 (the guide's route, no policy yet)" envoy_answers

echo
echo "gatewarden serves $resources to Envoy on :8080: a fresh copy, made on every start,"
echo "of the guide's Gateway and httpbin, no policy yet."
echo "Logs: $work/{gatewarden,envoy,httpbin}.log   Admin: http://127.0.0.1:9090/debug/config"
echo "The walkthrough (README.md), from the repository root:"
echo
echo "  cd $root"
# The walkthrough's steps and commands, as README.md has them (its "$ "
# lines between the walkthrough markers): the banner cannot drift from it.
awk '/^<!-- walkthrough/ { on = 1; next }
     /^<!-- \/walkthrough/ { on = 0 }
     on && /^[0-9]+\. / { print ""; print "  # " $0 }
     on && /^ *\$ / { sub(/^ *\$ /, ""); print "  " $0 }' README.md
echo
echo "Ctrl-C stops all three."

if [[ -t 0 ]]; then
  tty_saved="$(stty -g)"
  # Ctrl-C arrives as a byte (see the top); reads time out after 0.5 s.
  stty -isig -icanon -echo min 0 time 5
fi
while :; do
  for i in "${!pids[@]}"; do
    exited "$i" && exit 1
  done
  if [[ -n "$tty_saved" ]]; then
    key="$(dd bs=1 count=1 2>/dev/null; echo .)"
    [[ "${key%.}" == $'\x03' ]] && exit 0
  else
    sleep 0.5
  fi
done
