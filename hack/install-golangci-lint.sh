#!/usr/bin/env bash
# Builds golangci-lint from its module (pinned in hack/golangci-lint/go.mod)
# into .cache/bin, so `make lint` runs the same linters at the same version on
# every machine. Later runs reuse the binary while the pin is unchanged.
set -euo pipefail
source "$(dirname "$0")/pins.sh"
stamp="$bin/.golangci-lint.sum"
want="$(pin_sum golangci-lint)"
if [[ -x "$bin/golangci-lint" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
cd "$root/hack/golangci-lint"
ver="$(go list -m -f '{{.Version}}' github.com/golangci/golangci-lint/v2)"
echo "building golangci-lint $ver into $bin (a minute or two the first time)" >&2
start=$SECONDS
go build -ldflags "-X main.version=$ver" -o "$bin/golangci-lint" github.com/golangci/golangci-lint/v2/cmd/golangci-lint
echo "built golangci-lint $ver in $((SECONDS - start)) s" >&2
echo "$want" > "$stamp"
