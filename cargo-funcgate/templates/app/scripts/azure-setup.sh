#!/usr/bin/env bash
# Sets up a function app on funcgate in Azure with the Azure CLI, step by step (any app: the
# roles, scopes and authentication context it names, a Key Vault only when it serves `vault`):
#   1. the API app registration: its app roles (APP_ROLES), its delegated scopes (SCOPES), its
#      api://{client id} URI, v2 access tokens; for an MCP server (MCP_PATHS), its resource
#      URI as an identifier URI too; the client apps pre-authorized for the scopes
#      (PREAUTHORIZED_CLIENTS); with AUTH_CONTEXT, a Conditional Access authentication context
#      for step-up rules (acrs:ID);
#   2. a resource group, a storage account and a Linux Function App (custom handler runtime) on
#      the Flex Consumption plan (default) or the Linux Consumption plan;
#   3. the Function App's system-assigned managed identity, granted KEY_VAULT_ROLE on the vault
#      ("Key Vault Secrets User": reads only; "Key Vault Secrets Officer" lets PUT /vault write),
#      only when the app serves `vault` (VAULT=auto looks for APP_DIR/vault/function.json);
#   4. funcgate's app settings (what the plan accepts, nothing it refuses; for an MCP server,
#      PUBLIC_BASE_URL and the Functions MCP preview's feature flag);
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
# Every value is a variable (override any of them in the environment), e.g.:
#   APP_ROLES="Orders.Admin" SCOPES="Orders.Read,Orders.Write" AUTH_CONTEXT="c1:Require MFA" \
#     GITHUB_REPOSITORY=contoso/orders-app scripts/azure-setup.sh
# (`cargo funcgate new` puts this script in every app; funcgate's repository runs it through
# its own scripts/azure-setup.sh with funcgate's roles.)
set -euo pipefail

# The app's folder (host.json and the function folders): the names below start from its name.
APP_DIR="${APP_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
PREFIX="${PREFIX:-$(basename "${APP_DIR}")}"
LOCATION="${LOCATION:-westeurope}"
RESOURCE_GROUP="${RESOURCE_GROUP:-rg-${PREFIX}}"
STORAGE_ACCOUNT="${STORAGE_ACCOUNT:-st${PREFIX//-/}fn}"
FUNCTION_APP="${FUNCTION_APP:-func-${PREFIX}}"
# Flex Consumption deploys from a blob container the app reads with its managed identity.
DEPLOYMENT_CONTAINER="${DEPLOYMENT_CONTAINER:-app-package-${FUNCTION_APP}}"
KEY_VAULT="${KEY_VAULT:-kv-${PREFIX}}"
KEY_VAULT_RESOURCE_GROUP="${KEY_VAULT_RESOURCE_GROUP:-${RESOURCE_GROUP}}"
API_APP_NAME="${API_APP_NAME:-${PREFIX}-api}"
# App roles (application and user), comma-separated: the names its rules' roles: terms use
# (the scaffold's rules name Api.Read and Api.Write).
# An entry NAME=GUID keeps a role's existing id (Entra refuses a new id for an assigned role).
APP_ROLES="${APP_ROLES-Api.Read,Api.Write}"
# Delegated scopes (a user's token, scp), comma-separated: the names of scopes: terms.
SCOPES="${SCOPES-Api.Read,Api.Write}"
# An authentication context for step-up (acrs:ID in a rule): ID:display name, e.g. c1:Require MFA.
AUTH_CONTEXT="${AUTH_CONTEXT:-}"
# yes, no, or auto (yes when the app serves vault).
VAULT="${VAULT:-auto}"
# The MCP servers' paths, comma-separated (mcp): each server's resource URI, PUBLIC_BASE_URL +
# its path, must be an identifier URI of the API app, or Entra refuses clients' token requests
# (AADSTS9010010). auto: mcp when host.json names the mcp-custom-handler profile, else none.
MCP_PATHS="${MCP_PATHS:-auto}"
# Where callers reach the app (no trailing slash); a custom domain goes here.
PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-https://${FUNCTION_APP}.azurewebsites.net}"
PUBLIC_BASE_URL="${PUBLIC_BASE_URL%/}"
# Client apps pre-authorized for the delegated scopes, comma-separated client ids (Entra has no
# dynamic client registration), e.g. VS Code's aebc6443-996d-45c2-90f0-388ff96faa56.
PREAUTHORIZED_CLIENTS="${PREAUTHORIZED_CLIENTS:-}"
# The managed identity's role on the vault: reads only unless writes through vault are wanted.
KEY_VAULT_ROLE="${KEY_VAULT_ROLE:-Key Vault Secrets User}"
DEPLOY_APP_NAME="${DEPLOY_APP_NAME:-${PREFIX}-github-deploy}"
GITHUB_REPOSITORY="${GITHUB_REPOSITORY:-your-org/${PREFIX}}"
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

case "${VAULT}" in
  auto) if [[ -f "${APP_DIR}/vault/function.json" ]]; then VAULT=yes; else VAULT=no; fi ;;
  yes | no) ;;
  *) echo "$0: VAULT must be yes, no or auto, got '${VAULT}'" >&2; exit 2 ;;
esac

case "${MCP_PATHS}" in
  auto)
    if grep -Eq '"configurationProfile"[[:space:]]*:[[:space:]]*"mcp-custom-handler"' "${APP_DIR}/host.json" 2>/dev/null; then
      MCP_PATHS=mcp
    else
      MCP_PATHS=""
    fi
    ;;
esac
IDENTIFIER_URIS=()
MCP_RESOURCES=""
# (`${a[@]+"${a[@]}"}`: an empty array under `set -u` on bash before 4.4.)
IFS=',' read -ra NAMES <<<"${MCP_PATHS}"
for path in ${NAMES[@]+"${NAMES[@]}"}; do
  path="${path// /}"
  path="${path#/}"
  path="${path%/}"
  [[ -n "${path}" ]] || continue
  [[ "${path}" =~ ^[A-Za-z0-9._~/-]+$ ]] || { echo "$0: MCP_PATHS: '${path}' is not a path" >&2; exit 2; }
  [[ "${PUBLIC_BASE_URL}" =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/-]*)?$ ]] ||
    { echo "$0: PUBLIC_BASE_URL must be an https URL without query or fragment, got '${PUBLIC_BASE_URL}'" >&2; exit 2; }
  # funcgate's resource for the server: PUBLIC_BASE_URL + path, no trailing slash.
  IDENTIFIER_URIS+=("${PUBLIC_BASE_URL}/${path}")
  MCP_RESOURCES+="${MCP_RESOURCES:+ }${PUBLIC_BASE_URL}/${path}"
done
CLIENT_IDS=()
IFS=',' read -ra NAMES <<<"${PREAUTHORIZED_CLIENTS}"
for id in ${NAMES[@]+"${NAMES[@]}"}; do
  id="${id// /}"
  [[ -n "${id}" ]] || continue
  [[ "${id}" =~ ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$ ]] ||
    { echo "$0: PREAUTHORIZED_CLIENTS: '${id}' is not a client id" >&2; exit 2; }
  CLIENT_IDS+=("${id}")
done

# A stable id for a role or scope name, so re-running updates it rather than adding another.
stable_id() {
  local hex
  hex="$(printf '%s:%s' "${API_APP_NAME}" "$1" | md5sum | cut -c1-32)"
  printf '%s-%s-3%s-8%s-%s' "${hex:0:8}" "${hex:8:4}" "${hex:13:3}" "${hex:17:3}" "${hex:20:12}"
}
# Names may hold letters, digits, dots, dashes and underscores (what a rule can name).
valid_name() { [[ "$1" =~ ^[A-Za-z0-9._-]{1,120}$ ]]; }

ROLE_LIST=""
ROLE_NAMES=""
IFS=',' read -ra NAMES <<<"${APP_ROLES}"
for entry in "${NAMES[@]}"; do
  entry="${entry// /}"
  [[ -n "${entry}" ]] || continue
  name="${entry%%=*}"
  id="$(stable_id "role:${name}")"
  [[ "${entry}" == *=* ]] && id="${entry#*=}"
  valid_name "${name}" || { echo "$0: APP_ROLES: '${name}' is not a role name" >&2; exit 2; }
  [[ "${id}" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] ||
    { echo "$0: APP_ROLES: '${id}' is not a GUID" >&2; exit 2; }
  ROLE_NAMES+="${ROLE_NAMES:+,}${name}"
  ROLE_LIST+="${ROLE_LIST:+, }{\"allowedMemberTypes\": [\"Application\", \"User\"], \"description\": \"${name}\", \"displayName\": \"${name}\", \"id\": \"${id}\", \"isEnabled\": true, \"value\": \"${name}\"}"
done
SCOPE_LIST=""
SCOPE_IDS=""
IFS=',' read -ra NAMES <<<"${SCOPES}"
for name in "${NAMES[@]}"; do
  name="${name// /}"
  [[ -n "${name}" ]] || continue
  valid_name "${name}" || { echo "$0: SCOPES: '${name}' is not a scope name" >&2; exit 2; }
  SCOPE_IDS+="${SCOPE_IDS:+, }\"$(stable_id "scope:${name}")\""
  SCOPE_LIST+="${SCOPE_LIST:+, }{\"adminConsentDescription\": \"${name}\", \"adminConsentDisplayName\": \"${name}\", \"id\": \"$(stable_id "scope:${name}")\", \"isEnabled\": true, \"type\": \"User\", \"userConsentDescription\": \"${name}\", \"userConsentDisplayName\": \"${name}\", \"value\": \"${name}\"}"
done
APP_ROLES_JSON="[${ROLE_LIST}]"
# v2 access tokens (issuer login.microsoftonline.com/{tenant}/v2.0) and the delegated scopes.
API_JSON="{\"requestedAccessTokenVersion\": 2, \"oauth2PermissionScopes\": [${SCOPE_LIST}]}"
# The same with the pre-authorized clients, each for every delegated scope.
PREAUTH_LIST=""
for id in ${CLIENT_IDS[@]+"${CLIENT_IDS[@]}"}; do
  PREAUTH_LIST+="${PREAUTH_LIST:+, }{\"appId\": \"${id}\", \"delegatedPermissionIds\": [${SCOPE_IDS}]}"
done
if [[ -n "${PREAUTH_LIST}" && -z "${SCOPE_IDS}" ]]; then
  echo "$0: PREAUTHORIZED_CLIENTS needs delegated scopes (SCOPES) to pre-authorize" >&2
  exit 2
fi
API_JSON_PREAUTH="{\"requestedAccessTokenVersion\": 2, \"oauth2PermissionScopes\": [${SCOPE_LIST}], \"preAuthorizedApplications\": [${PREAUTH_LIST}]}"

step "1. API app registration ${API_APP_NAME}: roles [${ROLE_NAMES}], scopes [${SCOPES}]"
# Lookups are plain assignments: under `set -e` a failure inside [[ ... ]] or inside another
# command's arguments would be ignored and read as "not found".
FOUND="$(query '' az ad app list --filter "displayName eq '${API_APP_NAME}'" --query '[].appId' -o tsv)"
API_APP_ID="$(single "app registration named ${API_APP_NAME}" "${FOUND}")"
if [[ -z "${API_APP_ID}" ]]; then
  API_APP_ID="$(query '<api-client-id>' az ad app create --display-name "${API_APP_NAME}" \
    --sign-in-audience AzureADMyOrg --query appId -o tsv)"
fi
# The whole list each time (the command replaces it): api://{client id} and each MCP resource.
run az ad app update --id "${API_APP_ID}" --identifier-uris "api://${API_APP_ID}" ${IDENTIFIER_URIS[@]+"${IDENTIFIER_URIS[@]}"} \
  --app-roles "${APP_ROLES_JSON}" --set "api=${API_JSON}"
if [[ -n "${PREAUTH_LIST}" ]]; then
  # Apart from the scopes: Entra checks pre-authorized permission ids against scopes it has saved.
  run az ad app update --id "${API_APP_ID}" --set "api=${API_JSON_PREAUTH}"
fi
API_SP_ID="$(query '' az ad sp list --filter "appId eq '${API_APP_ID}'" --query '[].id' -o tsv)"
if [[ -z "${API_SP_ID}" ]]; then
  run az ad sp create --id "${API_APP_ID}"
fi
TENANT_ID="$(query '<tenant-id>' az account show --query tenantId -o tsv)"
if [[ -n "${AUTH_CONTEXT}" ]]; then
  CONTEXT_ID="${AUTH_CONTEXT%%:*}"
  CONTEXT_NAME="${AUTH_CONTEXT#*:}"
  [[ "${CONTEXT_ID}" =~ ^c([1-9]|[1-9][0-9])$ ]] ||
    { echo "$0: AUTH_CONTEXT must start with c1 to c99, got '${CONTEXT_ID}'" >&2; exit 2; }
  # Conditional Access authentication contexts live in Microsoft Graph (no az ad verb yet);
  # a policy that requires it (MFA, a compliant device) is the tenant's to write.
  run az rest --method put \
    --url "https://graph.microsoft.com/v1.0/identity/conditionalAccess/authenticationContextClassReferences/${CONTEXT_ID}" \
    --body "{\"id\": \"${CONTEXT_ID}\", \"displayName\": \"${CONTEXT_NAME}\", \"description\": \"${CONTEXT_NAME}\", \"isAvailable\": true}"
fi

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

if [[ "${VAULT}" == yes ]]; then
  step "3. Managed identity, granted ${KEY_VAULT_ROLE} on ${KEY_VAULT}"
  PRINCIPAL_ID="$(query '<managed-identity-object-id>' az functionapp identity assign -g "${RESOURCE_GROUP}" -n "${FUNCTION_APP}" --query principalId -o tsv)"
  VAULT_ID="$(query '<key-vault-resource-id>' az keyvault show -g "${KEY_VAULT_RESOURCE_GROUP}" -n "${KEY_VAULT}" --query id -o tsv)"
  FOUND="$(query '' az role assignment list --assignee "${PRINCIPAL_ID}" --scope "${VAULT_ID}" --role "${KEY_VAULT_ROLE}" --query '[].id' -o tsv)"
  if [[ -z "${FOUND}" ]]; then
    run az role assignment create --assignee-object-id "${PRINCIPAL_ID}" --assignee-principal-type ServicePrincipal \
      --role "${KEY_VAULT_ROLE}" --scope "${VAULT_ID}" --output none
  fi
else
  step "3. No Key Vault: the app does not serve vault"
fi

step "4. App settings"
SETTINGS=(
  "AUTH_TENANT_ID=${TENANT_ID}"
  "AUTH_CLIENT_ID=${API_APP_ID}"
  "AUTH_DEBUG_ERRORS=${AUTH_DEBUG_ERRORS}"
)
if [[ "${VAULT}" == yes ]]; then
  SETTINGS+=("KEY_VAULT_URL=https://${KEY_VAULT}.vault.azure.net")
fi
if [[ -n "${MCP_RESOURCES}" ]]; then
  # The metadata's resource is PUBLIC_BASE_URL + the server's path; the Functions host serves
  # self-hosted MCP servers behind this preview flag (kept beside any other flags).
  FLAGS="$(query '' az functionapp config appsettings list -g "${RESOURCE_GROUP}" -n "${FUNCTION_APP}" --query "[?name=='AzureWebJobsFeatureFlags'].value" -o tsv)"
  case ",${FLAGS}," in
    *,EnableMcpCustomHandlerPreview,*) ;;
    *) FLAGS="${FLAGS:+${FLAGS},}EnableMcpCustomHandlerPreview" ;;
  esac
  SETTINGS+=("PUBLIC_BASE_URL=${PUBLIC_BASE_URL}" "AzureWebJobsFeatureFlags=${FLAGS}")
fi
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
The deploy workflow finds the plan by itself. Callers of ${API_APP_NAME} (api://${API_APP_ID}):
  apps and users are granted its app roles [${ROLE_NAMES}];
  client apps of users add the delegated scopes [${SCOPES}] as API permissions (admin consent).
DONE
if [[ -n "${MCP_RESOURCES}" ]]; then
  echo "MCP resource URIs (identifier URIs of ${API_APP_NAME}): ${MCP_RESOURCES}"
fi
if [[ ${#CLIENT_IDS[@]} -gt 0 ]]; then
  echo "Pre-authorized for [${SCOPES}]: ${CLIENT_IDS[*]}"
fi
