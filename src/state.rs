//! Everything requests share, built once at start-up and handed to the server.

use std::time::Instant;

use crate::auth::Guard;
use crate::net;
use crate::secrets::cache::SecretCache;
use crate::secrets::keyvault::KeyVaultStore;
use crate::secrets::local::LocalStore;
use crate::settings::{SettingError, Settings};

/// Everything requests share, built once at start-up.
pub struct AppState {
    /// The settings.
    pub settings: Settings,
    /// Token validation and its key cache.
    pub(crate) guard: Guard,
    /// Secrets, behind their cache.
    pub(crate) secrets: SecretCache,
    /// Start-up time, for `health`.
    pub(crate) started: Instant,
}

impl AppState {
    /// Builds the shared state; fails on settings that only show when used (the secrets file).
    pub fn new(settings: Settings) -> Result<AppState, SettingError> {
        let http = net::Http::new();
        let guard = Guard::new(&settings.auth, &http);
        let secrets = build_secrets(&settings)?;
        Ok(AppState {
            guard,
            secrets,
            started: Instant::now(),
            settings,
        })
    }
}

/// The secret source: Key Vault when `KEY_VAULT_URL` is set, else the local secrets file.
fn build_secrets(settings: &Settings) -> Result<SecretCache, SettingError> {
    let cfg = &settings.secrets;
    match &cfg.key_vault {
        Some(kv) => {
            let store = KeyVaultStore::new(&kv.url, &kv.credential, kv.loopback);
            log::info!(
                "secrets: Key Vault {} with {}, cache {} s",
                kv.url,
                kv.credential.describe(),
                cfg.cache_ttl.as_secs()
            );
            Ok(SecretCache::new(
                Box::new(store),
                "keyvault",
                cfg.cache_ttl,
                cfg.allowed.clone(),
            ))
        }
        None => {
            let store =
                LocalStore::load(&settings.local_secrets_file).map_err(|problem| SettingError {
                    name: "LOCAL_SECRETS_FILE".into(),
                    problem: problem.to_string(),
                })?;
            // The file is read once already; caching it again would only delay edits.
            Ok(SecretCache::new(
                Box::new(store),
                "local",
                std::time::Duration::ZERO,
                cfg.allowed.clone(),
            ))
        }
    }
}
