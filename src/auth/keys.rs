//! Signing keys: the tenant's OpenID discovery document and JWKS, cached in memory.
//!
//! Readers take a snapshot (`Arc<KeySet>`) under a lock that is never held across I/O. Fetches
//! are single-flight behind an async mutex that only requests needing fresh keys wait on.
//! Refresh policy: a background task fetches at start-up and retries until keys arrive, then
//! refreshes hourly; an unknown `kid` triggers at most one fetch per cooldown, counted from the
//! last such fetch (the start-up fetch does not count). A failed fetch never discards keys.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde_json::Value;

use crate::auth::token::Issuers;
use crate::errors::{ApiError, Detail, ErrorKind};
use crate::net;

/// Some providers pad base64url in JWKS; accept both forms there (never in tokens).
const LENIENT_B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Smallest RSA modulus accepted from a JWKS.
const MIN_RSA_BITS: usize = 2048;
/// How long callers are told to wait when no keys are available.
const RETRY_AFTER_SECONDS: u64 = 5;

/// Timing of fetches; the defaults are the documented behaviour, tests shorten nothing.
#[derive(Clone, Debug)]
pub struct RefreshPolicy {
    /// Minimum time between two unknown-`kid` fetches.
    pub unknown_kid_cooldown: Duration,
    /// Minimum time between request-triggered fetches while no keys are loaded.
    pub empty_retry: Duration,
    /// Background refresh period once keys are loaded.
    pub refresh_every: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            unknown_kid_cooldown: Duration::from_secs(300),
            empty_retry: Duration::from_secs(RETRY_AFTER_SECONDS),
            refresh_every: Duration::from_secs(3600),
        }
    }
}

/// One fetched generation of keys and the issuers they sign for.
#[derive(Default)]
pub struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    issuers: Option<Issuers>,
    fetched_at: Option<Instant>,
}

impl KeySet {
    fn is_loaded(&self) -> bool {
        self.issuers.is_some() && !self.keys.is_empty()
    }
}

/// What `health` reports about the cache.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyStatus {
    pub loaded: bool,
    pub count: usize,
    pub age_seconds: Option<u64>,
}

#[derive(Default)]
struct RefreshState {
    last_unknown_kid_fetch: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// Where keys come from: the discovery document URL and how to talk HTTP.
pub struct KeySource {
    /// `{instance}/{tenant}/v2.0/.well-known/openid-configuration`.
    pub discovery_url: String,
    /// The configured tenant, used for the v1 issuer when discovery names no tenant id.
    pub tenant_id: String,
    /// Shared outbound HTTP client.
    pub http: net::Http,
}

/// The signing-key cache.
pub struct KeyStore {
    source: KeySource,
    policy: RefreshPolicy,
    current: RwLock<Arc<KeySet>>,
    refresh: tokio::sync::Mutex<RefreshState>,
}

impl KeyStore {
    /// An empty cache; call [`KeyStore::run_background`] to load it.
    pub fn new(source: KeySource, policy: RefreshPolicy) -> KeyStore {
        KeyStore {
            source,
            policy,
            current: RwLock::new(Arc::new(KeySet::default())),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
        }
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn install(&self, set: KeySet) {
        let set = Arc::new(set);
        match self.current.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// Cache state for `health`.
    pub fn status(&self) -> KeyStatus {
        let snap = self.snapshot();
        KeyStatus {
            loaded: snap.is_loaded(),
            count: snap.keys.len(),
            age_seconds: snap.fetched_at.map(|t| t.elapsed().as_secs()),
        }
    }

    /// The key for `kid` and the issuers it signs for, fetching when the policy allows.
    pub async fn find(&self, kid: &str) -> Result<(Arc<DecodingKey>, Issuers), ApiError> {
        let snap = self.snapshot();
        if let Some(found) = lookup(&snap, kid) {
            return Ok(found);
        }
        let mut state = self.refresh.lock().await;
        // Whoever held the lock before us may have fetched what we need.
        let snap = self.snapshot();
        if let Some(found) = lookup(&snap, kid) {
            return Ok(found);
        }
        let now = Instant::now();
        if snap.is_loaded() {
            if state
                .last_unknown_kid_fetch
                .is_some_and(|t| now.duration_since(t) < self.policy.unknown_kid_cooldown)
            {
                return Err(ApiError::new(ErrorKind::KeyNotFound)
                    .because("kid is not among the signing keys (refresh cooling down)"));
            }
            state.last_unknown_kid_fetch = Some(now);
        } else if state
            .last_attempt
            .is_some_and(|t| now.duration_since(t) < self.policy.empty_retry)
        {
            return Err(unavailable("signing keys could not be fetched"));
        }
        state.last_attempt = Some(now);
        match self.fetch().await {
            Ok(set) => {
                log::info!(
                    "signing keys refreshed for an unknown kid: {} keys",
                    set.keys.len()
                );
                self.install(set);
            }
            Err(e) => log::warn!("signing key refresh failed: {e}"),
        }
        drop(state);
        let snap = self.snapshot();
        if !snap.is_loaded() {
            return Err(unavailable("signing keys could not be fetched"));
        }
        lookup(&snap, kid).ok_or_else(|| {
            ApiError::new(ErrorKind::KeyNotFound)
                .because("kid is not among the signing keys, even after a refresh")
        })
    }

    /// Loads keys at start-up (retrying with back-off until they arrive), then refreshes them.
    pub async fn run_background(self: Arc<Self>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let loaded = self.background_refresh().await;
            let wait = if loaded {
                backoff = Duration::from_secs(1);
                self.policy.refresh_every
            } else {
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn background_refresh(&self) -> bool {
        let mut state = self.refresh.lock().await;
        state.last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => {
                log::info!("signing keys loaded: {} keys", set.keys.len());
                self.install(set);
            }
            Err(e) => log::warn!("signing key fetch failed, keeping what is cached: {e}"),
        }
        self.snapshot().is_loaded()
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let doc: Discovery = serde_json::from_value(
            self.source
                .http
                .get_json(&self.source.discovery_url)
                .await?,
        )
        .map_err(|e| format!("discovery document is malformed: {e}"))?;
        net::check_url(&doc.jwks_uri).map_err(|e| format!("jwks_uri {e}"))?;
        let jwks = self.source.http.get_json(&doc.jwks_uri).await?;
        let keys = parse_jwks(&jwks)?;
        let tenant_id = tenant_from_issuer(&doc.issuer).or_else(|| {
            is_guid(&self.source.tenant_id).then(|| self.source.tenant_id.to_ascii_lowercase())
        });
        let v1_tenant = tenant_id
            .clone()
            .unwrap_or_else(|| self.source.tenant_id.clone());
        Ok(KeySet {
            keys,
            issuers: Some(Issuers {
                v1: format!("https://sts.windows.net/{v1_tenant}/"),
                v2: doc.issuer,
                tenant_id,
            }),
            fetched_at: Some(Instant::now()),
        })
    }
}

fn unavailable(reason: &str) -> ApiError {
    ApiError::new(ErrorKind::SigningKeysUnavailable)
        .because(reason.to_owned())
        .with(Detail::RetryAfter(RETRY_AFTER_SECONDS))
}

fn lookup(set: &KeySet, kid: &str) -> Option<(Arc<DecodingKey>, Issuers)> {
    let key = set.keys.get(kid)?;
    Some((Arc::clone(key), set.issuers.clone()?))
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The tenant GUID in an Entra issuer (`https://host/{tid}/v2.0` or `https://sts.windows.net/{tid}/`).
fn tenant_from_issuer(issuer: &str) -> Option<String> {
    issuer
        .split('/')
        .find(|seg| is_guid(seg))
        .map(str::to_ascii_lowercase)
}

/// Keeps the RSA signing keys of at least 2048 bits; logs and skips everything else.
fn parse_jwks(jwks: &Value) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
    #[derive(Deserialize)]
    struct Jwk {
        kty: String,
        kid: Option<String>,
        #[serde(rename = "use")]
        usage: Option<String>,
        alg: Option<String>,
        n: Option<String>,
        e: Option<String>,
    }
    let entries = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("JWKS has no keys array")?;
    let mut keys = HashMap::new();
    for entry in entries {
        let jwk: Jwk = match serde_json::from_value(entry.clone()) {
            Ok(jwk) => jwk,
            Err(e) => {
                log::warn!("ignoring a malformed JWKS entry: {e}");
                continue;
            }
        };
        let kid = jwk.kid.unwrap_or_default();
        let skip = |why: &str| log::warn!("ignoring JWKS key {kid:?}: {why}");
        if kid.is_empty() {
            skip("no kid");
            continue;
        }
        if jwk.kty != "RSA" {
            skip("not an RSA key");
            continue;
        }
        if jwk.usage.as_deref().is_some_and(|u| u != "sig") {
            skip("not a signing key");
            continue;
        }
        if jwk.alg.as_deref().is_some_and(|a| a != "RS256") {
            skip("not an RS256 key");
            continue;
        }
        let (Some(n), Some(e)) = (jwk.n, jwk.e) else {
            skip("no modulus or exponent");
            continue;
        };
        let (Ok(n), Ok(e)) = (LENIENT_B64URL.decode(&n), LENIENT_B64URL.decode(&e)) else {
            skip("modulus or exponent is not base64url");
            continue;
        };
        let bits = modulus_bits(&n);
        if bits < MIN_RSA_BITS {
            skip(&format!("{bits}-bit modulus is too short"));
            continue;
        }
        if e.iter().all(|b| *b == 0) {
            skip("zero exponent");
            continue;
        }
        keys.insert(kid, Arc::new(DecodingKey::from_rsa_raw_components(&n, &e)));
    }
    if keys.is_empty() {
        return Err("JWKS holds no usable RSA signing key".into());
    }
    Ok(keys)
}

fn modulus_bits(n: &[u8]) -> usize {
    let n = match n.iter().position(|b| *b != 0) {
        Some(i) => &n[i..],
        None => return 0,
    };
    n.len() * 8 - n[0].leading_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose;
    use serde_json::json;

    #[test]
    fn tenant_is_read_from_entra_issuers() {
        let t = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        assert_eq!(
            tenant_from_issuer(&format!("https://login.microsoftonline.com/{t}/v2.0")).as_deref(),
            Some(t)
        );
        assert_eq!(tenant_from_issuer("https://example.com/issuer"), None);
        assert!(is_guid(t));
        assert!(!is_guid("contoso.onmicrosoft.com"));
    }

    #[test]
    fn jwks_keeps_only_strong_rsa_signing_keys() {
        let strong = general_purpose::URL_SAFE_NO_PAD.encode([0xC5u8; 256]);
        let weak = general_purpose::URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "good", "use": "sig", "n": strong, "e": "AQAB"},
            {"kty": "RSA", "kid": "weak", "n": weak, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": strong, "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "n": strong, "e": "AQAB"},
            {"kty": 5},
        ]});
        let keys = parse_jwks(&jwks).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["good"]);
        assert!(parse_jwks(&json!({"keys": []})).is_err());
        assert!(parse_jwks(&json!({})).is_err());
        assert_eq!(modulus_bits(&[0, 0, 1]), 1);
        assert_eq!(modulus_bits(&[0x80, 0]), 16);
    }
}
