#!/usr/bin/env bash
# Sets up funcgate's own app in Azure: the same script every app made by `cargo funcgate new`
# gets (cargo-funcgate/templates/app/scripts/azure-setup.sh; its header says what it does),
# with funcgate's names: the vault function's app roles, no delegated scopes, a Key Vault.
# Usage: scripts/azure-setup.sh [--plan flex|consumption] [--dry-run]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export APP_DIR="${APP_DIR:-${root}}"
export PREFIX="${PREFIX:-funcgate}"
# The ids the roles always had here, so re-running keeps the roles callers were granted.
export APP_ROLES="${APP_ROLES-GetSecret=6b3c0e52-5f0a-4e58-9a8e-3f2a1d7c9b10,SetSecret=0d5f3b7a-9c21-4e6b-8a4d-2e1f6c8b7a35}"
export SCOPES="${SCOPES-}"
export GITHUB_REPOSITORY="${GITHUB_REPOSITORY:-your-org/funcgate}"
exec bash "${root}/cargo-funcgate/templates/app/scripts/azure-setup.sh" "$@"
