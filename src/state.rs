//! Everything requests share, built once at start-up and handed to the server.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::auth::Guard;
use crate::auth::policy::{MethodRules, Policy};
use crate::errors::{ApiError, Challenge};
use crate::functions::Registry;
use crate::functions::protected_resource::{self, PROTECTED_RESOURCE_PATH};
use crate::net;
use crate::reply::Challenges;
use crate::secrets::cache::SecretCache;
use crate::secrets::keyvault::KeyVaultStore;
use crate::secrets::local::LocalStore;
use crate::services::Services;
use crate::settings::{SettingError, Settings};
use crate::telemetry::Telemetry;

/// Everything requests share, built once at start-up.
pub(crate) struct AppState {
    /// The settings.
    pub(crate) settings: Settings,
    /// The registered functions.
    pub(crate) functions: Registry,
    /// Each function folder's rules per method: the `AUTH_POLICY_<NAME>` setting, else the
    /// registered function's own rules, else `deny` (joined here, so settings never know the
    /// registry).
    pub(crate) policies: HashMap<String, MethodRules>,
    /// What functions may use: the guard, secrets, telemetry.
    pub(crate) services: Arc<Services>,
    /// The parameters every challenge names (`resource_metadata`); `authorization_uri` is
    /// left empty here and filled per claims challenge by [`AppState::challenges_for`].
    pub(crate) challenges: Challenges,
    /// Bytes of invocation payloads that may be buffered at once, one permit per byte; see
    /// [`MAX_BUFFERED_INVOCATIONS`].
    pub(crate) invocation_buffers: tokio::sync::Semaphore,
}

/// Invocation payloads' worth of bytes buffered at once. A payload may be 4 ×
/// `MAX_REQUEST_BODY_BYTES` + 256 KiB (JSON escaping), so at the default 1 MiB the buffers
/// never exceed 8 × 4.25 MiB = 34 MiB. A payload takes permits for the bytes it has received
/// (a slow sender holds only what arrived) and gives them back once it has become a call; one
/// that would have to wait for permits while holding some gives way with `503 ServiceBusy`.
pub(crate) const MAX_BUFFERED_INVOCATIONS: usize = 8;

impl AppState {
    /// Builds the shared state; fails on settings that only show when used (the secrets file).
    pub(crate) fn new(
        settings: Settings,
        functions: Registry,
        app: Option<(String, String)>,
    ) -> Result<AppState, SettingError> {
        let policies = crate::policies::join(&settings, &functions)?;
        let http = net::Http::new();
        let telemetry = match &settings.telemetry {
            None => Telemetry::off(),
            Some(config) => Telemetry::start(config).map_err(|e| SettingError {
                name: "APPLICATIONINSIGHTS_CONNECTION_STRING".into(),
                problem: e.to_string(),
            })?,
        };
        let guard = Guard::new(&settings.auth, &http, &telemetry);
        let stores = guard.key_stores();
        telemetry.observe_key_age(move || {
            stores
                .iter()
                .filter_map(|store| store.status().age_seconds)
                .max()
        });
        // Only an app that serves `vault` opens a secret store (and says so in its log).
        let secrets = match functions.find(crate::functions::vault::FOLDER) {
            Some(_) => Some(build_secrets(&settings, &telemetry)?),
            None => None,
        };
        let protected_resource = protected_resource::document(&settings, &policies);
        Ok(AppState {
            services: Arc::new(Services {
                guard,
                secrets,
                telemetry,
                started: Instant::now(),
                protected_resource,
                // Run alone there is no platform in front: nothing it could have set.
                easy_auth: settings.easy_auth && !settings.standalone,
                app,
            }),
            challenges: Challenges {
                // Where the document is served through the host: the folder's route under the
                // route prefix (RFC 9728's root location only when the prefix is empty, as
                // the host routes nothing outside it to the handler).
                resource_metadata: settings.public_base_url.as_ref().map(|base| {
                    let path = settings
                        .layout
                        .public_path(protected_resource::FOLDER)
                        .unwrap_or_else(|| PROTECTED_RESOURCE_PATH.to_owned());
                    format!("{base}{path}")
                }),
                // Known only once a discovery document arrives, after start-up.
                authorization_uri: None,
            },
            functions,
            policies,
            invocation_buffers: tokio::sync::Semaphore::new(
                MAX_BUFFERED_INVOCATIONS
                    .saturating_mul(settings.body.max_invocation_bytes())
                    .min(tokio::sync::Semaphore::MAX_PERMITS),
            ),
            settings,
        })
    }

    /// The challenge parameters for `err`: a claims challenge also names the authorize
    /// endpoint the guard knows now (the discovery document's, which may change with a
    /// refresh), so it is looked up per challenge rather than fixed at start-up.
    pub(crate) fn challenges_for(&self, err: &ApiError) -> Cow<'_, Challenges> {
        if err.kind.spec().3 != Challenge::InsufficientClaims {
            return Cow::Borrowed(&self.challenges);
        }
        Cow::Owned(Challenges {
            authorization_uri: self.services.guard.authorization_uri(),
            ..self.challenges.clone()
        })
    }

    /// The policy for `method` on a function folder; folders and methods no rule covers are
    /// denied.
    pub(crate) fn policy(&self, function: &str, method: &str) -> &Policy {
        match self.policies.get(function) {
            Some(rules) => rules.for_method(method),
            None => &Policy::Deny,
        }
    }
}

/// The secret source: Key Vault when `KEY_VAULT_URL` is set, else the local secrets file.
fn build_secrets(settings: &Settings, telemetry: &Telemetry) -> Result<SecretCache, SettingError> {
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
            let host = reqwest::Url::parse(&kv.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            Ok(SecretCache::new(
                Box::new(store),
                "keyvault",
                cfg.cache_ttl,
                cfg.allowed.clone(),
            )
            .reporting_to(telemetry.clone(), &host))
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
