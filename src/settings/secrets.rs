//! `KEY_VAULT_URL`, its credential, `VAULT_CACHE_SECONDS`, `VAULT_ALLOWED_SECRETS`.

use std::time::Duration;

use super::source::Source;
use super::values::{non_empty_list, seconds_in};
use super::{SettingError, fail};
use crate::net;
use crate::secrets::cache::NamePattern;
use crate::secrets::keyvault::Credential;

/// Default `VAULT_CACHE_SECONDS`.
pub(crate) const DEFAULT_VAULT_CACHE_SECONDS: u64 = 300;
/// Largest `VAULT_CACHE_SECONDS` accepted: a day.
const MAX_VAULT_CACHE_SECONDS: u64 = 86_400;

/// Where secrets come from and how they are cached.
#[derive(Clone, Debug)]
pub(crate) struct SecretSettings {
    /// `KEY_VAULT_URL` and its credential; `None` uses the local secrets file.
    pub(crate) key_vault: Option<KeyVaultSettings>,
    /// `VAULT_CACHE_SECONDS` (zero disables the cache).
    pub(crate) cache_ttl: Duration,
    /// `VAULT_ALLOWED_SECRETS`.
    pub(crate) allowed: Option<Vec<NamePattern>>,
}

/// A Key Vault to read from.
#[derive(Clone, Debug)]
pub(crate) struct KeyVaultSettings {
    /// The vault URL.
    pub(crate) url: String,
    /// The vault is on a loopback address (test vaults): challenge verification is off.
    pub(crate) loopback: bool,
    /// How to authenticate.
    pub(crate) credential: Credential,
}

/// Reads the secret-store settings.
pub(super) fn read(source: &Source) -> Result<SecretSettings, SettingError> {
    let cache_ttl = seconds_in(
        source,
        "VAULT_CACHE_SECONDS",
        DEFAULT_VAULT_CACHE_SECONDS,
        0..=MAX_VAULT_CACHE_SECONDS,
    )?;
    let allowed = match non_empty_list(source, "VAULT_ALLOWED_SECRETS")? {
        None => None,
        Some(items) if items.iter().any(|i| i == "*") => {
            return fail(
                "VAULT_ALLOWED_SECRETS",
                "a bare * allows every secret; list names or prefixes (app-*), or leave the setting unset",
            );
        }
        Some(items) => Some(
            items
                .iter()
                .map(|i| NamePattern::parse(i))
                .collect::<Result<Vec<_>, _>>()
                .or_else(|e| fail("VAULT_ALLOWED_SECRETS", e))?,
        ),
    };
    let key_vault = match source.get("KEY_VAULT_URL") {
        None => None,
        Some(text) => {
            const NAME: &str = "KEY_VAULT_URL";
            let url = reqwest::Url::parse(text)
                .or_else(|_| fail(NAME, format!("{text:?} is not a URL")))?;
            // The Azure SDK sends tokens over TLS only, so even a loopback test vault is https.
            if url.scheme() != "https" || url.host_str().is_none() {
                return fail(
                    NAME,
                    format!("must be an https URL like https://NAME.vault.azure.net, got {text:?}"),
                );
            }
            if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
                return fail(NAME, format!("must be the vault's base URL, got {text:?}"));
            }
            Some(KeyVaultSettings {
                loopback: net::is_loopback_host(&url),
                url: url.as_str().trim_end_matches('/').to_owned(),
                credential: credential(source)?,
            })
        }
    };
    Ok(SecretSettings {
        key_vault,
        cache_ttl,
        allowed,
    })
}

/// The Key Vault credential: managed identity, else a client secret, else the Azure CLI.
fn credential(source: &Source) -> Result<Credential, SettingError> {
    let secret = source.get("AZURE_CLIENT_SECRET");
    if source.process_env("IDENTITY_ENDPOINT").is_some()
        && source.process_env("IDENTITY_HEADER").is_some()
    {
        // With a client secret configured, AZURE_CLIENT_ID names that principal, not an identity.
        let client_id = match secret {
            None => source.get("AZURE_CLIENT_ID").map(str::to_owned),
            Some(_) => None,
        };
        return Ok(Credential::ManagedIdentity { client_id });
    }
    if let Some(secret) = secret {
        let tenant_id = source
            .get("AZURE_TENANT_ID")
            .ok_or_else(|| SettingError {
                name: "AZURE_TENANT_ID".into(),
                problem: "is required with AZURE_CLIENT_SECRET".into(),
            })?
            .to_owned();
        let client_id = source
            .get("AZURE_CLIENT_ID")
            .ok_or_else(|| SettingError {
                name: "AZURE_CLIENT_ID".into(),
                problem: "is required with AZURE_CLIENT_SECRET".into(),
            })?
            .to_owned();
        return Ok(Credential::ClientSecret {
            tenant_id,
            client_id,
            secret: secret.to_owned(),
        });
    }
    Ok(Credential::AzureCli)
}
