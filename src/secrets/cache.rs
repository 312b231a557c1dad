//! The secret cache the `vault` function reads and writes through: allowlist, TTL cache with
//! stale-if-error, time budget, and the store's reachability for `health`.
//!
//! Stale-if-error covers only failures where the store could not answer (timeouts, connection
//! failures, 429, 5xx). A refusal (401, 403 for a disabled secret or withdrawn access) or a
//! 404 drops the cached value, so access revoked in Key Vault is revoked here too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Failure, SecretError, SecretStore, Stored};
use crate::telemetry::Telemetry;

/// Budget for one read, retries included.
pub(crate) const READ_BUDGET: Duration = Duration::from_secs(5);
/// How long a cached value past its TTL may still be served while the store fails.
pub(crate) const STALE_IF_ERROR: Duration = Duration::from_secs(3600);
/// Most cached values.
pub(crate) const MAX_CACHED: usize = 1000;

/// A `VAULT_ALLOWED_SECRETS` entry that is neither a secret name nor a prefix ending in `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NotAPattern(String);

impl std::fmt::Display for NotAPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is not a secret name or a prefix ending in *",
            self.0
        )
    }
}

/// One `VAULT_ALLOWED_SECRETS` entry: an exact name, or a prefix ending in `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NamePattern(String);

impl NamePattern {
    /// Parses an entry; names are compared case-insensitively, as Key Vault does.
    pub(crate) fn parse(text: &str) -> Result<NamePattern, NotAPattern> {
        let body = text.strip_suffix('*').unwrap_or(text);
        if body.contains('*') || !body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(NotAPattern(text.to_owned()));
        }
        Ok(NamePattern(text.to_ascii_lowercase()))
    }

    fn matches(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        match self.0.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == self.0,
        }
    }
}

/// Where a value came from, for the audit line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheUse {
    /// Served from the cache within its TTL.
    Hit,
    /// Read from the store.
    Miss,
    /// The store failed; a value past its TTL was served.
    Stale,
    /// No read happened (allowlist).
    Skipped,
}

impl CacheUse {
    /// The audit word.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CacheUse::Hit => "hit",
            CacheUse::Miss => "miss",
            CacheUse::Stale => "stale",
            CacheUse::Skipped => "none",
        }
    }
}

/// What a read produced.
#[derive(Debug)]
pub(crate) enum Read {
    /// The value, and where it came from (the cache, the store, or a stale copy while the
    /// store could not answer).
    Found { value: String, cache: CacheUse },
    /// The store has no such secret.
    Missing,
    /// Refused by `VAULT_ALLOWED_SECRETS`; the store was not asked.
    Denied,
    /// The store failed and nothing cached could stand in.
    Failed(SecretError),
}

impl Read {
    /// Cache involvement, for the audit line.
    pub(crate) fn cache(&self) -> CacheUse {
        match self {
            Read::Found { cache, .. } => *cache,
            Read::Missing | Read::Failed(_) => CacheUse::Miss,
            Read::Denied => CacheUse::Skipped,
        }
    }
}

/// Key Vault reachability for `health`: the last read's outcome, no details.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Reachability {
    /// `None` until the first read.
    pub(crate) reachable: Option<bool>,
    /// Seconds since that read.
    pub(crate) checked_seconds_ago: Option<u64>,
}

struct Entry {
    value: String,
    fetched: Instant,
}

/// The secret store behind its cache, allowlist and time budget.
pub(crate) struct SecretCache {
    store: Box<dyn SecretStore>,
    backend: &'static str,
    ttl: Duration,
    allowed: Option<Vec<NamePattern>>,
    cache: Mutex<HashMap<(String, String), Entry>>,
    /// Milliseconds since `created` of the last read, shifted left once, plus 1 when it
    /// succeeded; 0 before any read. One atomic keeps concurrent reads from contending.
    last: AtomicU64,
    created: Instant,
    /// A network store: reads get the time budget.
    remote: bool,
    /// Where remote calls are reported as dependency items, and the host they go to.
    telemetry: Telemetry,
    target: String,
}

impl SecretCache {
    /// Wraps a store; `ttl` zero disables caching.
    pub(crate) fn new(
        store: Box<dyn SecretStore>,
        backend: &'static str,
        ttl: Duration,
        allowed: Option<Vec<NamePattern>>,
    ) -> SecretCache {
        SecretCache {
            telemetry: Telemetry::off(),
            target: String::new(),
            store,
            backend,
            ttl,
            allowed,
            cache: Mutex::new(HashMap::new()),
            last: AtomicU64::new(0),
            created: Instant::now(),
            remote: backend != "local",
        }
    }

    /// Reports this remote store's calls as dependency items to `target` (its host).
    pub(crate) fn reporting_to(mut self, telemetry: Telemetry, target: &str) -> SecretCache {
        self.telemetry = telemetry;
        self.target = target.to_owned();
        self
    }

    /// `keyvault` or `local`.
    pub(crate) fn backend(&self) -> &'static str {
        self.backend
    }

    /// The last read's outcome.
    pub(crate) fn reachability(&self) -> Reachability {
        let last = self.last.load(Ordering::Relaxed);
        if last == 0 {
            return Reachability {
                reachable: None,
                checked_seconds_ago: None,
            };
        }
        let at = self.created + Duration::from_millis((last >> 1) - 1);
        Reachability {
            reachable: Some(last & 1 == 1),
            checked_seconds_ago: Some(at.elapsed().as_secs()),
        }
    }

    fn record(&self, ok: bool) {
        // +1 keeps a read in the very first millisecond distinct from "never".
        let millis = self.created.elapsed().as_millis() as u64 + 1;
        self.last
            .store((millis << 1) | u64::from(ok), Ordering::Relaxed);
    }

    /// Reads a secret under the allowlist, cache and time budget.
    pub(crate) async fn read(&self, name: &str, version: Option<&str>) -> Read {
        if !self.allows(name) {
            return Read::Denied;
        }
        // Built only when caching is on: the local store reads without allocating a key.
        let key = (!self.ttl.is_zero()).then(|| {
            (
                name.to_ascii_lowercase(),
                version.unwrap_or("").to_ascii_lowercase(),
            )
        });
        let now = Instant::now();
        let cached = match &key {
            None => None,
            Some(key) => self
                .cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(key)
                .map(|e| (e.value.clone(), now.saturating_duration_since(e.fetched))),
        };
        if let Some((value, age)) = &cached
            && *age < self.ttl
        {
            return Read::Found {
                value: value.clone(),
                cache: CacheUse::Hit,
            };
        }
        let outcome = self
            .within_budget("Key Vault get secret", self.store.get(name, version))
            .await;
        self.record(outcome.is_ok());
        let Some(key) = key else {
            return match outcome {
                Ok(Some(value)) => Read::Found {
                    value,
                    cache: CacheUse::Miss,
                },
                Ok(None) => Read::Missing,
                Err(e) => Read::Failed(e),
            };
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(Some(value)) => {
                remember(&mut cache, key, value.clone());
                Read::Found {
                    value,
                    cache: CacheUse::Miss,
                }
            }
            Ok(None) => {
                cache.remove(&key);
                Read::Missing
            }
            Err(e) if e.failure == Failure::Refused => {
                // Key Vault said no (a disabled secret, withdrawn access): stop serving it.
                cache.remove(&key);
                Read::Failed(e)
            }
            Err(e) => match cached {
                Some((value, age)) if age < self.ttl + STALE_IF_ERROR => {
                    log::warn!(
                        "secret store failed ({e}); serving a cached value {} s old",
                        age.as_secs()
                    );
                    Read::Found {
                        value,
                        cache: CacheUse::Stale,
                    }
                }
                _ => Read::Failed(e),
            },
        }
    }
}

/// What a write produced.
pub(crate) enum Write {
    /// Stored.
    Stored(Stored),
    /// Refused by `VAULT_ALLOWED_SECRETS` before reaching the store.
    Denied,
    /// The store failed.
    Failed(SecretError),
}

impl SecretCache {
    /// Writes a secret under the allowlist and the time budget; the cached value for the name
    /// is replaced, so the next read returns what was written.
    pub(crate) async fn write(&self, name: &str, value: &str) -> Write {
        if !self.allows(name) {
            return Write::Denied;
        }
        let outcome = self
            .within_budget("Key Vault set secret", self.store.set(name, value))
            .await;
        self.record(outcome.is_ok());
        let stored = match outcome {
            Ok(stored) => stored,
            Err(e) => return Write::Failed(e),
        };
        if !self.ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            remember(
                &mut cache,
                (name.to_ascii_lowercase(), String::new()),
                value.to_owned(),
            );
        }
        Write::Stored(stored)
    }

    /// Whether `VAULT_ALLOWED_SECRETS` lets `name` through (no setting: every name).
    fn allows(&self, name: &str) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|p| p.matches(name)))
    }

    /// A store call, cut off after [`READ_BUDGET`] and reported as a dependency item when the
    /// store is remote.
    async fn within_budget<T>(
        &self,
        name: &'static str,
        call: impl std::future::Future<Output = Result<T, SecretError>>,
    ) -> Result<T, SecretError> {
        if !self.remote {
            return call.await;
        }
        let item = self.telemetry.dependency(name, &self.target);
        let outcome = tokio::time::timeout(READ_BUDGET, call)
            .await
            .unwrap_or_else(|_| {
                Err(SecretError::transient(format!(
                    "no answer within {} s",
                    READ_BUDGET.as_secs()
                )))
            });
        let status = match &outcome {
            Ok(_) => Some(200),
            Err(e) => e.status,
        };
        item.finish(outcome.is_ok(), status);
        outcome
    }
}

/// Caches `value` under `key`, evicting the oldest entry when full.
fn remember(cache: &mut HashMap<(String, String), Entry>, key: (String, String), value: String) {
    if cache.len() >= MAX_CACHED && !cache.contains_key(&key) {
        evict_oldest(cache);
    }
    cache.insert(
        key,
        Entry {
            value,
            fetched: Instant::now(),
        },
    );
}

fn evict_oldest(cache: &mut HashMap<(String, String), Entry>) {
    if let Some(oldest) = cache
        .iter()
        .min_by_key(|(_, e)| e.fetched)
        .map(|(k, _)| k.clone())
    {
        cache.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretFuture;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A store whose answers the test scripts.
    struct Scripted {
        calls: Arc<AtomicUsize>,
        fail: Arc<std::sync::atomic::AtomicBool>,
        refuse: Arc<std::sync::atomic::AtomicBool>,
    }

    impl SecretStore for Scripted {
        fn set<'a>(&'a self, _name: &'a str, _value: &'a str) -> crate::secrets::SetFuture<'a> {
            Box::pin(async move {
                Ok(Stored {
                    created: None,
                    version: None,
                })
            })
        }

        fn get<'a>(&'a self, name: &'a str, _v: Option<&'a str>) -> SecretFuture<'a> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let fail = self.fail.load(Ordering::SeqCst);
            let refuse = self.refuse.load(Ordering::SeqCst);
            Box::pin(async move {
                if refuse {
                    Err(SecretError::refused("Key Vault answered 403"))
                } else if fail {
                    Err(SecretError::transient("down"))
                } else if name == "missing" {
                    Ok(None)
                } else {
                    Ok(Some(format!("value-of-{name}")))
                }
            })
        }
    }

    fn vault(
        ttl: Duration,
        allowed: Option<&str>,
    ) -> (
        SecretCache,
        Arc<AtomicUsize>,
        Arc<std::sync::atomic::AtomicBool>,
    ) {
        let (v, calls, fail, _) = vault_refusing(ttl, allowed);
        (v, calls, fail)
    }

    type Flag = Arc<std::sync::atomic::AtomicBool>;

    fn vault_refusing(
        ttl: Duration,
        allowed: Option<&str>,
    ) -> (SecretCache, Arc<AtomicUsize>, Flag, Flag) {
        let calls = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let refuse = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let store = Scripted {
            calls: Arc::clone(&calls),
            fail: Arc::clone(&fail),
            refuse: Arc::clone(&refuse),
        };
        let allowed = allowed.map(|a| {
            a.split(',')
                .map(|p| NamePattern::parse(p).unwrap())
                .collect()
        });
        (
            SecretCache::new(Box::new(store), "test", ttl, allowed),
            calls,
            fail,
            refuse,
        )
    }

    #[tokio::test]
    async fn a_refusal_drops_the_cached_value_instead_of_serving_it() {
        let (v, _, fail, refuse) = vault_refusing(Duration::from_millis(20), None);
        assert_eq!(v.read("a", None).await.cache(), CacheUse::Miss);
        tokio::time::sleep(Duration::from_millis(30)).await;
        refuse.store(true, Ordering::SeqCst);
        let refused = v.read("a", None).await;
        assert!(matches!(refused, Read::Failed(e) if e.failure == Failure::Refused));
        // Even once Key Vault merely fails, the dropped value is not served again.
        refuse.store(false, Ordering::SeqCst);
        fail.store(true, Ordering::SeqCst);
        assert!(matches!(v.read("a", None).await, Read::Failed(_)));
    }

    #[tokio::test]
    async fn caches_within_ttl_and_serves_stale_on_error() {
        let (v, calls, fail) = vault(Duration::from_millis(50), None);
        assert_eq!(v.read("a", None).await.cache(), CacheUse::Miss);
        let hit = v.read("A", None).await;
        assert!(
            matches!(hit, Read::Found { value, cache: CacheUse::Hit } if value == "value-of-a")
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
        fail.store(true, Ordering::SeqCst);
        let stale = v.read("a", None).await;
        assert!(
            matches!(stale, Read::Found { value, cache: CacheUse::Stale } if value == "value-of-a")
        );
        assert!(matches!(v.read("b", None).await, Read::Failed(_)));
        assert_eq!(v.reachability().reachable, Some(false));
    }

    #[tokio::test]
    async fn zero_ttl_disables_the_cache() {
        let (v, calls, fail) = vault(Duration::ZERO, None);
        v.read("a", None).await;
        v.read("a", None).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        fail.store(true, Ordering::SeqCst);
        assert!(matches!(v.read("a", None).await, Read::Failed(_)));
    }

    #[tokio::test]
    async fn allowlist_and_bounds() {
        let (v, calls, _) = vault(Duration::from_secs(60), Some("app-*,demo"));
        assert!(matches!(v.read("app-db", None).await, Read::Found { .. }));
        assert!(matches!(v.read("DEMO", None).await, Read::Found { .. }));
        let denied = v.read("other", None).await;
        assert!(matches!(denied, Read::Denied));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "denied names never reach the store"
        );
        assert!(NamePattern::parse("a*b").is_err());
        assert!(NamePattern::parse("a_b").is_err());

        let (v, _, _) = vault(Duration::from_secs(60), None);
        for i in 0..(MAX_CACHED + 10) {
            v.read(&format!("s{i}"), None).await;
        }
        assert_eq!(v.cache.lock().unwrap().len(), MAX_CACHED);
    }
}
