//! The refresh manager: loads one discovery document's keys, refreshes them in the background
//! and on unknown `kid`s (single-flight, never holding a lock across I/O), and answers lookups
//! from the current key set.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

use super::VerifyingKey;
use super::discovery::{self, Discovery};
use super::gate::UnknownKidGate;
use super::jwks::{FetchedKey, JwksError, parse_jwks};
use super::key_set::{KeyRef, KeySet};
use crate::errors::{ApiError, Detail, ErrorKind};
use crate::net;
use crate::telemetry::Telemetry;

/// How long callers are told to wait when no keys are available.
const RETRY_AFTER_SECONDS: u64 = 5;

/// Timing of fetches.
#[derive(Clone, Debug)]
pub(crate) struct RefreshPolicy {
    /// Minimum time between two unknown-`kid` refreshes (`AUTH_KEY_REFRESH_COOLDOWN_SECONDS`).
    pub(crate) unknown_kid_cooldown: Duration,
    /// Minimum time between request-triggered fetches while no keys are loaded.
    pub(crate) empty_retry: Duration,
    /// Background refresh period once keys are loaded (jitter is added).
    pub(crate) refresh_every: Duration,
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

/// Background refresh period with ±10 % jitter, so instances started together spread out.
pub(crate) fn jittered(period: Duration) -> Duration {
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
pub(crate) struct KeyStatus {
    pub(crate) loaded: bool,
    pub(crate) count: usize,
    pub(crate) age_seconds: Option<u64>,
}

/// Where keys come from.
pub(crate) struct KeySource {
    /// The discovery document URL.
    pub(crate) discovery_url: String,
    /// Shared outbound HTTP client.
    pub(crate) http: net::Http,
    /// Where fetches are reported as dependency items.
    pub(crate) telemetry: Telemetry,
}

/// The host of a URL, for telemetry targets (never the path or query).
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Why a refresh kept the keys it had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyFetchError {
    /// The discovery document or the JWKS could not be fetched.
    Fetch(net::FetchError),
    /// The discovery document lacks `issuer` or `jwks_uri`, or is not an object.
    Discovery(String),
    /// The discovery document's `issuer` is empty.
    EmptyIssuer,
    /// Its `jwks_uri` is not an https URL.
    JwksUri(net::UrlError),
    /// The JWKS gives no usable key.
    Jwks(JwksError),
    /// The refresh task itself failed.
    Task(String),
}

impl std::fmt::Display for KeyFetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyFetchError::Fetch(e) => write!(f, "{e}"),
            KeyFetchError::Discovery(why) => write!(f, "discovery document is malformed: {why}"),
            KeyFetchError::EmptyIssuer => f.write_str("discovery document has an empty issuer"),
            KeyFetchError::JwksUri(e) => write!(f, "jwks_uri {e}"),
            KeyFetchError::Jwks(e) => write!(f, "{e}"),
            KeyFetchError::Task(why) => write!(f, "refresh task failed: {why}"),
        }
    }
}

type Refresh = Shared<BoxFuture<'static, Result<(), KeyFetchError>>>;

struct Control {
    gate: UnknownKidGate,
    /// The refresh under way, with its sequence number.
    inflight: Option<(u64, Refresh)>,
    /// How many refreshes have started: the sequence number of the latest.
    started: u64,
    last_attempt: Option<Instant>,
}

/// A refresh a lookup waits on, and whether its outcome can prove the key unknown.
struct Awaited {
    refresh: Refresh,
    /// True only for a refresh that started after the lookup missed: one started before may
    /// have read the key set just before the key was published.
    proves: bool,
}

/// The signing-key cache of one tenant (or one metadata document).
pub(crate) struct KeyStore {
    source: KeySource,
    policy: RefreshPolicy,
    current: RwLock<Arc<KeySet>>,
    /// The current set's generation, readable without touching the set.
    generation: AtomicU64,
    /// The latest discovery document's checked `authorization_endpoint`.
    authorization_endpoint: RwLock<Option<Arc<str>>>,
    control: Mutex<Control>,
}

/// What one successful fetch read.
struct Fetched {
    issuer: String,
    keys: Vec<FetchedKey>,
    authorization_endpoint: Option<Arc<str>>,
}

/// A key found for a token, with what validation needs to know about it.
pub(crate) struct Found {
    pub(crate) key: Arc<VerifyingKey>,
    /// The discovery document's issuer.
    pub(crate) metadata_issuer: String,
    /// The key's own issuer, if the JWKS gave one.
    pub(crate) key_issuer: Option<String>,
}

impl KeyStore {
    /// An empty cache; [`KeyStore::run_background`] loads it.
    pub(crate) fn new(source: KeySource, policy: RefreshPolicy) -> KeyStore {
        KeyStore {
            control: Mutex::new(Control {
                gate: UnknownKidGate::new(policy.unknown_kid_cooldown),
                inflight: None,
                started: 0,
                last_attempt: None,
            }),
            source,
            policy,
            current: RwLock::new(Arc::new(KeySet::default())),
            generation: AtomicU64::new(0),
            authorization_endpoint: RwLock::new(None),
        }
    }

    /// The `authorization_endpoint` of the latest discovery document fetched, when it named
    /// one fit for a `WWW-Authenticate` header (see [`discovery::authorization_endpoint`]).
    pub(crate) fn authorization_endpoint(&self) -> Option<Arc<str>> {
        match self.authorization_endpoint.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The current generation.
    pub(crate) fn snapshot(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The generation of the current key set: changes whenever the usable keys change.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Cache state for `health`.
    pub(crate) fn status(&self) -> KeyStatus {
        let snap = self.snapshot();
        KeyStatus {
            loaded: snap.is_loaded(),
            count: snap.len(),
            age_seconds: snap.fetched_at.map(|t| t.elapsed().as_secs()),
        }
    }

    /// The key `by` names when it is already loaded; never starts a refresh.
    pub(crate) fn cached(&self, by: &KeyRef) -> Option<Found> {
        lookup(&self.snapshot(), by)
    }

    /// The key a token names, refreshing when the policy allows.
    ///
    /// A key is remembered as unknown only when a refresh that started after this lookup
    /// missed completed without it: a refresh already under way may have read the key set
    /// just before the key was published (a rollover race), so it is waited on but proves
    /// nothing, and the key may then earn a refresh of its own (the cooldown still applies).
    pub(crate) async fn find(self: &Arc<Self>, by: &KeyRef) -> Result<Found, ApiError> {
        if let Some(found) = self.cached(by) {
            return Ok(found);
        }
        let memo = by.memo();
        // Refreshes numbered above `missed` started after this lookup missed.
        let (first, missed) = {
            let mut control = self.control();
            let missed = control.started;
            (self.next_refresh(&mut control, &memo, missed), missed)
        };
        let mut awaited = first;
        // At most two rounds: a refresh that was already under way, then one of our own.
        for round in 0..2 {
            let (outcome, proves) = match awaited.take() {
                Some(a) => (Some(a.refresh.await.is_ok()), a.proves),
                None => (None, false),
            };
            let snap = self.snapshot();
            if !snap.is_loaded() {
                return Err(ApiError::new(ErrorKind::SigningKeysUnavailable)
                    .because("signing keys could not be fetched")
                    .with(Detail::RetryAfter(RETRY_AFTER_SECONDS)));
            }
            if let Some(found) = lookup(&snap, by) {
                return Ok(found);
            }
            match outcome {
                // Only a refresh this request waited on, that started after its lookup missed
                // and that succeeded, proves the key unknown; failures were logged by the
                // refresh itself.
                Some(true) if proves => {
                    self.control().gate.confirm_unknown(&memo, Instant::now());
                }
                // A refresh that was already under way proves nothing (see above).
                Some(true) if round == 0 => {
                    let mut control = self.control();
                    awaited = self.next_refresh(&mut control, &memo, missed);
                    if awaited.is_some() {
                        continue;
                    }
                }
                _ => {}
            }
            break;
        }
        Err(ApiError::new(ErrorKind::KeyNotFound).because(match by {
            KeyRef::Kid(_) => "kid is not among the signing keys",
            KeyRef::Thumbprint(_) => "x5t is not among the signing keys",
        }))
    }

    /// The refresh a lookup that missed at sequence number `missed` should wait on, if any:
    /// the one under way, else a new one when the key set is empty (at most once per
    /// `empty_retry`) or when the unknown-`kid` gate allows.
    fn next_refresh(
        self: &Arc<Self>,
        control: &mut Control,
        memo: &str,
        missed: u64,
    ) -> Option<Awaited> {
        if let Some((seq, inflight)) = &control.inflight {
            // A refresh is under way: its result is as fresh as any we could start, though it
            // proves nothing if it started before the lookup missed.
            return Some(Awaited {
                refresh: inflight.clone(),
                proves: *seq > missed,
            });
        }
        let now = Instant::now();
        let start = if !self.snapshot().is_loaded() {
            control
                .last_attempt
                .is_none_or(|t| now.saturating_duration_since(t) >= self.policy.empty_retry)
        } else {
            control.gate.allow(memo, now)
        };
        start.then(|| Awaited {
            refresh: self.start_refresh(control),
            proves: true,
        })
    }

    /// Starts a single-flight refresh in its own task, so a caller that goes away cannot
    /// cancel it; callers wait on the shared outcome.
    fn start_refresh(self: &Arc<Self>, control: &mut Control) -> Refresh {
        control.last_attempt = Some(Instant::now());
        control.started += 1;
        let seq = control.started;
        let me = Arc::clone(self);
        // A refresh a request triggered belongs to that request in telemetry.
        let cx = opentelemetry::Context::current();
        let task = tokio::spawn(opentelemetry::trace::FutureExt::with_context(
            async move {
                let outcome = me.fetch_and_install().await;
                let mut control = me.control();
                if control.inflight.as_ref().is_some_and(|(s, _)| *s == seq) {
                    control.inflight = None;
                }
                drop(control);
                outcome
            },
            cx,
        ));
        let shared = async move {
            task.await
                .unwrap_or_else(|e| Err(KeyFetchError::Task(e.to_string())))
        }
        .boxed()
        .shared();
        control.inflight = Some((seq, shared.clone()));
        shared
    }

    async fn refresh(self: &Arc<Self>) -> Result<(), KeyFetchError> {
        let refresh = {
            let mut control = self.control();
            match &control.inflight {
                Some((_, inflight)) => inflight.clone(),
                None => self.start_refresh(&mut control),
            }
        };
        refresh.await
    }

    async fn fetch_and_install(&self) -> Result<(), KeyFetchError> {
        let fetched = self.fetch().await;
        self.source.telemetry.count_key_fetch(fetched.is_ok());
        match fetched {
            Ok(fetched) => {
                // The endpoint follows the document like the keys: a successful refresh
                // replaces it, a failed one keeps it.
                match self.authorization_endpoint.write() {
                    Ok(mut guard) => *guard = fetched.authorization_endpoint,
                    Err(poisoned) => *poisoned.into_inner() = fetched.authorization_endpoint,
                }
                let old = self.snapshot();
                let next = old.replaced(fetched.issuer, fetched.keys, Instant::now());
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
    pub(crate) async fn run_background(self: Arc<Self>) {
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

    /// One metadata GET, reported as a dependency item.
    async fn get_json(
        &self,
        name: &'static str,
        url: &str,
    ) -> Result<serde_json::Value, KeyFetchError> {
        let item = self.source.telemetry.dependency(name, &host_of(url));
        let answer = self.source.http.get_json(url).await;
        let status = match &answer {
            Ok(_) => Some(200),
            Err(net::FetchError::Status { status, .. }) => Some(*status),
            Err(_) => None,
        };
        item.finish(answer.is_ok(), status);
        answer.map_err(KeyFetchError::Fetch)
    }

    async fn fetch(&self) -> Result<Fetched, KeyFetchError> {
        let doc: Discovery = serde_json::from_value(
            self.get_json("GET signing-key discovery", &self.source.discovery_url)
                .await?,
        )
        .map_err(|e| KeyFetchError::Discovery(e.to_string()))?;
        net::check_url(&doc.jwks_uri).map_err(KeyFetchError::JwksUri)?;
        if doc.issuer.trim().is_empty() {
            return Err(KeyFetchError::EmptyIssuer);
        }
        let jwks = self
            .get_json("GET signing keys (JWKS)", &doc.jwks_uri)
            .await?;
        let keys = parse_jwks(&jwks).map_err(KeyFetchError::Jwks)?;
        let authorization_endpoint = match doc
            .authorization_endpoint
            .as_ref()
            .map(discovery::authorization_endpoint)
        {
            None => None,
            Some(Ok(url)) => Some(Arc::from(url)),
            Some(Err(e)) => {
                // Claims challenges then name none; the keys are as good as ever.
                log::warn!(
                    "the authorization_endpoint of {} is not passed on: it {e}",
                    self.source.discovery_url
                );
                None
            }
        };
        Ok(Fetched {
            issuer: doc.issuer,
            keys,
            authorization_endpoint,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

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
