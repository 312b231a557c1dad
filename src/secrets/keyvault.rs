//! Azure Key Vault through the official SDK: credential chain, challenge-based auth, retries.

use std::sync::{Arc, OnceLock};

use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, StatusCode};
use azure_core::time::Duration;
use azure_identity::{
    AzureCliCredential, ClientSecretCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId,
};
use azure_security_keyvault_secrets::models::{SecretClientGetSecretOptions, SetSecretParameters};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};

use super::{SecretError, SecretFuture, SecretStore, SetFuture, Stored};

/// How funcgate proves its identity to Key Vault: the first that applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Credential {
    /// App Service / Functions managed identity (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`);
    /// a user-assigned identity when `AZURE_CLIENT_ID` names one.
    ManagedIdentity { client_id: Option<String> },
    /// A service principal (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`).
    ClientSecret {
        tenant_id: String,
        client_id: String,
        secret: String,
    },
    /// The developer's `az login`.
    AzureCli,
}

impl Credential {
    /// A name for logs (never the secret).
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Credential::ManagedIdentity { client_id: None } => "managed identity (system-assigned)",
            Credential::ManagedIdentity { client_id: Some(_) } => {
                "managed identity (user-assigned)"
            }
            Credential::ClientSecret { .. } => "client secret",
            Credential::AzureCli => "Azure CLI login",
        }
    }

    fn build(&self, options: &ClientOptions) -> azure_core::Result<Arc<dyn TokenCredential>> {
        Ok(match self {
            Credential::ManagedIdentity { client_id } => {
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                    client_options: options.clone(),
                }))?
            }
            Credential::ClientSecret {
                tenant_id,
                client_id,
                secret,
            } => ClientSecretCredential::new(
                tenant_id,
                client_id.clone(),
                Secret::new(secret.clone()),
                Some(azure_identity::ClientSecretCredentialOptions {
                    client_options: options.clone(),
                }),
            )?,
            Credential::AzureCli => AzureCliCredential::new(None)?,
        })
    }
}

/// Secrets read from one vault; the SDK client is built on first use, keeping its TLS set-up
/// out of start-up.
pub(crate) struct KeyVaultStore {
    url: String,
    credential: Credential,
    loopback: bool,
    client: OnceLock<Result<SecretClient, String>>,
}

impl KeyVaultStore {
    /// A store for `url`; challenge-resource verification stays on except for a loopback vault.
    pub(crate) fn new(url: &str, credential: &Credential, loopback: bool) -> KeyVaultStore {
        KeyVaultStore {
            url: url.to_owned(),
            credential: credential.clone(),
            loopback,
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<&SecretClient, SecretError> {
        self.client
            .get_or_init(|| build_client(&self.url, &self.credential, self.loopback))
            .as_ref()
            .map_err(|e| SecretError::refused(e.clone()))
    }
}

fn build_client(
    url: &str,
    credential: &Credential,
    loopback: bool,
) -> Result<SecretClient, String> {
    // Retries must fit in the 5 s budget the caller enforces; Retry-After is honoured.
    let client_options = ClientOptions {
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: Duration::milliseconds(250),
            max_retries: 2,
            max_total_elapsed: Duration::seconds(4),
            max_delay: Duration::seconds(2),
        }),
        ..Default::default()
    };
    let token_credential = credential.build(&client_options).map_err(|e| {
        format!(
            "cannot set up the {} credential: {e}",
            credential.describe()
        )
    })?;
    let client = SecretClient::new(
        url,
        token_credential,
        Some(SecretClientOptions {
            client_options,
            verify_challenge_resource: Some(!loopback),
            ..Default::default()
        }),
    )
    .map_err(|e| format!("cannot create the Key Vault client: {e}"))?;
    log::info!(
        "Key Vault client ready for {url} ({})",
        credential.describe()
    );
    Ok(client)
}

impl SecretStore for KeyVaultStore {
    fn get<'a>(&'a self, name: &'a str, version: Option<&'a str>) -> SecretFuture<'a> {
        Box::pin(async move {
            let options = SecretClientGetSecretOptions {
                secret_version: version.map(str::to_owned),
                ..Default::default()
            };
            match self.client()?.get_secret(name, Some(options)).await {
                Ok(response) => match response.into_model() {
                    Ok(secret) => secret
                        .value
                        .map(Some)
                        .ok_or_else(|| SecretError::transient("Key Vault reply has no value")),
                    Err(e) => Err(SecretError::transient(format!(
                        "Key Vault reply is malformed: {}",
                        e.kind()
                    ))),
                },
                Err(e) if e.http_status() == Some(StatusCode::NotFound) => Ok(None),
                Err(e) => Err(failure(&e)),
            }
        })
    }

    fn set<'a>(&'a self, name: &'a str, value: &'a str) -> SetFuture<'a> {
        Box::pin(async move {
            let parameters = SetSecretParameters {
                value: Some(value.to_owned()),
                ..Default::default()
            };
            let body = parameters.try_into().map_err(|e: azure_core::Error| {
                SecretError::refused(format!("cannot encode the request: {}", e.kind()))
            })?;
            let response = self
                .client()?
                .set_secret(name, body, None)
                .await
                .map_err(|e| failure(&e))?;
            // Key Vault answers 200 with the new version's id: .../secrets/{name}/{version}.
            let version = response
                .into_model()
                .ok()
                .and_then(|secret| secret.id)
                .and_then(|id| id.rsplit('/').next().map(str::to_owned))
                .filter(|v| !v.is_empty());
            Ok(Stored {
                created: None,
                version,
            })
        })
    }
}

/// How a failed Key Vault call counts for stale-if-error.
fn failure(e: &azure_core::Error) -> SecretError {
    match e.http_status().map(u16::from) {
        // Throttled or failing: Key Vault may well answer the same a moment later.
        Some(status @ (429 | 500..)) => {
            SecretError::transient(format!("Key Vault answered {status}")).with_status(status)
        }
        // 401/403 (disabled secret, withdrawn access) and every other refusal.
        Some(status) => {
            SecretError::refused(format!("Key Vault answered {status}")).with_status(status)
        }
        // No HTTP answer at all: connection failure or timeout.
        None => SecretError::transient(format!("Key Vault call failed: {e}")),
    }
}
