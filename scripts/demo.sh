#!/usr/bin/env bash
# Offline demo: funcgate against the local development issuer, three calls with curl.
# Run by `make demo` after it has built cargo funcgate, whose `dev` runs the app and the issuer
# and whose `token` mints the tokens.
set -euo pipefail
cd "$(dirname "$0")/.."

FUNCGATE_BIN="${FUNCGATE_BIN:-${CARGO_TARGET_DIR:-target}/debug/cargo-funcgate}"
# cargo funcgate dev runs the app as `func start` would: on local.settings.json's port.
BASE="http://127.0.0.1:7071"

[[ -f local.secrets.json ]] || echo '{"demo": "funcgate-demo-value"}' > local.secrets.json

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Stopped, it stops the app it started.
"${FUNCGATE_BIN}" funcgate dev --no-watch > /dev/null 2>&1 &
pids+=("$!")

for _ in $(seq 1 600); do
  if curl -fsS "${BASE}/health" 2>/dev/null | grep -q '"loaded":true'; then break; fi
  sleep 0.1
done

show() {
  printf '\n$ %s\n' "$1"
  shift
  curl -sS -i "$@" | tr -d '\r' | grep -Ev '^(date|content-length):'
  printf '\n'
}

token() { "${FUNCGATE_BIN}" funcgate token "$@"; }

echo "funcgate demo: the app on ${BASE}, the dev issuer on http://127.0.0.1:7099 (cargo funcgate dev)"
show "curl -i ${BASE}/vault/demo   # no token" "${BASE}/vault/demo"
READER="$(token --roles Reader)"
show "curl -i -H 'Authorization: Bearer <token with role Reader>' ${BASE}/vault/demo" \
  -H "Authorization: Bearer ${READER}" "${BASE}/vault/demo"
WRITER="$(token --roles GetSecret)"
show "curl -i -H 'Authorization: Bearer <token with role GetSecret>' ${BASE}/vault/demo" \
  -H "Authorization: Bearer ${WRITER}" "${BASE}/vault/demo"
EXPIRED="$(token --roles GetSecret --ttl -600)"
show "curl -i -H 'Authorization: Bearer <expired token>' ${BASE}/vault?secret=demo" \
  -H "Authorization: Bearer ${EXPIRED}" "${BASE}/vault?secret=demo"
