#!/usr/bin/env bash
# Sets up funcgate in Azure with the Azure CLI, step by step:
#   1. the API app registration, its app roles (GetSecret to read, SetSecret to write through
#      vault) and its api://{client id} URI, v2 access tokens;
#   2. a resource group, a storage account and a Linux Function App (custom handler runtime) on
#      the Flex Consumption plan (default) or the Linux Consumption plan;
#   3. the Function App's system-assigned managed identity, granted KEY_VAULT_ROLE on the vault
#      ("Key Vault Secrets User": reads only; "Key Vault Secrets Officer" lets PUT /vault write);
#   4. funcgate's app settings (what the plan accepts, nothing it refuses);
#   5. a deployment identity for GitHub Actions with an OpenID Connect federated credential.
# Idempotent: every step looks before it creates, so re-running it updates in place. A lookup
# that fails (not logged in, no permission, network) stops the script with the command that
# failed; it is never mistaken for "not found".
#
# Usage: scripts/azure-setup.sh [--plan flex|consumption] [--dry-run]
#   --plan flex         Flex Consumption (default): Microsoft's current serverless plan.
#   --plan consumption  Linux Consumption (reaches end of life on 30 September 2028).
#   --dry-run           prints every command, one `az ...` line each, instead of running it (no
#                       Azure login needed); `make check-azure-cli` runs them through the real CLI.
# Every value is a variable (override any of them in the environment).
set -euo pipefail

PREFIX="${PREFIX:-funcgate}"
LOCATION="${LOCATION:-westeurope}"
RESOURCE_GROUP="${RESOURCE_GROUP:-rg-${PREFIX}}"
STORAGE_ACCOUNT="${STORAGE_ACCOUNT:-st${PREFIX//-/}fn}"
FUNCTION_APP="${FUNCTION_APP:-func-${PREFIX}}"
# Flex Consumption deploys from a blob container the app reads with its managed identity.
DEPLOYMENT_CONTAINER="${DEPLOYMENT_CONTAINER:-app-package-${FUNCTION_APP}}"
KEY_VAULT="${KEY_VAULT:-kv-${PREFIX}}"
KEY_VAULT_RESOURCE_GROUP="${KEY_VAULT_RESOURCE_GROUP:-${RESOURCE_GROUP}}"
API_APP_NAME="${API_APP_NAME:-${PREFIX}-api}"
APP_ROLE_VALUE="${APP_ROLE_VALUE:-GetSecret}"
APP_ROLE_ID="${APP_ROLE_ID:-6b3c0e52-5f0a-4e58-9a8e-3f2a1d7c9b10}"
WRITE_ROLE_VALUE="${WRITE_ROLE_VALUE:-SetSecret}"
WRITE_ROLE_ID="${WRITE_ROLE_ID:-0d5f3b7a-9c21-4e6b-8a4d-2e1f6c8b7a35}"
# The managed identity's role on the vault: reads only unless writes through vault are wanted.
KEY_VAULT_ROLE="${KEY_VAULT_ROLE:-Key Vault Secrets User}"
DEPLOY_APP_NAME="${DEPLOY_APP_NAME:-${PREFIX}-github-deploy}"
GITHUB_REPOSITORY="${GITHUB_REPOSITORY:-your-org/funcgate}"
GITHUB_ENVIRONMENT="${GITHUB_ENVIRONMENT:-production}"
AUTH_DEBUG_ERRORS="${AUTH_DEBUG_ERRORS:-false}"

usage() { echo "usage: $0 [--plan flex|consumption] [--dry-run]" >&2; exit 2; }

PLAN=flex
DRY_RUN=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --plan)
      [[ $# -ge 2 ]] || usage
      PLAN="$2"
      shift
      ;;
    --plan=*) PLAN="${1#--plan=}" ;;
    *) usage ;;
  esac
  shift
done
case "${PLAN}" in
  flex | consumption) ;;
  *) echo "$0: --plan must be flex or consumption, got '${PLAN}'" >&2; exit 2 ;;
esac

# Dry-run lines go to fd 3, a copy of stdout that $(...) does not capture, so queries run
# inside command substitutions still print their command where the reader sees it.
exec 3>&1

# Prints a command as one shell-quoted line, which `make check-azure-cli` runs as it stands.
show() {
  printf '%q ' "$@" | sed 's/ $//'
  printf '\n'
}

# Runs a command that changes something, or prints it in dry-run mode.
run() {
  if [[ "${DRY_RUN}" == 1 ]]; then
    show "$@" >&3
  else
    "$@"
  fi
}

# Runs a read-only query and prints its answer; in dry-run mode prints the command and answers
# PLACEHOLDER (lookups answer nothing, so a dry run prints the create path too). A failing query stops the script: an empty answer must mean "none", never "the
# lookup broke".
query() {
  local placeholder="$1"
  shift
  if [[ "${DRY_RUN}" == 1 ]]; then
    show "$@" >&3
    printf '%s' "${placeholder}"
    return 0
  fi
  local out
  if ! out="$("$@")"; then
    echo "azure-setup: this lookup failed, stopping: $(show "$@")" >&2
    exit 1
  fi
  printf '%s' "${out}"
}

# The one answer of a lookup that must find at most one thing.
single() {
  local what="$1" answer="$2"
  if [[ "$(printf '%s' "${answer}" | grep -c .)" -gt 1 ]]; then
    echo "azure-setup: more than one ${what} matches; remove the extra ones or change the name" >&2
    exit 1
  fi
  printf '%s' "${answer}"
}

step() {
  if [[ "${DRY_RUN}" == 1 ]]; then
    printf '# == %s\n' "$*" >&3
  else
    printf '\n== %s\n' "$*" >&2
  fi
}

app_role() {
  printf '{"allowedMemberTypes": ["Application", "User"], "description": "%s", "displayName": "%s", "id": "%s", "isEnabled": true, "value": "%s"}' \
    "$1" "$2" "$3" "$2"
}
APP_ROLES="[$(app_role "Read secrets through funcgate's vault function" "${APP_ROLE_VALUE}" "${APP_ROLE_ID}"), $(app_role "Write secrets through funcgate's vault function" "${WRITE_ROLE_VALUE}" "${WRITE_ROLE_ID}")]"

step "1. API app registration ${API_APP_NAME} with app roles ${APP_ROLE_VALUE} and ${WRITE_ROLE_VALUE}"
# Lookups are plain assignments: under `set -e` a failure inside [[ ... ]] or inside another
# command's arguments would be ignored and read as "not found".
FOUND="$(query '' az ad app list --filter "displayName eq '${API_APP_NAME}'" --query '[].appId' -o tsv)"
API_APP_ID="$(single "app registration named ${API_APP_NAME}" "${FOUND}")"
if [[ -z "${API_APP_ID}" ]]; then
  API_APP_ID="$(query '<api-client-id>' az ad app create --display-name "${API_APP_NAME}" \
    --sign-in-audience AzureADMyOrg --query appId -o tsv)"
fi
# v2 access tokens (issuer login.microsoftonline.com/{tenant}/v2.0), the role, the URI.
run az ad app update --id "${API_APP_ID}" --identifier-uris "api://${API_APP_ID}" \
  --app-roles "${APP_ROLES}" --requested-access-token-version 2
API_SP_ID="$(query '' az ad sp list --filter "appId eq '${API_APP_ID}'" --query '[].id' -o tsv)"
if [[ -z "${API_SP_ID}" ]]; then
  run az ad sp create --id "${API_APP_ID}"
fi
TENANT_ID="$(query '<tenant-id>' az account show --query tenantId -o tsv)"

step "2. Resource group, storage and Function App ${FUNCTION_APP} (Linux, custom handler, plan ${PLAN})"
run az group create --name "${RESOURCE_GROUP}" --location "${LOCATION}" --output none
FOUND="$(query '' az storage account list -g "${RESOURCE_GROUP}" --query "[?name=='${STORAGE_ACCOUNT}'].name" -o tsv)"
if [[ -z "${FOUND}" ]]; then
  run az storage account create --name "${STORAGE_ACCOUNT}" --resource-group "${RESOURCE_GROUP}" \
    --location "${LOCATION}" --sku Standard_LRS --min-tls-version TLS1_2 --allow-blob-public-access false --output none
fi
FOUND="$(query '' az functionapp list -g "${RESOURCE_GROUP}" --query "[?name=='${FUNCTION_APP}'].name" -o tsv)"
if [[ -z "${FOUND}" ]]; then
  if [[ "${PLAN}" == flex ]]; then
    # Flex: the custom runtime takes no --runtime-version; the app's system-assigned identity
    # reads the deployment container (the CLI creates it and grants Storage Blob Data
    # Contributor on the account).
    run az functionapp create --name "${FUNCTION_APP}" --resource-group "${RESOURCE_GROUP}" \
      --storage-account "${STORAGE_ACCOUNT}" --flexconsumption-location "${LOCATION}" \
      --runtime custom --functions-version 4 --https-only true \
      --deployment-storage-name "${STORAGE_ACCOUNT}" \
      --deployment-storage-container-name "${DEPLOYMENT_CONTAINER}" \
      --deployment-storage-auth-type SystemAssignedIdentity --output none
  else
    run az functionapp create --name "${FUNCTION_APP}" --resource-group "${RESOURCE_GROUP}" \
      --storage-account "${STORAGE_ACCOUNT}" --consumption-plan-location "${LOCATION}" \
      --os-type Linux --runtime custom --functions-version 4 --https-only true --output none
  fi
fi
FUNCTION_APP_ID="$(query '<function-app-resource-id>' az functionapp show -g "${RESOURCE_GROUP}" -n "${FUNCTION_APP}" --query id -o tsv)"

step "3. Managed identity, granted ${KEY_VAULT_ROLE} on ${KEY_VAULT}"
PRINCIPAL_ID="$(query '<managed-identity-object-id>' az functionapp identity assign -g "${RESOURCE_GROUP}" -n "${FUNCTION_APP}" --query principalId -o tsv)"
VAULT_ID="$(query '<key-vault-resource-id>' az keyvault show -g "${KEY_VAULT_RESOURCE_GROUP}" -n "${KEY_VAULT}" --query id -o tsv)"
FOUND="$(query '' az role assignment list --assignee "${PRINCIPAL_ID}" --scope "${VAULT_ID}" --role "${KEY_VAULT_ROLE}" --query '[].id' -o tsv)"
if [[ -z "${FOUND}" ]]; then
  run az role assignment create --assignee-object-id "${PRINCIPAL_ID}" --assignee-principal-type ServicePrincipal \
    --role "${KEY_VAULT_ROLE}" --scope "${VAULT_ID}" --output none
fi

step "4. App settings"
SETTINGS=(
  "AUTH_TENANT_ID=${TENANT_ID}"
  "AUTH_CLIENT_ID=${API_APP_ID}"
  "AUTH_DEBUG_ERRORS=${AUTH_DEBUG_ERRORS}"
  "KEY_VAULT_URL=https://${KEY_VAULT}.vault.azure.net"
)
if [[ "${PLAN}" == consumption ]]; then
  # Flex takes the runtime from the app's configuration and refuses this setting.
  SETTINGS=("FUNCTIONS_WORKER_RUNTIME=custom" "${SETTINGS[@]}")
fi
run az functionapp config appsettings set -g "${RESOURCE_GROUP}" -n "${FUNCTION_APP}" --output none --settings "${SETTINGS[@]}"

step "5. GitHub Actions deployment identity for ${GITHUB_REPOSITORY} (environment ${GITHUB_ENVIRONMENT})"
FOUND="$(query '' az ad app list --filter "displayName eq '${DEPLOY_APP_NAME}'" --query '[].appId' -o tsv)"
DEPLOY_APP_ID="$(single "app registration named ${DEPLOY_APP_NAME}" "${FOUND}")"
if [[ -z "${DEPLOY_APP_ID}" ]]; then
  DEPLOY_APP_ID="$(query '<deploy-client-id>' az ad app create --display-name "${DEPLOY_APP_NAME}" --query appId -o tsv)"
fi
DEPLOY_SP_ID="$(query '' az ad sp list --filter "appId eq '${DEPLOY_APP_ID}'" --query '[].id' -o tsv)"
if [[ -z "${DEPLOY_SP_ID}" ]]; then
  DEPLOY_SP_ID="$(query '<deploy-sp-object-id>' az ad sp create --id "${DEPLOY_APP_ID}" --query id -o tsv)"
fi
SUBJECT="repo:${GITHUB_REPOSITORY}:environment:${GITHUB_ENVIRONMENT}"
FOUND="$(query '' az ad app federated-credential list --id "${DEPLOY_APP_ID}" --query "[?subject=='${SUBJECT}'].name" -o tsv)"
if [[ -z "${FOUND}" ]]; then
  run az ad app federated-credential create --id "${DEPLOY_APP_ID}" --parameters \
    "{\"name\": \"github-${GITHUB_ENVIRONMENT}\", \"issuer\": \"https://token.actions.githubusercontent.com\", \"subject\": \"${SUBJECT}\", \"audiences\": [\"api://AzureADTokenExchange\"]}"
fi
# Publishing (Flex's one-deploy endpoint, Linux Consumption's package upload) needs the
# app's own rights only.
FOUND="$(query '' az role assignment list --assignee "${DEPLOY_SP_ID}" --scope "${FUNCTION_APP_ID}" --role "Website Contributor" --query '[].id' -o tsv)"
if [[ -z "${FOUND}" ]]; then
  run az role assignment create --assignee-object-id "${DEPLOY_SP_ID}" --assignee-principal-type ServicePrincipal \
    --role "Website Contributor" --scope "${FUNCTION_APP_ID}" --output none
fi
SUBSCRIPTION_ID="$(query '<subscription-id>' az account show --query id -o tsv)"

if [[ "${DRY_RUN}" == 1 ]]; then
  exit 0
fi
cat <<DONE

Done (plan: ${PLAN}). In GitHub (${GITHUB_REPOSITORY}), environment "${GITHUB_ENVIRONMENT}":
  secrets   AZURE_CLIENT_ID=${DEPLOY_APP_ID}  AZURE_TENANT_ID=${TENANT_ID}  AZURE_SUBSCRIPTION_ID=${SUBSCRIPTION_ID}
  secret    AZURE_FUNCTIONAPP_NAME=${FUNCTION_APP}
The deploy workflow finds the plan by itself. Callers need the app role: grant
"${APP_ROLE_VALUE}" (and "${WRITE_ROLE_VALUE}" to write) of ${API_APP_NAME} (api://${API_APP_ID}) to each calling app or user.
DONE
