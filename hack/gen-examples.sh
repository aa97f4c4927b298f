#!/usr/bin/env bash
# Regenerates examples/*/README.md: each README's commands are run here and
# their real output pasted under them. Needs bin/gatewarden (make build);
# serves examples/remote-jwks/jwks on 127.0.0.1:8081 and examples/external-idp's
# identity provider on 127.0.0.1:8443 (HTTPS) while it runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# The READMEs spell the command `gatewarden`, as installed by make install;
# here it is the one just built.
export PATH="$root/bin:$PATH"
gw="gatewarden"
source examples/gateway-jwt/tokens.env
source examples/keys/tokens.env
export ALICE_TOKEN BOB_TOKEN CAROL_TOKEN

python3 -m http.server 8081 --bind 127.0.0.1 --directory examples/remote-jwks/jwks >/dev/null 2>&1 &
server=$!
python3 examples/external-idp/serve.py >/dev/null 2>&1 &
idp=$!
trap 'kill $server $idp' EXIT
sleep 1

# show CMD: prints the command and its output, as in a terminal.
show() {
  echo '```'
  echo "\$ $1"
  # The tokens are long: show them by name.
  (eval "$1" 2>&1 || true) | sed -e "s/$ALICE_TOKEN/\$ALICE_TOKEN/g; s/$BOB_TOKEN/\$BOB_TOKEN/g; s/$CAROL_TOKEN/\$CAROL_TOKEN/g"
  echo '```'
}
explain() { # explain EXAMPLE PATH TOKEN-VAR
  local tok=""
  [[ -n "${3:-}" ]] && tok=" --token \"\$$3\""
  show "$gw explain --resources examples/$1 --url http://www.example.com:8080$2$tok"
}

write() { # write EXAMPLE: README from stdin
  cat > "examples/$1/README.md"
  echo "examples/$1/README.md"
}

{
cat <<'MD'
# The guide: gateway-level JWT policy

The manifests of the Gloo Gateway guide "Gateway-level JWT policy", unchanged
(`virtualhostoption.yaml`, `routeoption.yaml`; the guide's last step is
`../gateway-jwt-steps/routeoption-list-contains.yaml`), with the Gateway and
the httpbin Service, EndpointSlice and HTTPRoute they need. `make run` and
the walkthrough of the top README serve them to a real Envoy one step at a
time; the tokens are in `tokens.env`. `gatewarden` is `bin/gatewarden`, or
on your PATH after `make install`.

```sh
source examples/gateway-jwt/tokens.env
```

No token: the VirtualHostOption requires one on every route of the Gateway.

MD
explain gateway-jwt /headers
echo; echo "Alice is in team \`dev\`, which the RouteOption's \`de.\` (REGEX_MATCH, full match) allows:"; echo
explain gateway-jwt /headers ALICE_TOKEN
echo; echo "Bob is in team \`ops\`:"; echo
explain gateway-jwt /headers BOB_TOKEN
} | write gateway-jwt

{
cat <<'MD'
# JWT on one route only

`routeoption.yaml` defines the JWT provider at route level
(`jwtProvidersStaged.afterExtAuth`) and adds RBAC (team `dev`); the HTTPRoute
names it with an `ExtensionRef` filter on its `/headers` rule only. There is no
VirtualHostOption: `/anything/public` stays open.

MD
explain route-jwt /anything/public
echo
explain route-jwt /headers
echo
explain route-jwt /headers ALICE_TOKEN
echo
explain route-jwt /headers BOB_TOKEN
} | write route-jwt

{
cat <<'MD'
# Keys from a JWKS server

The guide's provider with `jwks.remote`: Envoy fetches the keys through the
`jwks` Service (`jwks.yaml`) and keeps them for `cacheDuration`. Here the
server is a static file server for `jwks/keys.jwks` (the guide's public key):

```sh
python3 -m http.server 8081 --bind 127.0.0.1 --directory examples/remote-jwks/jwks
```

`explain` fetches the keys the same way Envoy does, through the Service's
endpoints (`jwks.localhost` is the loopback address, for Envoy as for explain).

MD
explain remote-jwks /headers ALICE_TOKEN
echo; echo "Carol's token comes from another issuer:"; echo
explain remote-jwks /headers CAROL_TOKEN
} | write remote-jwks

{
cat <<'MD'
# An identity provider outside the cluster

Tokens from Keycloak, Auth0, Okta, Entra ID, Google or Dex are signed with keys
published at an HTTPS JWKS URL outside the cluster, which rotate. Here the
provider is `idp.localhost:8443` (`serve.py`: the guide's public key in
`jwks/keys.jwks`, over HTTPS with a certificate of `tls/ca.crt`):

```sh
python3 examples/external-idp/serve.py
```

- `idp.yaml`: an `ExternalName` Service names the provider's host, which Envoy
  resolves by DNS; `jwks.remote.upstreamRef` names that Service. A
  `BackendTLSPolicy` targeting it gives the CA (ConfigMap key `ca.crt`) and
  the name the certificate must carry (`hostname`, or `subjectAltNames`).
  Without a policy, an `https` URL is checked against the system's trusted
  authorities for the URL's host. The name is always checked.
- `virtualhostoption.yaml`: the provider. `upstreamRef` may not be omitted:
  a URL's host alone would let an option make Envoy fetch from any host of
  the cluster's network past the ReferenceGrants that guard a Service; name
  an outside host with an `ExternalName` Service of the option's namespace.

gatewarden's fetch defaults (the Gloo fields `cacheDuration` and
`asyncFetch.fastListener` are honoured): each fetch times out after 5 s and is
retried twice with backoff (0.5 s to 5 s); keys are fetched when the
configuration arrives and again every `cacheDuration` (default 5m), not on the
first request; when a refetch fails (the provider is down) Envoy keeps the keys
it has, counts `jwks_fetch_failed`, and tries again after
min(`cacheDuration`, 10 s). A rotation is seen within `cacheDuration`. A
reference that cannot be resolved (no such Service, port or ready endpoint, an
`ExternalName` without a name or to a loopback or link-local host, a CA that
is missing or not PEM) refuses the option with a reason in its status, and its
routes answer 500, rather than Envoy refusing every token.

`explain` fetches the keys as Envoy does, through the cluster, with its TLS
settings:

MD
explain external-idp /headers ALICE_TOKEN
echo; echo "Carol's token comes from another issuer:"; echo
explain external-idp /headers CAROL_TOKEN
cat <<'MD'

With `--server ADMIN --envoy-admin unix:PATH` (Envoy's admin socket, as
`gatewarden bootstrap` sets it) explain also reads the running Envoy's stats
and says whether it holds the provider's keys, and why not: for example
`keys NOT loaded ... TLS handshakes refused the server's certificate (not
signed by the trusted CA: ssl.fail_verify_error)`.

The keys in `tls/` are examples: never use them outside this example.
MD
} | write external-idp

{
cat <<'MD'
# Claims to headers

The guide's provider copies `sub` into `x-user` and `team` into `x-team` for
the upstream, and removes the token (`keepToken: false`). Served by `gatewarden
serve` to Envoy, httpbin echoes (from `e2e/examples_test.go`):

```
"X-Team": [ "dev" ],
"X-User": [ "alice" ],
```

and no `Authorization` header. A client's own `x-user` header is dropped
before the claim is written, so it cannot be forged.

MD
explain claims-to-headers /headers ALICE_TOKEN
} | write claims-to-headers

{
cat <<'MD'
# Several providers

Two providers, OR-ed: the guide's `selfminted` and `partner` (the example key
in `../keys`). RBAC allows team `dev` from either, or a `partner` token whose
`partner` claim is `acme`.

```sh
source examples/gateway-jwt/tokens.env; source examples/keys/tokens.env
```

MD
explain several-providers /headers ALICE_TOKEN
echo
explain several-providers /headers BOB_TOKEN
echo
explain several-providers /headers CAROL_TOKEN
} | write several-providers
