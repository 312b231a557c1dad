//! The secret cache the `vault` function reads and writes through: allowlist, TTL cache with
//! stale-if-error, time budget, and the store's reachability for `health`.
//!
//! Stale-if-error covers only failures where the store could not answer (timeouts, connection
//! failures, 429, 5xx). A refusal (401, 403 for a disabled secret or withdrawn access) or a
//! 404 drops the cached value, so access revoked in Key Vault is revoked here too.
//!
//! Store reads run as one background task per secret (single flight): callers that find the
//! same secret missing or expired wait on that one read. A caller holding a value past its TTL
//! waits at most [`STALE_GRACE`] for it, then gets the stale value while the read carries on;
//! after a transient failure the store is not asked again for that secret until a backoff
//! ([`FIRST_BACKOFF`], doubling to [`MAX_BACKOFF`]) has passed, and reads in between are
//! answered from the stale value at once. An outage therefore costs a stale read at most
//! [`STALE_GRACE`], once per backoff, instead of the SDK's retries on every call.
//!
//! Every value is tagged with the write count when its read started; a read that completes
//! after a later write never replaces (or removes) the written value.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::trace::FutureExt as _;
use serde::Serialize;
use tokio::sync::watch;

use super::{Failure, SecretError, SecretStore, Stored};
use crate::telemetry::Telemetry;

/// Budget for one read, retries included.
pub(crate) const READ_BUDGET: Duration = Duration::from_secs(5);
/// How long a cached value past its TTL may still be served while the store fails.
pub(crate) const STALE_IF_ERROR: Duration = Duration::from_secs(3600);
/// How long a caller holding a stale value waits for the store before being served it.
pub(crate) const STALE_GRACE: Duration = Duration::from_millis(250);
/// The pause after a transient failure before the store is asked for that secret again.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest such pause, however many failures in a row.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
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

/// (lower-case name, lower-case version or "").
type Key = (String, String);

/// What one store read produced, shared by every caller waiting on it.
type Fetched = Arc<Result<Option<String>, SecretError>>;

struct Entry {
    value: String,
    fetched: Instant,
    /// The write count when the read that produced `value` started (or, for a written value,
    /// the count that write made): a read that started earlier must not replace it.
    seq: u64,
    /// Transient failures in a row since `value` was fetched.
    failures: u32,
    /// Until when the store is not asked again after such a failure.
    retry_at: Option<Instant>,
}

/// A read task's in-flight entry, removed if the task ends without settling (its runtime shut
/// down, or it panicked), so the next caller starts a new read instead of waiting on one that
/// will never answer.
struct Landing {
    shared: Arc<Shared>,
    key: Option<Key>,
}

impl Drop for Landing {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.shared.lock().flights.remove(&key);
        }
    }
}

/// A store read in progress, and when it began.
struct Flight {
    done: watch::Receiver<Option<Fetched>>,
    started: Instant,
}

#[derive(Default)]
struct Slots {
    entries: HashMap<Key, Entry>,
    flights: HashMap<Key, Flight>,
}

/// The secret store behind its cache, allowlist and time budget; cheap to share.
pub(crate) struct SecretCache {
    shared: Arc<Shared>,
}

struct Shared {
    store: Box<dyn SecretStore>,
    backend: &'static str,
    ttl: Duration,
    allowed: Option<Vec<NamePattern>>,
    slots: Mutex<Slots>,
    /// Writes so far; see [`Entry::seq`].
    writes: AtomicU64,
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
            shared: Arc::new(Shared {
                telemetry: Telemetry::off(),
                target: String::new(),
                store,
                backend,
                ttl,
                allowed,
                slots: Mutex::new(Slots::default()),
                writes: AtomicU64::new(0),
                last: AtomicU64::new(0),
                created: Instant::now(),
                remote: backend != "local",
            }),
        }
    }

    /// Reports this remote store's calls as dependency items to `target` (its host).
    pub(crate) fn reporting_to(mut self, telemetry: Telemetry, target: &str) -> SecretCache {
        // Called while building, before any read task holds a reference.
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.telemetry = telemetry;
            shared.target = target.to_owned();
        }
        self
    }

    /// `keyvault` or `local`.
    pub(crate) fn backend(&self) -> &'static str {
        self.shared.backend
    }

    /// The last read's outcome.
    pub(crate) fn reachability(&self) -> Reachability {
        let last = self.shared.last.load(Ordering::Relaxed);
        if last == 0 {
            return Reachability {
                reachable: None,
                checked_seconds_ago: None,
            };
        }
        let at = self.shared.created + Duration::from_millis((last >> 1) - 1);
        Reachability {
            reachable: Some(last & 1 == 1),
            checked_seconds_ago: Some(at.elapsed().as_secs()),
        }
    }

    /// Reads a secret under the allowlist, cache and time budget.
    pub(crate) async fn read(&self, name: &str, version: Option<&str>) -> Read {
        let shared = &self.shared;
        if !shared.allows(name) {
            return Read::Denied;
        }
        if shared.ttl.is_zero() {
            // No cache: the local store reads in memory, without allocating a key.
            let outcome = shared.get(name, version).await;
            return match outcome {
                Ok(Some(value)) => Read::Found {
                    value,
                    cache: CacheUse::Miss,
                },
                Ok(None) => Read::Missing,
                Err(e) => Read::Failed(e),
            };
        }
        let key = (
            name.to_ascii_lowercase(),
            version.unwrap_or("").to_ascii_lowercase(),
        );
        let now = Instant::now();
        let (stale, flight) = {
            let mut slots = shared.lock();
            let mut stale = None;
            if let Some(e) = slots.entries.get(&key) {
                let age = now.saturating_duration_since(e.fetched);
                if age < shared.ttl {
                    return Read::Found {
                        value: e.value.clone(),
                        cache: CacheUse::Hit,
                    };
                }
                if age < shared.ttl + STALE_IF_ERROR {
                    if e.retry_at.is_some_and(|at| now < at) {
                        // The store failed moments ago: do not ask again yet.
                        return Read::Found {
                            value: e.value.clone(),
                            cache: CacheUse::Stale,
                        };
                    }
                    stale = Some(e.value.clone());
                }
            }
            let flight = match slots.flights.get(&key) {
                Some(f) => (f.done.clone(), f.started),
                None => {
                    let done = Shared::start_read(shared, key.clone(), name, version);
                    slots.flights.insert(
                        key,
                        Flight {
                            done: done.clone(),
                            started: now,
                        },
                    );
                    (done, now)
                }
            };
            (stale, flight)
        };
        let (mut done, started) = flight;
        // With a stale value in hand, wait only what is left of the grace since the read
        // began; without one, as long as the read may take.
        let wait = match stale {
            Some(_) => STALE_GRACE.saturating_sub(now.saturating_duration_since(started)),
            None => READ_BUDGET + Duration::from_secs(1),
        };
        let fetched = match tokio::time::timeout(wait, done.wait_for(Option::is_some)).await {
            Ok(Ok(fetched)) => fetched.clone(),
            _ => None,
        };
        match (fetched.as_deref(), stale) {
            (Some(Ok(Some(value))), _) => Read::Found {
                value: value.clone(),
                cache: CacheUse::Miss,
            },
            (Some(Ok(None)), _) => Read::Missing,
            (Some(Err(e)), _) if e.failure == Failure::Refused => Read::Failed(e.clone()),
            (_, Some(value)) => Read::Found {
                value,
                cache: CacheUse::Stale,
            },
            (Some(Err(e)), None) => Read::Failed(e.clone()),
            (None, None) => Read::Failed(SecretError::transient(format!(
                "no answer within {} s",
                READ_BUDGET.as_secs()
            ))),
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, ok: bool) {
        // +1 keeps a read in the very first millisecond distinct from "never".
        let millis = self.created.elapsed().as_millis() as u64 + 1;
        self.last
            .store((millis << 1) | u64::from(ok), Ordering::Relaxed);
    }

    /// One store read within the budget, recorded for `health`.
    async fn get(&self, name: &str, version: Option<&str>) -> Result<Option<String>, SecretError> {
        let outcome = self
            .within_budget(
                "Key Vault get secret",
                self.store.get(name, version),
                // Key Vault answers a missing secret with 404: report what it answered.
                |found: &Option<String>| if found.is_some() { 200 } else { 404 },
            )
            .await;
        self.record(outcome.is_ok());
        outcome
    }

    /// Starts the read of `key` as a task of its own and returns where its outcome appears.
    /// Called with the slots locked, so no second read of the same key can start.
    fn start_read(
        this: &Arc<Shared>,
        key: Key,
        name: &str,
        version: Option<&str>,
    ) -> watch::Receiver<Option<Fetched>> {
        let (tx, rx) = watch::channel(None);
        let shared = Arc::clone(this);
        let (name, version) = (name.to_owned(), version.map(str::to_owned));
        let seq = this.writes.load(Ordering::SeqCst);
        // The dependency item stays a child of the call that started the read.
        let cx = opentelemetry::Context::current();
        tokio::spawn(
            async move {
                let mut landing = Landing {
                    shared: Arc::clone(&shared),
                    key: Some(key),
                };
                let outcome = shared.get(&name, version.as_deref()).await;
                if let Some(key) = landing.key.take() {
                    shared.settle(key, seq, &outcome);
                }
                let _ = tx.send(Some(Arc::new(outcome)));
            }
            .with_context(cx),
        );
        rx
    }

    /// Puts a finished read's outcome in the cache, unless a write landed since it began.
    fn settle(&self, key: Key, seq: u64, outcome: &Result<Option<String>, SecretError>) {
        let mut slots = self.lock();
        slots.flights.remove(&key);
        let newer_write = slots.entries.get(&key).is_some_and(|e| e.seq > seq);
        match outcome {
            _ if newer_write => {}
            Ok(Some(value)) => remember(&mut slots.entries, key, value.clone(), seq),
            // Gone, or Key Vault said no (a disabled secret, withdrawn access): stop serving it.
            Ok(None) => {
                slots.entries.remove(&key);
            }
            Err(e) if e.failure == Failure::Refused => {
                slots.entries.remove(&key);
            }
            Err(e) => {
                if let Some(entry) = slots.entries.get_mut(&key) {
                    entry.failures = entry.failures.saturating_add(1);
                    let pause = FIRST_BACKOFF
                        .saturating_mul(1 << entry.failures.saturating_sub(1).min(8))
                        .min(MAX_BACKOFF);
                    entry.retry_at = Some(Instant::now() + pause);
                    log::warn!(
                        "secret store failed ({e}); serving a cached value {} s old, next try in {} s",
                        entry.fetched.elapsed().as_secs(),
                        pause.as_secs()
                    );
                }
            }
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
        let shared = &self.shared;
        if !shared.allows(name) {
            return Write::Denied;
        }
        let outcome = shared
            .within_budget(
                "Key Vault set secret",
                shared.store.set(name, value),
                |_| 200,
            )
            .await;
        shared.record(outcome.is_ok());
        let stored = match outcome {
            Ok(stored) => stored,
            Err(e) => return Write::Failed(e),
        };
        if !shared.ttl.is_zero() {
            let seq = shared.writes.fetch_add(1, Ordering::SeqCst) + 1;
            let mut slots = shared.lock();
            remember(
                &mut slots.entries,
                (name.to_ascii_lowercase(), String::new()),
                value.to_owned(),
                seq,
            );
        }
        Write::Stored(stored)
    }
}

impl Shared {
    /// Whether `VAULT_ALLOWED_SECRETS` lets `name` through (no setting: every name).
    fn allows(&self, name: &str) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|p| p.matches(name)))
    }

    /// A store call, cut off after [`READ_BUDGET`] and reported as a dependency item (with
    /// the status `status_of` gives a success) when the store is remote.
    async fn within_budget<T>(
        &self,
        name: &'static str,
        call: impl std::future::Future<Output = Result<T, SecretError>>,
        status_of: impl Fn(&T) -> u16,
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
            Ok(value) => Some(status_of(value)),
            Err(e) => e.status,
        };
        let ok = outcome.is_ok() && status.is_none_or(|s| s < 400);
        item.finish(ok, status);
        outcome
    }
}

/// Caches `value` under `key` as of write count `seq`, evicting the oldest entry when full.
fn remember(cache: &mut HashMap<Key, Entry>, key: Key, value: String, seq: u64) {
    if cache.len() >= MAX_CACHED && !cache.contains_key(&key) {
        evict_oldest(cache);
    }
    cache.insert(
        key,
        Entry {
            value,
            fetched: Instant::now(),
            seq,
            failures: 0,
            retry_at: None,
        },
    );
}

fn evict_oldest(cache: &mut HashMap<Key, Entry>) {
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

    /// A store whose reads take `delay`, then answer "old" or fail.
    struct Slow {
        delay: Duration,
        fail: Arc<std::sync::atomic::AtomicBool>,
        calls: Arc<AtomicUsize>,
    }

    impl SecretStore for Slow {
        fn set<'a>(&'a self, _name: &'a str, _value: &'a str) -> crate::secrets::SetFuture<'a> {
            Box::pin(async move {
                Ok(Stored {
                    created: None,
                    version: None,
                })
            })
        }

        fn get<'a>(&'a self, _name: &'a str, _v: Option<&'a str>) -> SecretFuture<'a> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let fail = Arc::clone(&self.fail);
            let delay = self.delay;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                if fail.load(Ordering::SeqCst) {
                    Err(SecretError::transient("down"))
                } else {
                    Ok(Some("old".to_owned()))
                }
            })
        }
    }

    fn slow(ttl: Duration, delay: Duration) -> (SecretCache, Flag, Arc<AtomicUsize>) {
        let fail = Flag::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let store = Slow {
            delay,
            fail: Arc::clone(&fail),
            calls: Arc::clone(&calls),
        };
        (
            SecretCache::new(Box::new(store), "test", ttl, None),
            fail,
            calls,
        )
    }

    #[test]
    fn a_read_task_that_dies_does_not_block_its_secret() {
        let (v, _, calls) = slow(Duration::from_secs(60), Duration::from_secs(3600));
        // A runtime that stops while the read is in flight drops the read's task.
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        first.block_on(async {
            let read = v.read("a", None);
            let _ = tokio::time::timeout(Duration::from_millis(20), read).await;
        });
        drop(first);
        assert!(v.shared.lock().flights.is_empty(), "the dead read is gone");
        let second = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        second.block_on(async {
            let read = v.read("a", None);
            let _ = tokio::time::timeout(Duration::from_millis(20), read).await;
        });
        assert_eq!(calls.load(Ordering::SeqCst), 2, "a new read started");
    }

    #[tokio::test]
    async fn a_read_in_flight_never_replaces_a_later_write() {
        let (v, _, _) = slow(Duration::from_secs(60), Duration::from_millis(100));
        let (raced, ()) = tokio::join!(v.read("a", None), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(matches!(v.write("a", "new").await, Write::Stored(_)));
        });
        assert!(matches!(raced, Read::Found { value, .. } if value == "old"));
        let after = v.read("a", None).await;
        assert!(
            matches!(&after, Read::Found { value, cache: CacheUse::Hit } if value == "new"),
            "{after:?}"
        );
    }

    #[tokio::test]
    async fn an_outage_serves_the_stale_value_at_once_and_backs_off() {
        let (v, fail, calls) = slow(Duration::from_millis(20), STALE_GRACE + STALE_GRACE);
        assert_eq!(v.read("a", None).await.cache(), CacheUse::Miss);
        tokio::time::sleep(Duration::from_millis(30)).await;
        fail.store(true, Ordering::SeqCst);
        // The first read past the TTL waits the grace, not the whole (failing) read.
        let t = Instant::now();
        assert_eq!(v.read("a", None).await.cache(), CacheUse::Stale);
        assert!(t.elapsed() < STALE_GRACE + STALE_GRACE, "{:?}", t.elapsed());
        // Once that read has failed, the store is left alone for the backoff.
        tokio::time::sleep(STALE_GRACE + STALE_GRACE).await;
        let asked = calls.load(Ordering::SeqCst);
        for _ in 0..5 {
            let t = Instant::now();
            assert_eq!(v.read("a", None).await.cache(), CacheUse::Stale);
            assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            asked,
            "no read during the backoff"
        );
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
        assert_eq!(v.shared.lock().entries.len(), MAX_CACHED);
    }
}
