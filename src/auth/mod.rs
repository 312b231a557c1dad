//! The guard: bearer header → token → signing key → claims. Policies are checked by the caller.

pub(crate) mod bearer;
pub(crate) mod config;
pub(crate) mod keys;
pub(crate) mod policy;
pub(crate) mod token;
pub(crate) mod token_cache;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::errors::{ApiError, ErrorKind};
use crate::net;
use crate::telemetry::Telemetry;
use config::AuthConfig;
use keys::{KeySource, KeyStatus, KeyStore, RefreshPolicy};
use token::{Identity, Rules, Signer};
use token_cache::TokenCache;

/// Which key store verifies a token.
enum Stores {
    /// One tenant, one metadata document, or Entra's shared keys for any tenant.
    One(Arc<KeyStore>),
    /// Multi-tenant with an allowlist: each allowed tenant's own keys, by lower-case tenant id.
    PerTenant(HashMap<String, Arc<KeyStore>>),
}

/// Validates bearer tokens against the cached signing keys and the claim rules.
pub(crate) struct Guard {
    stores: Stores,
    /// Entra's authorize endpoint, when the settings name an Entra tenant.
    entra_authorization_uri: Option<String>,
    rules: Rules,
    verified: TokenCache,
    telemetry: Telemetry,
}

impl Guard {
    /// A guard with one key store per discovery document the settings name.
    pub(crate) fn new(auth: &AuthConfig, http: &net::Http, telemetry: &Telemetry) -> Guard {
        let policy = RefreshPolicy {
            unknown_kid_cooldown: auth.key_refresh_cooldown,
            ..RefreshPolicy::default()
        };
        let store = |url: String| {
            Arc::new(KeyStore::new(
                KeySource {
                    discovery_url: url,
                    http: http.clone(),
                    telemetry: telemetry.clone(),
                },
                policy.clone(),
            ))
        };
        if !keys::install_hook() {
            log::info!(
                "another jsonwebtoken CryptoProvider was installed first: signing keys are set up on every verification"
            );
        }
        let urls = auth.discovery_urls();
        let stores = if urls.iter().all(|(tenant, _)| tenant.is_none()) {
            let (_, url) = urls.into_iter().next().unwrap_or_default();
            Stores::One(store(url))
        } else {
            Stores::PerTenant(
                urls.into_iter()
                    .filter_map(|(tenant, url)| Some((tenant?.to_ascii_lowercase(), store(url))))
                    .collect(),
            )
        };
        Guard {
            stores,
            entra_authorization_uri: auth.entra_authorization_uri(),
            rules: auth.rules(),
            verified: TokenCache::new(auth.token_cache_size, auth.clock_skew_seconds as i64),
            telemetry: telemetry.clone(),
        }
    }

    /// Every key store, for the background refresh tasks.
    pub(crate) fn key_stores(&self) -> Vec<Arc<KeyStore>> {
        match &self.stores {
            Stores::One(s) => vec![Arc::clone(s)],
            Stores::PerTenant(map) => map.values().cloned().collect(),
        }
    }

    /// The authorize endpoint claims challenges name: the discovery document's
    /// `authorization_endpoint` once it was fetched and checked, else Entra's endpoint for
    /// the configured tenant. None with `AUTH_METADATA_URL` while its document names no
    /// usable endpoint: a challenge then leaves `authorization_uri` out rather than send
    /// clients to a wrong one.
    ///
    /// With an allow-list of tenants (one document each) the configured `organizations` or
    /// `common` authority is named: no one tenant's endpoint is right for every caller.
    pub(crate) fn authorization_uri(&self) -> Option<String> {
        let discovered = match &self.stores {
            Stores::One(store) => store.authorization_endpoint(),
            Stores::PerTenant(_) => None,
        };
        discovered
            .map(|url| url.to_string())
            .or_else(|| self.entra_authorization_uri.clone())
    }

    /// Cache state across stores, for `health`: loaded only when every store is.
    pub(crate) fn key_status(&self) -> KeyStatus {
        let all: Vec<KeyStatus> = self.key_stores().iter().map(|s| s.status()).collect();
        KeyStatus {
            loaded: !all.is_empty() && all.iter().all(|s| s.loaded),
            count: all.iter().map(|s| s.count).sum(),
            age_seconds: all.iter().filter_map(|s| s.age_seconds).max(),
        }
    }

    /// Changes whenever any store's key set changes.
    fn key_generation(&self) -> u64 {
        match &self.stores {
            Stores::One(s) => s.generation(),
            Stores::PerTenant(map) => map
                .values()
                .fold(0u64, |acc, s| acc.wrapping_add(s.generation())),
        }
    }

    /// The validated identity behind an `Authorization` header value, or why there is none.
    pub(crate) async fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> Result<Arc<Identity>, ApiError> {
        let raw = bearer::token_from_header(authorization)?;
        token::check_size(raw)?;
        let now = unix_now();
        let generation = self.key_generation();
        let key = token_cache::key(raw);
        let cached = self.verified.get(&key, now, generation);
        self.telemetry.count_token_cache(cached.is_some());
        if let Some(identity) = cached {
            return Ok(identity);
        }
        let identity = Arc::new(self.validate(raw, now).await?);
        self.verified
            .insert(key, Arc::clone(&identity), identity.not_before, generation);
        Ok(identity)
    }

    async fn validate(&self, raw: &str, now: i64) -> Result<Identity, ApiError> {
        // The key a forged signature was found with, so the full path need not verify again.
        let forged_with = match self.validate_at_once(raw, now) {
            Some(Ok(identity)) => return Ok(identity),
            Some(Err(key)) => Some(key),
            None => None,
        };
        let parsed = token::parse(raw)?;
        let store = match &self.stores {
            Stores::One(store) => store,
            Stores::PerTenant(map) => {
                let tenant = parsed.tenant_hint().map(str::to_ascii_lowercase);
                match tenant.as_deref().and_then(|t| map.get(t)) {
                    Some(store) => store,
                    None => {
                        return Err(ApiError::new(ErrorKind::InvalidClaims).because(
                            match tenant {
                                None => {
                                    "tid is missing; multi-tenant tokens must name their tenant"
                                        .to_owned()
                                }
                                Some(t) => format!(
                                    "tenant {:?} is not allowed",
                                    t.chars().take(80).collect::<String>()
                                ),
                            },
                        ));
                    }
                }
            }
        };
        let found = store.find(&parsed.key).await?;
        let forged = forged_with.is_some_and(|key| Arc::ptr_eq(&key, &found.key));
        parsed.validate_after(
            &found.key,
            &self.rules,
            Signer {
                metadata_issuer: &found.metadata_issuer,
                key_issuer: found.key_issuer.as_deref(),
            },
            now,
            forged,
        )
    }
}

impl Guard {
    /// A fresh token accepted with one pass over its payload when its key is loaded and the
    /// issuers come from settings (`Some(Ok)`); the key its signature failed with
    /// (`Some(Err)`); or `None`, leaving it to the full path, which explains refusals.
    fn validate_at_once(
        &self,
        raw: &str,
        now: i64,
    ) -> Option<Result<Identity, Arc<keys::VerifyingKey>>> {
        let Stores::One(store) = &self.stores else {
            return None;
        };
        let named = token::named_key(raw)?;
        let found = store.cached(&named)?;
        let signer = Signer {
            metadata_issuer: &found.metadata_issuer,
            key_issuer: found.key_issuer.as_deref(),
        };
        match token::accept_at_once(raw, &named, &found.key, &self.rules, signer, now) {
            token::AtOnce::Accepted(identity) => Some(Ok(identity)),
            token::AtOnce::Forged => Some(Err(found.key)),
            token::AtOnce::Declined => None,
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
