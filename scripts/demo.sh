#!/usr/bin/env bash
# Offline demo: funcgate against the local development issuer, three calls with curl.
# Run by `make demo` after it has built ./handler and the dev_issuer example.
set -euo pipefail
cd "$(dirname "$0")/.."

ISSUER_PORT="${ISSUER_PORT:-7099}"
HANDLER_PORT="${HANDLER_PORT:-7072}"
ISSUER_BIN="${ISSUER_BIN:-${CARGO_TARGET_DIR:-target}/release/examples/dev_issuer}"
TENANT="dddddddd-0000-4000-8000-000000000001"
CLIENT="dddddddd-0000-4000-8000-0000000000a1"
BASE="http://127.0.0.1:${HANDLER_PORT}"

[[ -f local.secrets.json ]] || echo '{"demo": "funcgate-demo-value"}' > local.secrets.json

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"${ISSUER_BIN}" "${ISSUER_PORT}" > /dev/null &
pids+=("$!")
AUTH_TENANT_ID="${TENANT}" AUTH_CLIENT_ID="${CLIENT}" AUTH_INSTANCE="http://127.0.0.1:${ISSUER_PORT}" \
  AUTH_DEBUG_ERRORS=true FUNCTIONS_CUSTOMHANDLER_PORT="${HANDLER_PORT}" RUST_LOG=warn ./handler &
pids+=("$!")

for _ in $(seq 1 100); do
  if curl -fsS "${BASE}/health" 2>/dev/null | grep -q '"loaded":true'; then break; fi
  sleep 0.1
done

show() {
  printf '\n$ %s\n' "$1"
  shift
  curl -sS -i "$@" | tr -d '\r' | grep -Ev '^(date|content-length):'
  printf '\n'
}

token() { curl -fsS "http://127.0.0.1:${ISSUER_PORT}/token?$1"; }

echo "funcgate demo: handler on ${BASE}, dev issuer on http://127.0.0.1:${ISSUER_PORT}"
show "curl -i ${BASE}/vault/demo   # no token" "${BASE}/vault/demo"
READER="$(token 'roles=Reader')"
show "curl -i -H 'Authorization: Bearer <token with role Reader>' ${BASE}/vault/demo" \
  -H "Authorization: Bearer ${READER}" "${BASE}/vault/demo"
WRITER="$(token 'roles=GetSecret')"
show "curl -i -H 'Authorization: Bearer <token with role GetSecret>' ${BASE}/vault/demo" \
  -H "Authorization: Bearer ${WRITER}" "${BASE}/vault/demo"
EXPIRED="$(token 'roles=GetSecret&ttl=-600')"
show "curl -i -H 'Authorization: Bearer <expired token>' ${BASE}/vault?secret=demo" \
  -H "Authorization: Bearer ${EXPIRED}" "${BASE}/vault?secret=demo"
