#!/usr/bin/env bash
# Builds the Helm CLI (helm.sh/helm/v3, pinned in hack/helm/go.mod) into
# .cache/bin, for the chart tests (`helm lint`, `helm template`) and
# hack/gen-deploy.sh. Later runs reuse the binary while the pin is unchanged.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.cache/bin"
stamp="$bin/.helm.sum"
mkdir -p "$bin"
want="$(cat "$root/hack/helm/go.mod" "$root/hack/helm/go.sum" | sha256sum | cut -d' ' -f1)"
if [[ -x "$bin/helm" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "helm is up to date in $bin"
else
  cd "$root/hack/helm"
  v="$(go list -m -f '{{.Version}}' helm.sh/helm/v3)"
  echo "building helm $v into $bin (a minute or two the first time)" >&2
  start=$SECONDS
  go build -ldflags "-X helm.sh/helm/v3/internal/version.version=$v" -o "$bin/helm" helm.sh/helm/v3/cmd/helm
  echo "built helm $v in $((SECONDS - start)) s" >&2
  echo "$want" > "$stamp"
fi
"$bin/helm" version --short
