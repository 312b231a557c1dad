#!/usr/bin/env bash
# Sets up funcgate in Azure with the Azure CLI, step by step:
#   1. the API app registration, its GetSecret app role and its api://{client id} URI;
#   2. a resource group, storage account and Linux Function App (custom handler runtime);
#   3. the Function App's managed identity, granted "Key Vault Secrets User" on the vault;
#   4. funcgate's app settings;
#   5. a deployment identity for GitHub Actions with an OpenID Connect federated credential.
# Idempotent: every step looks before it creates, so re-running it updates in place.
# Every value is a variable (override any of them in the environment).
#
# Usage: scripts/azure-setup.sh [--dry-run]
#   --dry-run prints the commands instead of running them (no Azure login needed).
set -euo pipefail

PREFIX="${PREFIX:-funcgate}"
LOCATION="${LOCATION:-westeurope}"
RESOURCE_GROUP="${RESOURCE_GROUP:-rg-${PREFIX}}"
STORAGE_ACCOUNT="${STORAGE_ACCOUNT:-st${PREFIX//-/}fn}"
FUNCTION_APP="${FUNCTION_APP:-func-${PREFIX}}"
KEY_VAULT="${KEY_VAULT:-kv-${PREFIX}}"
KEY_VAULT_RESOURCE_GROUP="${KEY_VAULT_RESOURCE_GROUP:-${RESOURCE_GROUP}}"
API_APP_NAME="${API_APP_NAME:-${PREFIX}-api}"
APP_ROLE_VALUE="${APP_ROLE_VALUE:-GetSecret}"
APP_ROLE_ID="${APP_ROLE_ID:-6b3c0e52-5f0a-4e58-9a8e-3f2a1d7c9b10}"
DEPLOY_APP_NAME="${DEPLOY_APP_NAME:-${PREFIX}-github-deploy}"
GITHUB_REPOSITORY="${GITHUB_REPOSITORY:-your-org/funcgate}"
GITHUB_ENVIRONMENT="${GITHUB_ENVIRONMENT:-production}"
AUTH_DEBUG_ERRORS="${AUTH_DEBUG_ERRORS:-false}"

DRY_RUN=0
case "${1:-}" in
  --dry-run) DRY_RUN=1 ;;
  "") ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

# Runs a command, or prints it in dry-run mode.
run() {
  if [[ "${DRY_RUN}" == 1 ]]; then
    printf '%q ' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# Runs a query and prints its answer; in dry-run mode prints the command and answers PLACEHOLDER.
query() {
  local placeholder="$1"
  shift
  if [[ "${DRY_RUN}" == 1 ]]; then
    printf '%q ' "$@" >&2
    printf '\n' >&2
    printf '%s' "${placeholder}"
  else
    "$@"
  fi
}

step() { printf '\n== %s\n' "$*" >&2; }

step "1. API app registration ${API_APP_NAME} with app role ${APP_ROLE_VALUE}"
API_APP_ID="$(query '<api-client-id>' az ad app list --display-name "${API_APP_NAME}" --query '[0].appId' -o tsv)"
if [[ -z "${API_APP_ID}" ]]; then
  API_APP_ID="$(query '<api-client-id>' az ad app create --display-name "${API_APP_NAME}" --sign-in-audience AzureADMyOrg --query appId -o tsv)"
fi
ROLES_FILE="$(mktemp)"
trap 'rm -f "${ROLES_FILE}"' EXIT
cat > "${ROLES_FILE}" <<JSON
[{"allowedMemberTypes": ["Application", "User"], "description": "Read secrets through funcgate's vault function",
  "displayName": "${APP_ROLE_VALUE}", "id": "${APP_ROLE_ID}", "isEnabled": true, "value": "${APP_ROLE_VALUE}"}]
JSON
run az ad app update --id "${API_APP_ID}" --identifier-uris "api://${API_APP_ID}" --app-roles "@${ROLES_FILE}"
# Version 2 access tokens (issuer login.microsoftonline.com/{tenant}/v2.0).
run az ad app update --id "${API_APP_ID}" --set api.requestedAccessTokenVersion=2
if [[ -z "$(query '' az ad sp list --filter "appId eq '${API_APP_ID}'" --query '[0].id' -o tsv)" ]]; then
  run az ad sp create --id "${API_APP_ID}"
fi
TENANT_ID="$(query '<tenant-id>' az account show --query tenantId -o tsv)"

step "2. Resource group, storage and Function App ${FUNCTION_APP} (Linux, custom handler)"
run az group create --name "${RESOURCE_GROUP}" --location "${LOCATION}" --output none
if [[ -z "$(query '' az storage account list -g "${RESOURCE_GROUP}" --query "[?name=='${STORAGE_ACCOUNT}'].name" -o tsv)" ]]; then
  run az storage account create --name "${STORAGE_ACCOUNT}" --resource-group "${RESOURCE_GROUP}" \
    --location "${LOCATION}" --sku Standard_LRS --min-tls-version TLS1_2 --allow-blob-public-access false --output none
fi
if [[ -z "$(query '' az functionapp list -g "${RESOURCE_GROUP}" --query "[?name=='${FUNCTION_APP}'].name" -o tsv)" ]]; then
  run az functionapp create --name "${FUNCTION_APP}" --resource-group "${RESOURCE_GROUP}" \
    --storage-account "${STORAGE_ACCOUNT}" --consumption-plan-location "${LOCATION}" \
    --os-type Linux --runtime custom --functions-version 4 --https-only true --output none
fi
FUNCTION_APP_ID="$(query '<function-app-resource-id>' az functionapp show -g "${RESOURCE_GROUP}" -n "${FUNCTION_APP}" --query id -o tsv)"

step "3. Managed identity, granted Key Vault Secrets User on ${KEY_VAULT}"
PRINCIPAL_ID="$(query '<managed-identity-object-id>' az functionapp identity assign -g "${RESOURCE_GROUP}" -n "${FUNCTION_APP}" --query principalId -o tsv)"
VAULT_ID="$(query '<key-vault-resource-id>' az keyvault show -g "${KEY_VAULT_RESOURCE_GROUP}" -n "${KEY_VAULT}" --query id -o tsv)"
if [[ -z "$(query '' az role assignment list --assignee "${PRINCIPAL_ID}" --scope "${VAULT_ID}" --role "Key Vault Secrets User" --query '[0].id' -o tsv)" ]]; then
  run az role assignment create --assignee-object-id "${PRINCIPAL_ID}" --assignee-principal-type ServicePrincipal \
    --role "Key Vault Secrets User" --scope "${VAULT_ID}" --output none
fi

step "4. App settings"
run az functionapp config appsettings set -g "${RESOURCE_GROUP}" -n "${FUNCTION_APP}" --output none --settings \
  "FUNCTIONS_WORKER_RUNTIME=custom" \
  "AUTH_TENANT_ID=${TENANT_ID}" \
  "AUTH_CLIENT_ID=${API_APP_ID}" \
  "AUTH_DEBUG_ERRORS=${AUTH_DEBUG_ERRORS}" \
  "KEY_VAULT_URL=https://${KEY_VAULT}.vault.azure.net"

step "5. GitHub Actions deployment identity for ${GITHUB_REPOSITORY} (environment ${GITHUB_ENVIRONMENT})"
DEPLOY_APP_ID="$(query '<deploy-client-id>' az ad app list --display-name "${DEPLOY_APP_NAME}" --query '[0].appId' -o tsv)"
if [[ -z "${DEPLOY_APP_ID}" ]]; then
  DEPLOY_APP_ID="$(query '<deploy-client-id>' az ad app create --display-name "${DEPLOY_APP_NAME}" --query appId -o tsv)"
fi
DEPLOY_SP_ID="$(query '<deploy-sp-object-id>' az ad sp list --filter "appId eq '${DEPLOY_APP_ID}'" --query '[0].id' -o tsv)"
if [[ -z "${DEPLOY_SP_ID}" ]]; then
  DEPLOY_SP_ID="$(query '<deploy-sp-object-id>' az ad sp create --id "${DEPLOY_APP_ID}" --query id -o tsv)"
fi
SUBJECT="repo:${GITHUB_REPOSITORY}:environment:${GITHUB_ENVIRONMENT}"
if [[ -z "$(query '' az ad app federated-credential list --id "${DEPLOY_APP_ID}" --query "[?subject=='${SUBJECT}'].name" -o tsv)" ]]; then
  run az ad app federated-credential create --id "${DEPLOY_APP_ID}" --parameters \
    "{\"name\": \"github-${GITHUB_ENVIRONMENT}\", \"issuer\": \"https://token.actions.githubusercontent.com\", \"subject\": \"${SUBJECT}\", \"audiences\": [\"api://AzureADTokenExchange\"]}"
fi
if [[ -z "$(query '' az role assignment list --assignee "${DEPLOY_SP_ID}" --scope "${FUNCTION_APP_ID}" --role "Website Contributor" --query '[0].id' -o tsv)" ]]; then
  run az role assignment create --assignee-object-id "${DEPLOY_SP_ID}" --assignee-principal-type ServicePrincipal \
    --role "Website Contributor" --scope "${FUNCTION_APP_ID}" --output none
fi
SUBSCRIPTION_ID="$(query '<subscription-id>' az account show --query id -o tsv)"

cat <<DONE

Done. In GitHub (${GITHUB_REPOSITORY}), environment "${GITHUB_ENVIRONMENT}":
  secrets   AZURE_CLIENT_ID=${DEPLOY_APP_ID}  AZURE_TENANT_ID=${TENANT_ID}  AZURE_SUBSCRIPTION_ID=${SUBSCRIPTION_ID}
  secret    AZURE_FUNCTIONAPP_NAME=${FUNCTION_APP}
Callers need the app role: grant "${APP_ROLE_VALUE}" of ${API_APP_NAME} (api://${API_APP_ID}) to each calling app or user.
DONE
