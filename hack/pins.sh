# Sourced by the install scripts of the tools built from a module pinned
# under hack/ (install-kube.sh, install-golangci-lint.sh): root is the
# repository, bin the tool cache .cache/bin (created), and pin_sum DIR the
# hash of hack/DIR's pins, which names a build so that it is redone only
# when the pins change.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.cache/bin"
mkdir -p "$bin"
pin_sum() { cat "$root/hack/$1/go.mod" "$root/hack/$1/go.sum" | sha256sum | cut -d' ' -f1; }
