#!/usr/bin/env bash
# Runs every command `scripts/azure-setup.sh --dry-run` prints, for both plans, through the real
# Azure CLI with no login. A command passes when the CLI gets past argument parsing and asks
# for `az login`; it fails on the CLI's parsing errors (unrecognized arguments, missing
# required arguments, invalid choices or values) or on any other answer. A dry run cannot
# catch a flag the CLI refuses at run time; this can.
#
# The CLI comes from PyPI, pinned, into a git-ignored venv (.ci/azure-cli).
# Usage: scripts/check-azure-cli.sh   (make check-azure-cli)
set -euo pipefail
cd "$(dirname "$0")/.."

AZURE_CLI_VERSION="${AZURE_CLI_VERSION:-2.91.0}"
VENV=".ci/azure-cli"
AZ="${VENV}/bin/az"

if [[ ! -x "${AZ}" ]] || ! "${AZ}" version --query '"azure-cli"' -o tsv 2>/dev/null | grep -qx "${AZURE_CLI_VERSION}"; then
  echo "check-azure-cli: installing azure-cli ${AZURE_CLI_VERSION} into ${VENV} (a few minutes)"
  python3 -m venv "${VENV}"
  "${VENV}/bin/pip" install --quiet --disable-pip-version-check "azure-cli==${AZURE_CLI_VERSION}"
fi

# No login, no telemetry, nothing from a developer's own ~/.azure.
CONFIG="$(mktemp -d)"
trap 'rm -rf "${CONFIG}"' EXIT
export AZURE_CONFIG_DIR="${CONFIG}" AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_ONLY_SHOW_ERRORS=true \
  AZURE_CORE_NO_COLOR=true AZURE_CORE_SURVEY_MESSAGE=false
BIN="$(cd "$(dirname "${AZ}")" && pwd)"

failures=0
checked=0
# Both plans with funcgate's own app (roles, Key Vault), then a team's app on Flex: delegated
# scopes, an authentication context, no Key Vault; then a team's MCP server (its resource URI,
# VS Code pre-authorized, the preview's feature flag).
for variant in flex consumption team mcp; do
  plan="${variant/team/flex}"
  plan="${plan/mcp/flex}"
  team=()
  if [[ "${variant}" == team ]]; then
    team=(env "SCOPES=Orders.Read,Orders.Write" "APP_ROLES=Orders.Admin" "AUTH_CONTEXT=c1:Require MFA" VAULT=no)
  elif [[ "${variant}" == mcp ]]; then
    team=(env "SCOPES=Orders.Read" "APP_ROLES=Orders.Admin" MCP_PATHS=mcp
      PREAUTHORIZED_CLIENTS=aebc6443-996d-45c2-90f0-388ff96faa56 VAULT=no)
  fi
  while IFS= read -r line; do
    [[ "${line}" == az\ * ]] || continue
    checked=$((checked + 1))
    # The line is shell-quoted by the setup script (printf %q): eval rebuilds its arguments.
    out="$(PATH="${BIN}:${PATH}" timeout 120 bash -c "eval \"\$1\"" _ "${line}" </dev/null 2>&1 || true)"
    if grep -qiE "unrecognized arguments|the following arguments are required|invalid choice|is not a valid value|usage error|is not a valid input" <<<"${out}"; then
      verdict="FAIL (parsing)"
    elif grep -q "az login" <<<"${out}"; then
      verdict="ok"
    else
      verdict="FAIL (no login prompt)"
    fi
    if [[ "${verdict}" != ok ]]; then
      failures=$((failures + 1))
      printf '%-24s [%s] %s\n%s\n' "${verdict}" "${variant}" "${line}" "$(head -5 <<<"${out}" | sed 's/^/    /')"
    else
      printf 'ok   [%s] %s\n' "${variant}" "${line:0:110}"
    fi
  done < <("${team[@]}" bash scripts/azure-setup.sh --dry-run --plan "${plan}")
done

# A failing lookup must stop the script before anything is created, and an ambiguous name must
# be refused: run the real script against a stand-in `az` that fails, then one that finds two.
STUB="$(mktemp -d)"
trap 'rm -rf "${CONFIG}" "${STUB}"' EXIT
printf '#!/bin/sh\necho "ERROR: network down" >&2\nexit 1\n' >"${STUB}/az"
chmod +x "${STUB}/az"
checked=$((checked + 1))
if out="$(PATH="${STUB}:${PATH}" bash scripts/azure-setup.sh 2>&1)"; then
  echo "FAIL: the setup script went on after a failing lookup"; failures=$((failures + 1))
elif ! grep -q "this lookup failed, stopping: az ad app list" <<<"${out}"; then
  echo "FAIL: a failing lookup did not stop the script with its command: ${out}"; failures=$((failures + 1))
else
  echo "ok   a failing lookup stops the setup script"
fi
printf '#!/bin/sh\nprintf "%%s\\n" 11111111-0000-0000-0000-000000000001 11111111-0000-0000-0000-000000000002\n' >"${STUB}/az"
checked=$((checked + 1))
if out="$(PATH="${STUB}:${PATH}" bash scripts/azure-setup.sh 2>&1)" || ! grep -q "more than one app registration" <<<"${out}"; then
  echo "FAIL: two registrations with one name were not refused: ${out}"; failures=$((failures + 1))
else
  echo "ok   two app registrations with the same name are refused"
fi

echo "check-azure-cli: $((checked - failures)) passed, ${failures} failed (azure-cli ${AZURE_CLI_VERSION})"
[[ "${failures}" == 0 ]]
