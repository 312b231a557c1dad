#!/usr/bin/env bash
# Offline development: ./handler on http://localhost:7071 against the local development issuer,
# so the README's curl lines work on a fresh clone with no Azure. Run by `make dev` after it
# has built ./handler and the dev_issuer example; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

ISSUER_PORT="${ISSUER_PORT:-7099}"
# Standalone mode, as without the host: the port is local.settings.json's Host.LocalHttpPort.
PORT=7071
ISSUER_BIN="${ISSUER_BIN:-${CARGO_TARGET_DIR:-target}/release/examples/dev_issuer}"
# The dev issuer's tenant and API (examples/dev_issuer.rs): nothing real trusts its key.
TENANT="dddddddd-0000-4000-8000-000000000001"
CLIENT="dddddddd-0000-4000-8000-0000000000a1"

[[ -f local.secrets.json ]] || echo '{"demo": "funcgate-demo-value"}' > local.secrets.json

"${ISSUER_BIN}" "${ISSUER_PORT}" > /dev/null &
issuer=$!
trap 'kill "${issuer}" 2>/dev/null || true' EXIT

cat <<HELP
funcgate (dev): http://localhost:${PORT}, trusting the local dev issuer on :${ISSUER_PORT}.
In another terminal:
  curl -i localhost:${PORT}/health
  curl -i localhost:${PORT}/vault/demo                                   # 401
  TOKEN=\$(curl -s 'http://127.0.0.1:${ISSUER_PORT}/token?roles=GetSecret')
  curl -i -H "Authorization: Bearer \$TOKEN" localhost:${PORT}/vault/demo  # 200
  curl -i -H "Authorization: Bearer \$TOKEN" localhost:${PORT}/whoami
Other tokens: /token?roles=A,B  /token?scp=Api.Read  /token?ttl=-600 (expired)
  /token?roles=SetSecret&acrs=c1&xms_cc=cp1 (step-up)  /token?upn=ada@contoso.com
HELP

# Standalone mode (no FUNCTIONS_CUSTOMHANDLER_PORT: no host); these settings win over
# local.settings.json's placeholders.
AUTH_TENANT_ID="${TENANT}" AUTH_CLIENT_ID="${CLIENT}" \
  AUTH_INSTANCE="http://127.0.0.1:${ISSUER_PORT}" AUTH_DEBUG_ERRORS=true ./handler
