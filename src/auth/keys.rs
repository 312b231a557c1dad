//! Signing keys: a tenant's OpenID discovery document and JWKS, cached in memory.
//!
//! The cache itself ([`KeySet`]) and the unknown-`kid` rules ([`UnknownKidGate`]) are plain
//! data, tested without HTTP. [`KeyStore`] adds the I/O, following Microsoft's key rollover
//! guidance and going past it:
//! - a successful refresh *replaces* the key set: a key the provider withdrew (an emergency
//!   rollover after a leak) stops verifying at once, and the verified-token cache is flushed;
//!   a failed refresh keeps everything (last known good);
//! - keys are found by `kid`, or by `x5t` for tokens in the older Entra format that carry no
//!   `kid` (the same key set, matched on the JWKS entry's `x5t` or on a `kid` equal to it);
//! - a background task loads keys at start-up (retrying with back-off, without delaying
//!   readiness), then refreshes every hour with jitter;
//! - an unknown `kid` triggers one synchronous refresh, at most once per cooldown counted from
//!   the last such refresh; a `kid` is remembered as unknown (bounded, until the next
//!   background refresh) only when a refresh this request waited on completed without it, so
//!   a flood of random `kid`s costs nothing and a `kid` refused during the cooldown is tried
//!   again once the cooldown has passed;
//! - refreshes are single-flight and run in their own task; callers wait on the shared result,
//!   never on a lock held across network I/O, and requests with known `kid`s never wait.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use serde::Deserialize;
use serde_json::Value;

use crate::errors::{ApiError, Detail, ErrorKind};
use crate::net;

/// Some providers pad base64url in JWKS; accept both forms there (never in tokens).
const LENIENT_B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Smallest RSA modulus accepted from a JWKS.
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus RS256 verification takes.
const MAX_RSA_BITS: usize = 8192;
/// How long callers are told to wait when no keys are available.
const RETRY_AFTER_SECONDS: u64 = 5;
/// Most `kid`s remembered as confirmed unknown.
const MAX_REMEMBERED_UNKNOWN: usize = 1024;
/// Most keys kept from one JWKS (Entra publishes a handful).
const MAX_KEYS: usize = 100;

/// Timing of fetches.
#[derive(Clone, Debug)]
pub struct RefreshPolicy {
    /// Minimum time between two unknown-`kid` refreshes (`AUTH_KEY_REFRESH_COOLDOWN_SECONDS`).
    pub unknown_kid_cooldown: Duration,
    /// Minimum time between request-triggered fetches while no keys are loaded.
    pub empty_retry: Duration,
    /// Background refresh period once keys are loaded (jitter is added).
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

/// An RS256 public key, built once when the key set is loaded.
pub type VerifyingKey = DecodingKey;

/// An RS256 key from its JWK modulus and exponent (big-endian bytes): 2048 to 8192 bits.
pub fn rs256_key(n: &[u8], e: &[u8]) -> Result<VerifyingKey, String> {
    let n = &n[n.iter().position(|b| *b != 0).unwrap_or(n.len())..];
    let e = &e[e.iter().position(|b| *b != 0).unwrap_or(e.len())..];
    let bits = modulus_bits(n);
    if bits < MIN_RSA_BITS {
        return Err(format!("{bits}-bit modulus is too short"));
    }
    if bits > MAX_RSA_BITS {
        return Err(format!("{bits}-bit modulus is too long for RS256"));
    }
    if e.is_empty() || e.len() > 8 {
        return Err("unusable exponent".into());
    }
    Ok(DecodingKey::from_rsa_raw_components(n, e))
}

/// How a token names its signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRef {
    /// The header's `kid`.
    Kid(String),
    /// The header's `x5t` (certificate thumbprint), for tokens without a `kid`.
    Thumbprint(String),
}

impl KeyRef {
    /// A name for the unknown-key memory; thumbprints and `kid`s never collide.
    fn memo(&self) -> String {
        match self {
            KeyRef::Kid(kid) => format!("kid:{kid}"),
            KeyRef::Thumbprint(x5t) => format!("x5t:{x5t}"),
        }
    }
}

/// A key as the JWKS gave it.
pub struct FetchedKey {
    pub kid: String,
    pub key: VerifyingKey,
    /// The JWKS entry's `issuer` (Entra: possibly with a `{tenantid}` placeholder).
    pub issuer: Option<String>,
    /// The JWKS entry's `x5t`.
    pub x5t: Option<String>,
    /// Modulus and exponent as published, to tell a changed key under the same `kid`.
    pub material: (Vec<u8>, Vec<u8>),
}

/// One verified signing key and what the cache knows of it.
#[derive(Clone)]
pub struct CachedKey {
    pub key: Arc<VerifyingKey>,
    /// The key's own `issuer`, when the JWKS names one.
    pub issuer: Option<String>,
    x5t: Option<String>,
    material: (Vec<u8>, Vec<u8>),
}

impl CachedKey {
    fn same_as(&self, other: &CachedKey) -> bool {
        self.material == other.material && self.issuer == other.issuer && self.x5t == other.x5t
    }
}

/// An immutable generation of the cache: readers hold an `Arc` to it.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, CachedKey>,
    /// `x5t` → `kid`, for tokens that name their key by thumbprint.
    thumbprints: HashMap<String, String>,
    /// The discovery document's `issuer` (Entra multi-tenant: contains `{tenantid}`).
    pub issuer: Option<String>,
    fetched_at: Option<Instant>,
    /// Bumped whenever the set of usable keys changes.
    pub generation: u64,
}

impl KeySet {
    /// Keys and an issuer are present.
    pub fn is_loaded(&self) -> bool {
        self.issuer.is_some() && !self.keys.is_empty()
    }

    /// The key for `kid`.
    pub fn get(&self, kid: &str) -> Option<&CachedKey> {
        self.keys.get(kid)
    }

    /// How many keys are cached.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is cached.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key a token names: by `kid`, or by `x5t` (the entry's `x5t`, else a `kid` equal to
    /// it, as Entra's v1 keys use the thumbprint as their `kid`).
    pub fn find(&self, by: &KeyRef) -> Option<&CachedKey> {
        match by {
            KeyRef::Kid(kid) => self.keys.get(kid),
            KeyRef::Thumbprint(x5t) => self
                .thumbprints
                .get(x5t)
                .and_then(|kid| self.keys.get(kid))
                .or_else(|| self.keys.get(x5t)),
        }
    }

    /// The next generation after a successful fetch at `now`: exactly the fetched keys. The
    /// generation changes when any key appears, disappears, or changes material, `x5t` or
    /// `issuer` under the same `kid`, or when the issuer changes.
    pub fn replaced(&self, issuer: String, fetched: Vec<FetchedKey>, now: Instant) -> KeySet {
        let mut keys = HashMap::with_capacity(fetched.len());
        let mut thumbprints = HashMap::new();
        for f in fetched {
            if let Some(x5t) = &f.x5t {
                thumbprints.insert(x5t.clone(), f.kid.clone());
            }
            keys.insert(
                f.kid,
                CachedKey {
                    key: Arc::new(f.key),
                    issuer: f.issuer,
                    x5t: f.x5t,
                    material: f.material,
                },
            );
        }
        let unchanged = self.issuer.as_deref() == Some(issuer.as_str())
            && keys.len() == self.keys.len()
            && keys
                .iter()
                .all(|(kid, k)| self.keys.get(kid).is_some_and(|old| old.same_as(k)));
        KeySet {
            generation: if unchanged {
                self.generation
            } else {
                self.generation + 1
            },
            keys,
            thumbprints,
            issuer: Some(issuer),
            fetched_at: Some(now),
        }
    }
}

/// Whether an unknown `kid` may trigger a refresh: the cooldown and the confirmed-unknown memory.
#[derive(Debug)]
pub struct UnknownKidGate {
    cooldown: Duration,
    last_refresh: Option<Instant>,
    unknown: HashSet<String>,
    order: VecDeque<String>,
}

impl UnknownKidGate {
    /// A gate allowing one unknown-`kid` refresh per `cooldown`.
    pub fn new(cooldown: Duration) -> UnknownKidGate {
        UnknownKidGate {
            cooldown,
            last_refresh: None,
            unknown: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// True (and the refresh is recorded) when `kid` may trigger a refresh at `now`.
    pub fn allow(&mut self, kid: &str, now: Instant) -> bool {
        if self.unknown.contains(kid) {
            return false;
        }
        if self
            .last_refresh
            .is_some_and(|t| now.saturating_duration_since(t) < self.cooldown)
        {
            return false;
        }
        self.last_refresh = Some(now);
        true
    }

    /// Remembers a `kid` that a refresh did not find.
    pub fn confirm_unknown(&mut self, kid: &str) {
        if kid.len() > 256 || !self.unknown.insert(kid.to_owned()) {
            return;
        }
        self.order.push_back(kid.to_owned());
        while self.order.len() > MAX_REMEMBERED_UNKNOWN {
            if let Some(old) = self.order.pop_front() {
                self.unknown.remove(&old);
            }
        }
    }

    /// Forgets the remembered `kid`s (after a background refresh).
    pub fn forget_unknown(&mut self) {
        self.unknown.clear();
        self.order.clear();
    }

    /// How many `kid`s are remembered.
    pub fn remembered(&self) -> usize {
        self.unknown.len()
    }
}

/// Background refresh period with ±10 % jitter, so instances started together spread out.
pub fn jittered(period: Duration) -> Duration {
    let tenth = period.as_millis() as u64 / 10;
    if tenth == 0 {
        return period;
    }
    let noise = RandomState::new().hash_one(Instant::now()) % (2 * tenth + 1);
    period - Duration::from_millis(tenth) + Duration::from_millis(noise)
}

/// What `health` reports about the cache.
#[derive(Clone, Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyStatus {
    pub loaded: bool,
    pub count: usize,
    pub age_seconds: Option<u64>,
}

/// Where keys come from.
pub struct KeySource {
    /// The discovery document URL.
    pub discovery_url: String,
    /// Shared outbound HTTP client.
    pub http: net::Http,
}

type Refresh = Shared<BoxFuture<'static, Result<(), String>>>;

struct Control {
    gate: UnknownKidGate,
    inflight: Option<Refresh>,
    last_attempt: Option<Instant>,
}

/// The signing-key cache of one tenant (or one metadata document).
pub struct KeyStore {
    source: KeySource,
    policy: RefreshPolicy,
    current: RwLock<Arc<KeySet>>,
    /// The current set's generation, readable without touching the set.
    generation: AtomicU64,
    control: Mutex<Control>,
}

/// A key found for a token, with what validation needs to know about it.
pub struct Found {
    pub key: Arc<VerifyingKey>,
    /// The discovery document's issuer.
    pub metadata_issuer: String,
    /// The key's own issuer, if the JWKS gave one.
    pub key_issuer: Option<String>,
}

impl KeyStore {
    /// An empty cache; [`KeyStore::run_background`] loads it.
    pub fn new(source: KeySource, policy: RefreshPolicy) -> KeyStore {
        KeyStore {
            control: Mutex::new(Control {
                gate: UnknownKidGate::new(policy.unknown_kid_cooldown),
                inflight: None,
                last_attempt: None,
            }),
            source,
            policy,
            current: RwLock::new(Arc::new(KeySet::default())),
            generation: AtomicU64::new(0),
        }
    }

    /// The current generation.
    pub fn snapshot(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The generation of the current key set: changes whenever the usable keys change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Cache state for `health`.
    pub fn status(&self) -> KeyStatus {
        let snap = self.snapshot();
        KeyStatus {
            loaded: snap.is_loaded(),
            count: snap.len(),
            age_seconds: snap.fetched_at.map(|t| t.elapsed().as_secs()),
        }
    }

    /// The key a token names, refreshing when the policy allows.
    pub async fn find(self: &Arc<Self>, by: &KeyRef) -> Result<Found, ApiError> {
        let snap = self.snapshot();
        if let Some(found) = lookup(&snap, by) {
            return Ok(found);
        }
        let memo = by.memo();
        let now = Instant::now();
        let refresh = {
            let mut control = self.control();
            if let Some(inflight) = &control.inflight {
                // A refresh is under way: its result is as fresh as any we could start.
                Some(inflight.clone())
            } else if !snap.is_loaded() {
                let recent = control
                    .last_attempt
                    .is_some_and(|t| now.saturating_duration_since(t) < self.policy.empty_retry);
                (!recent).then(|| self.start_refresh(&mut control))
            } else if control.gate.allow(&memo, now) {
                Some(self.start_refresh(&mut control))
            } else {
                None
            }
        };
        // Only a refresh this request waited on, and that succeeded, proves the key unknown;
        // failures were logged by the refresh itself.
        let proven = match refresh {
            Some(refresh) => refresh.await.is_ok(),
            None => false,
        };
        let snap = self.snapshot();
        if !snap.is_loaded() {
            return Err(ApiError::new(ErrorKind::SigningKeysUnavailable)
                .because("signing keys could not be fetched")
                .with(Detail::RetryAfter(RETRY_AFTER_SECONDS)));
        }
        lookup(&snap, by).ok_or_else(|| {
            if proven {
                self.control().gate.confirm_unknown(&memo);
            }
            ApiError::new(ErrorKind::KeyNotFound).because(match by {
                KeyRef::Kid(_) => "kid is not among the signing keys",
                KeyRef::Thumbprint(_) => "x5t is not among the signing keys",
            })
        })
    }

    /// Starts a single-flight refresh in its own task, so a caller that goes away cannot
    /// cancel it; callers wait on the shared outcome.
    fn start_refresh(self: &Arc<Self>, control: &mut Control) -> Refresh {
        control.last_attempt = Some(Instant::now());
        let me = Arc::clone(self);
        let task = tokio::spawn(async move {
            let outcome = me.fetch_and_install().await;
            me.control().inflight = None;
            outcome
        });
        let shared = async move {
            task.await
                .unwrap_or_else(|e| Err(format!("refresh task failed: {e}")))
        }
        .boxed()
        .shared();
        control.inflight = Some(shared.clone());
        shared
    }

    async fn refresh(self: &Arc<Self>) -> Result<(), String> {
        let refresh = {
            let mut control = self.control();
            match &control.inflight {
                Some(inflight) => inflight.clone(),
                None => self.start_refresh(&mut control),
            }
        };
        refresh.await
    }

    async fn fetch_and_install(&self) -> Result<(), String> {
        match self.fetch().await {
            Ok((issuer, fetched)) => {
                let old = self.snapshot();
                let next = old.replaced(issuer, fetched, Instant::now());
                if next.generation != old.generation {
                    log::info!(
                        "signing keys loaded from {}: {} keys",
                        self.source.discovery_url,
                        next.len()
                    );
                }
                let generation = next.generation;
                match self.current.write() {
                    Ok(mut guard) => *guard = Arc::new(next),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(next),
                }
                self.generation.store(generation, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                log::warn!("signing key refresh failed, keeping what is cached: {e}");
                Err(e)
            }
        }
    }

    /// Loads keys at start-up (retrying with back-off until they arrive), then refreshes them
    /// hourly with jitter.
    pub async fn run_background(self: Arc<Self>) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let ok = self.refresh().await.is_ok();
            let wait = if ok {
                self.control().gate.forget_unknown();
                backoff = Duration::from_secs(1);
                jittered(self.policy.refresh_every)
            } else if self.snapshot().is_loaded() {
                // Keys are cached: retry sooner than an hour, but without hammering.
                Duration::from_secs(60).min(self.policy.refresh_every)
            } else {
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    async fn fetch(&self) -> Result<(String, Vec<FetchedKey>), String> {
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
        if doc.issuer.trim().is_empty() {
            return Err("discovery document has an empty issuer".into());
        }
        let jwks = self.source.http.get_json(&doc.jwks_uri).await?;
        Ok((doc.issuer, parse_jwks(&jwks)?))
    }
}

fn lookup(set: &KeySet, by: &KeyRef) -> Option<Found> {
    let cached = set.find(by)?;
    Some(Found {
        key: Arc::clone(&cached.key),
        metadata_issuer: set.issuer.clone()?,
        key_issuer: cached.issuer.clone(),
    })
}

/// Keeps the RSA signing keys of 2048 to 8192 bits; logs and skips everything else.
///
/// Each entry is read with jsonwebtoken's `Jwk` type, one at a time rather than as a
/// `JwkSet`, so one malformed entry is skipped instead of failing the whole set. Entra's
/// non-standard `issuer` field is read alongside.
pub fn parse_jwks(jwks: &Value) -> Result<Vec<FetchedKey>, String> {
    #[derive(Deserialize)]
    struct EntraFields {
        issuer: Option<String>,
    }
    let entries = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("JWKS has no keys array")?;
    let mut keys = Vec::new();
    for entry in entries {
        let jwk = match Jwk::deserialize(entry) {
            Ok(jwk) => jwk,
            Err(e) => {
                log::warn!("ignoring a malformed JWKS entry: {e}");
                continue;
            }
        };
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        let skip = |why: &str| log::warn!("ignoring JWKS key {kid:?}: {why}");
        if kid.is_empty() || kid.len() > 256 {
            skip("no usable kid");
            continue;
        }
        let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            skip("not an RSA key");
            continue;
        };
        if !matches!(
            jwk.common.public_key_use,
            None | Some(PublicKeyUse::Signature)
        ) {
            skip("not a signing key");
            continue;
        }
        if !matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)) {
            skip("not an RS256 key");
            continue;
        }
        // Some providers pad base64url in JWKS: accept both forms here (never in tokens).
        let (Ok(n), Ok(e)) = (LENIENT_B64URL.decode(&rsa.n), LENIENT_B64URL.decode(&rsa.e)) else {
            skip("modulus or exponent is not base64url");
            continue;
        };
        if keys.len() == MAX_KEYS {
            skip("too many keys in one JWKS");
            continue;
        }
        let key = match rs256_key(&n, &e) {
            Ok(key) => key,
            Err(why) => {
                skip(&why);
                continue;
            }
        };
        let issuer = EntraFields::deserialize(entry)
            .ok()
            .and_then(|f| f.issuer)
            .filter(|i| !i.is_empty());
        keys.push(FetchedKey {
            kid,
            key,
            issuer,
            x5t: jwk
                .common
                .x509_sha1_fingerprint
                .filter(|t| !t.is_empty() && t.len() <= 256),
            material: (n, e),
        });
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
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    fn strong() -> String {
        URL_SAFE_NO_PAD.encode([0xC5u8; 256])
    }

    fn fetched(kids: &[&str]) -> Vec<FetchedKey> {
        kids.iter().map(|kid| one(kid, 0xC5, None)).collect()
    }

    fn one(kid: &str, fill: u8, issuer: Option<&str>) -> FetchedKey {
        let n = vec![fill; 256];
        FetchedKey {
            kid: kid.to_string(),
            key: rs256_key(&n, &[1, 0, 1]).unwrap(),
            issuer: issuer.map(str::to_owned),
            x5t: None,
            material: (n, vec![1, 0, 1]),
        }
    }

    fn kids(set: &KeySet) -> Vec<String> {
        let mut k: Vec<String> = set.keys.keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn jwks_keeps_only_strong_rsa_signing_keys() {
        let weak = URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "good", "use": "sig", "n": strong(), "e": "AQAB",
             "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"},
            {"kty": "RSA", "kid": "weak", "n": weak, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": strong(), "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": strong(), "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "n": strong(), "e": "AQAB"},
            {"kty": "RSA", "kid": "bad-b64", "n": "!!", "e": "AQAB"},
            {"kty": 5},
        ]});
        let keys = parse_jwks(&jwks).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "good");
        assert_eq!(
            keys[0].issuer.as_deref(),
            Some("https://login.microsoftonline.com/{tenantid}/v2.0")
        );
        assert!(parse_jwks(&json!({"keys": []})).is_err());
        assert!(parse_jwks(&json!({})).is_err());
        assert!(parse_jwks(&json!({"keys": "x"})).is_err());
        assert_eq!(modulus_bits(&[0, 0, 1]), 1);
        assert_eq!(modulus_bits(&[0x80, 0]), 16);
    }

    #[test]
    fn a_refresh_replaces_the_set_and_withdrawn_keys_are_gone() {
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        let empty = KeySet::default();
        assert!(!empty.is_loaded());
        let g1 = empty.replaced("iss".into(), fetched(&["a", "b"]), t0);
        assert!(g1.is_loaded());
        assert_eq!(g1.generation, 1);
        // b is withdrawn, c published: b stops verifying at once.
        let g2 = g1.replaced("iss".into(), fetched(&["a", "c"]), t0 + hour);
        assert_eq!(kids(&g2), ["a", "c"]);
        assert!(g2.get("b").is_none());
        assert_eq!(g2.generation, 2);
        // Same keys again: same generation, so cached verdicts survive.
        let g3 = g2.replaced("iss".into(), fetched(&["c", "a"]), t0 + 2 * hour);
        assert_eq!(g3.generation, 2);
        assert_eq!(g3.fetched_at, Some(t0 + 2 * hour));
        // Another issuer for the whole set: a new generation.
        let g4 = g3.replaced("other".into(), fetched(&["a", "c"]), t0 + 3 * hour);
        assert_eq!(g4.generation, 3);
    }

    #[test]
    fn new_material_or_issuer_under_the_same_kid_is_a_new_generation() {
        let t0 = Instant::now();
        let g1 = KeySet::default().replaced("iss".into(), vec![one("a", 0xC5, None)], t0);
        let same = g1.replaced("iss".into(), vec![one("a", 0xC5, None)], t0);
        assert_eq!(same.generation, g1.generation);
        let rekeyed = g1.replaced("iss".into(), vec![one("a", 0xC7, None)], t0);
        assert_eq!(rekeyed.generation, g1.generation + 1);
        let rebound = g1.replaced("iss".into(), vec![one("a", 0xC5, Some("https://x/"))], t0);
        assert_eq!(rebound.generation, g1.generation + 1);
    }

    #[test]
    fn thumbprints_find_keys_without_a_kid() {
        let mut with_x5t = one("kid-1", 0xC5, None);
        with_x5t.x5t = Some("thumb-1".into());
        let set = KeySet::default().replaced(
            "iss".into(),
            vec![with_x5t, one("thumb-2", 0xC7, None)],
            Instant::now(),
        );
        let by = |t: &str| {
            set.find(&KeyRef::Thumbprint(t.into()))
                .map(|k| k.material.0[0])
        };
        assert_eq!(by("thumb-1"), Some(0xC5), "the entry's own x5t");
        assert_eq!(by("thumb-2"), Some(0xC7), "a kid equal to the thumbprint");
        assert_eq!(by("thumb-3"), None);
        assert!(set.find(&KeyRef::Kid("thumb-1".into())).is_none());
        assert!(set.find(&KeyRef::Kid("kid-1".into())).is_some());
    }

    #[test]
    fn unknown_kid_gate_allows_one_refresh_per_cooldown() {
        let t0 = Instant::now();
        let mut gate = UnknownKidGate::new(Duration::from_secs(300));
        assert!(
            gate.allow("x", t0),
            "the first unknown kid refreshes at once"
        );
        assert!(!gate.allow("y", t0 + Duration::from_secs(10)));
        assert!(!gate.allow("y", t0 + Duration::from_secs(299)));
        assert!(gate.allow("y", t0 + Duration::from_secs(300)));
        // A kid confirmed unknown never triggers a refresh again until forgotten.
        gate.confirm_unknown("y");
        assert!(!gate.allow("y", t0 + Duration::from_secs(10_000)));
        assert!(gate.allow("z", t0 + Duration::from_secs(10_000)));
        gate.forget_unknown();
        assert!(gate.allow("y", t0 + Duration::from_secs(20_000)));
        // Memory is bounded.
        for i in 0..5000 {
            gate.confirm_unknown(&format!("k{i}"));
        }
        assert_eq!(gate.remembered(), MAX_REMEMBERED_UNKNOWN);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let hour = Duration::from_secs(3600);
        for _ in 0..100 {
            let j = jittered(hour);
            assert!(
                j >= Duration::from_secs(3240) && j <= Duration::from_secs(3960),
                "{j:?}"
            );
        }
        assert_eq!(jittered(Duration::ZERO), Duration::ZERO);
    }
}
