//! Which requests are sent, and what each sent item stands for.
//!
//! Like the platform's own SDKs, funcgate samples by default: a rate-limited sampler keeps
//! about [`DEFAULT_ITEMS_PER_SECOND`] request items per second per instance, each with its
//! dependency items, and stamps every item with its sample rate, from which Application
//! Insights computes `itemCount` (1 / rate): a request kept at 1 in 32 counts as 32 requests,
//! so totals summed over `itemCount` stay right. `TELEMETRY_SAMPLING_PERCENT` chooses a fixed
//! rate instead. Failed requests (5xx) are decided apart, when their status is known: all are
//! kept (`itemCount` 1) up to [`FAILURES_PER_SECOND`], and past that rate-limited too, so a
//! flood of failures costs at most about that many items per second. Metrics are aggregates
//! and are never sampled.
//!
//! The decision is funcgate's alone (never a caller's trace flags), made once per request at
//! its start and carried in its context as a [`SampleRate`], which the SDK sampler
//! ([`Decided`]) reads for the request and every dependency under it (a failure decided again
//! at its end keeps the dependencies decided at its start). The exporter takes one
//! rate for all it sends, so [`Weighted`] hands each batch to it grouped by rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opentelemetry::trace::{Link, SamplingDecision, SamplingResult, SpanKind, TraceId, TraceState};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_http::HttpClient;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{ShouldSample, SpanData, SpanExporter};

/// Default `TELEMETRY_ITEMS_PER_SECOND`: the rate-limited default of Azure Monitor's
/// OpenTelemetry distributions (5 traces per second).
pub(crate) const DEFAULT_ITEMS_PER_SECOND: f64 = 5.0;
/// Failed requests (5xx) kept per second before they are sampled too.
pub(crate) const FAILURES_PER_SECOND: f64 = 100.0;
/// How often the observed request rate is re-measured.
const WINDOW: Duration = Duration::from_millis(100);
/// How long a fall in traffic takes to lower the measured rate by about two thirds; a rise
/// counts at once, so a burst is sampled from its first window on.
const SLOWDOWN: Duration = Duration::from_secs(1);
/// The span attribute carrying the rate to the exporter; removed before anything is sent.
const RATE_ATTRIBUTE: &str = "funcgate.sample_rate";

/// How requests are sampled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Sampling {
    /// About this many request items per second per instance (`TELEMETRY_ITEMS_PER_SECOND`).
    RateLimited {
        /// Request items kept per second, on average.
        per_second: f64,
    },
    /// This share of requests, 0 to 100 (`TELEMETRY_SAMPLING_PERCENT`).
    Fixed {
        /// Percentage of requests kept.
        percent: f64,
    },
}

impl std::fmt::Display for Sampling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sampling::RateLimited { per_second } => write!(
                f,
                "rate-limited to about {per_second} request items per second (TELEMETRY_ITEMS_PER_SECOND), failures kept"
            ),
            Sampling::Fixed { percent } => write!(
                f,
                "{percent} % of requests (TELEMETRY_SAMPLING_PERCENT), failures kept"
            ),
        }
    }
}

/// The sample rate decided for a request, in its context: 0 when it is not sent, else the
/// probability it was kept with (its items count `1 / rate` each).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SampleRate(pub(crate) f64);

impl SampleRate {
    /// Not sent.
    pub(crate) const DROPPED: SampleRate = SampleRate(0.0);

    /// Whether the items are sent.
    pub(crate) fn is_kept(self) -> bool {
        self.0 > 0.0
    }
}

/// Keeps about `per_second` of the calls it is asked about, whatever the traffic: each call is
/// kept with probability 1 / N, N the smallest power of two that brings the measured rate
/// down to `per_second` (so between half and all of it is kept). Whole numbers keep each
/// item's `itemCount` exact; each item carries the N it was kept with, so totals stay
/// unbiased while N changes.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: f64,
    epoch: Instant,
    /// Milliseconds from `epoch` at which the current window began.
    window_start: AtomicU64,
    /// Calls in the current window.
    seen: AtomicU64,
    /// The measured rate, calls per second (f64 bits).
    rate: AtomicU64,
    /// The current N.
    one_in: AtomicU64,
}

impl RateLimiter {
    /// A limiter keeping about `per_second` calls per second, counting time from `now`.
    pub(crate) fn new(per_second: f64, now: Instant) -> RateLimiter {
        RateLimiter {
            per_second,
            epoch: now,
            window_start: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            rate: AtomicU64::new(0f64.to_bits()),
            one_in: AtomicU64::new(1),
        }
    }

    /// Counts a call at `now` and returns the N it is to be kept one in: a power of two, so
    /// each item's `itemCount` is whole and a batch carries few distinct rates (the exporter
    /// sends one upload per rate).
    pub(crate) fn one_in(&self, now: Instant) -> u64 {
        let seen = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        let now_ms = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let from = self.window_start.load(Ordering::Relaxed);
        let window_ms = WINDOW.as_millis() as u64;
        // One caller closes a window; the others go on with the N it last set.
        if now_ms.saturating_sub(from) >= window_ms
            && self
                .window_start
                .compare_exchange(from, now_ms, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let calls = self.seen.swap(0, Ordering::AcqRel) as f64;
            let elapsed = (now_ms - from) as f64 / 1000.0;
            let current = calls / elapsed;
            let before = f64::from_bits(self.rate.load(Ordering::Relaxed));
            let rate = if current >= before {
                current
            } else {
                let weight = (elapsed / SLOWDOWN.as_secs_f64()).min(1.0);
                before + weight * (current - before)
            };
            self.rate.store(rate.to_bits(), Ordering::Relaxed);
            self.one_in.store(
                whole_power_of_two(rate / self.per_second),
                Ordering::Relaxed,
            );
            return self.one_in.load(Ordering::Relaxed);
        }
        // The window in progress counts too: a burst after a quiet spell (when the measured
        // rate has fallen to nothing) is held to about one window's share of the budget
        // instead of being kept whole until the window closes.
        let budget = (self.per_second * WINDOW.as_secs_f64()).max(1.0);
        self.one_in
            .load(Ordering::Relaxed)
            .max(whole_power_of_two(seen as f64 / budget))
    }
}

/// The smallest power of two at least `ratio`, and at least 1.
fn whole_power_of_two(ratio: f64) -> u64 {
    let n = ratio.ceil().clamp(1.0, (1u64 << 62) as f64) as u64;
    n.next_power_of_two()
}

/// Decides, for each request, whether it is sent and at what rate.
#[derive(Debug)]
pub(crate) struct Sampler {
    requests: Requests,
    failures: RateLimiter,
}

#[derive(Debug)]
enum Requests {
    RateLimited(RateLimiter),
    Fixed(f64),
}

impl Sampler {
    /// The sampler for `sampling`, counting time from `now`.
    pub(crate) fn new(sampling: Sampling, now: Instant) -> Sampler {
        Sampler {
            requests: match sampling {
                Sampling::RateLimited { per_second } => {
                    Requests::RateLimited(RateLimiter::new(per_second, now))
                }
                Sampling::Fixed { percent } => Requests::Fixed((percent / 100.0).clamp(0.0, 1.0)),
            },
            failures: RateLimiter::new(FAILURES_PER_SECOND, now),
        }
    }

    /// The decision for a request starting at `now`.
    pub(crate) fn request(&self, now: Instant) -> SampleRate {
        let rate = match &self.requests {
            Requests::RateLimited(limiter) => 1.0 / limiter.one_in(now) as f64,
            Requests::Fixed(rate) => *rate,
        };
        keep_with(rate)
    }

    /// The decision for a request that failed (5xx) at `now`, whatever was decided at its start.
    pub(crate) fn failure(&self, now: Instant) -> SampleRate {
        keep_with(1.0 / self.failures.one_in(now) as f64)
    }
}

/// Kept at `rate` with probability `rate`, else dropped.
fn keep_with(rate: f64) -> SampleRate {
    if draw(rate) {
        SampleRate(rate)
    } else {
        SampleRate::DROPPED
    }
}

/// True with probability `ratio`, from a random number rather than the trace id, which a
/// caller may choose.
fn draw(ratio: f64) -> bool {
    use std::hash::{BuildHasher, Hasher};
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    // Each `RandomState` has fresh random keys: the hash of nothing is a random u64.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (random as f64) < ratio * (u64::MAX as f64)
}

/// The span attribute that carries `rate` to [`Weighted`]; a later one replaces an earlier.
pub(crate) fn rate_attribute(rate: SampleRate) -> KeyValue {
    KeyValue::new(RATE_ATTRIBUTE, rate.0)
}

/// The SDK sampler: follows the [`SampleRate`] in the parent context, which funcgate set when
/// the request started; spans outside any request (background key refreshes) are kept.
#[derive(Clone, Debug)]
pub(crate) struct Decided;

impl ShouldSample for Decided {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        _trace_id: TraceId,
        _name: &str,
        _span_kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let rate = parent_context
            .and_then(|cx| cx.get::<SampleRate>().copied())
            .unwrap_or(SampleRate(1.0));
        SamplingResult {
            decision: if rate.is_kept() {
                SamplingDecision::RecordAndSample
            } else {
                SamplingDecision::Drop
            },
            attributes: if rate.is_kept() {
                vec![rate_attribute(rate)]
            } else {
                Vec::new()
            },
            // Never the caller's `tracestate`: it is unbounded and not ours to carry.
            trace_state: TraceState::NONE,
        }
    }
}

/// Takes the rate attribute out of `span` (the last one set wins); 0 when the span is to be
/// dropped after all, 1 when it carries none.
fn take_rate(span: &mut SpanData) -> f64 {
    let mut rate = None;
    span.attributes.retain(|kv| {
        if kv.key.as_str() != RATE_ATTRIBUTE {
            return true;
        }
        rate = Some(match &kv.value {
            Value::F64(r) => *r,
            _ => 1.0,
        });
        false
    });
    rate.unwrap_or(1.0)
}

/// Spans grouped by sample rate, each group in the order it came; spans whose rate is 0 are
/// left out.
fn by_rate(batch: Vec<SpanData>) -> Vec<(f64, Vec<SpanData>)> {
    let mut groups: Vec<(f64, Vec<SpanData>)> = Vec::new();
    for mut span in batch {
        let rate = take_rate(&mut span);
        // NaN, 0 or below: not sent.
        if rate.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            continue;
        }
        match groups.iter_mut().find(|(r, _)| *r == rate) {
            Some((_, spans)) => spans.push(span),
            None => groups.push((rate, vec![span])),
        }
    }
    groups
}

/// The Application Insights exporter, given each batch grouped by sample rate: it stamps one
/// rate on everything it sends, and the rate is what gives each item its `itemCount`.
#[derive(Debug)]
pub(crate) struct Weighted<C> {
    inner: opentelemetry_application_insights::Exporter<C>,
}

impl<C> Weighted<C> {
    pub(crate) fn new(inner: opentelemetry_application_insights::Exporter<C>) -> Weighted<C> {
        Weighted { inner }
    }
}

impl<C> SpanExporter for Weighted<C>
where
    C: HttpClient + Clone + std::fmt::Debug + 'static,
{
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut result = Ok(());
        for (rate, spans) in by_rate(batch) {
            // A clone shares the upload client; only the rate differs.
            let exporter = self.inner.clone().with_sample_rate(rate);
            if let Err(e) = exporter.export(spans).await {
                result = Err(e);
            }
        }
        result
    }

    fn shutdown_with_timeout(&mut self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives `limiter` at `per_second` calls per second for `seconds`, from `start`; returns
    /// the N at the end and the time reached.
    fn drive(
        limiter: &RateLimiter,
        start: Instant,
        per_second: u64,
        seconds: u64,
    ) -> (u64, Instant) {
        let step = Duration::from_nanos(1_000_000_000 / per_second);
        let mut now = start;
        let mut n = 0;
        for _ in 0..per_second * seconds {
            now += step;
            n = limiter.one_in(now);
        }
        (n, now)
    }

    #[test]
    fn the_limiter_keeps_about_the_target_rate() {
        let start = Instant::now();
        let limiter = RateLimiter::new(5.0, start);
        // Quiet traffic is all kept.
        let (n, now) = drive(&limiter, start, 4, 3);
        assert_eq!(n, 1);
        // 1,000 calls a second: one in 256 (the power of two past 200) keeps about 4 a second.
        let (n, now) = drive(&limiter, now, 1_000, 2);
        assert_eq!(n, 256);
        // A burst counts from its first window.
        let (n, now) = drive(&limiter, now, 20_000, 1);
        assert_eq!(n, 4_096);
        // After a long quiet spell, everything again.
        let later = now + Duration::from_secs(120);
        assert_eq!(limiter.one_in(later), 1);
        assert_eq!(limiter.one_in(later + Duration::from_secs(1)), 1);
    }

    #[test]
    fn a_falling_rate_lowers_n_gradually() {
        let start = Instant::now();
        let limiter = RateLimiter::new(10.0, start);
        let (high, now) = drive(&limiter, start, 10_000, 1);
        assert_eq!(high, 1_024);
        // Down to 100 a second: N falls over about a second, not at once.
        let (soon, now) = drive(&limiter, now, 100, 1);
        assert!(soon < high && soon > 16, "{soon}");
        let (settled, _) = drive(&limiter, now, 100, 8);
        assert!((16..=32).contains(&settled), "{settled}");
    }

    #[test]
    fn bursts_after_quiet_spells_are_held_to_the_budget() {
        // 5,000 calls in 90 ms, then a call 1.2 s later, then another: the pattern that
        // would keep each burst whole if only closed windows counted.
        let start = Instant::now();
        let limiter = RateLimiter::new(5.0, start);
        let mut now = start;
        let mut expected_items = 0.0;
        for _ in 0..10 {
            for _ in 0..5_000 {
                now += Duration::from_micros(18);
                expected_items += 1.0 / limiter.one_in(now) as f64;
            }
            for _ in 0..2 {
                now += Duration::from_millis(1_200);
                expected_items += 1.0 / limiter.one_in(now) as f64;
            }
        }
        // 10 bursts over about 25 s: a handful of items each, not 5,000.
        assert!(expected_items < 200.0, "{expected_items}");
    }

    #[test]
    fn fixed_rates_and_failures() {
        let now = Instant::now();
        let all = Sampler::new(Sampling::Fixed { percent: 100.0 }, now);
        let none = Sampler::new(Sampling::Fixed { percent: 0.0 }, now);
        for i in 0..100 {
            assert_eq!(all.request(now), SampleRate(1.0));
            assert_eq!(none.request(now), SampleRate::DROPPED);
            // Failures are decided apart: kept at full weight below their own limit (10 in
            // any 100 ms at 100 a second; these all come at once).
            if i < 10 {
                assert_eq!(none.failure(now), SampleRate(1.0));
            }
        }
        let half = Sampler::new(Sampling::Fixed { percent: 50.0 }, now);
        let kept = (0..10_000).filter(|_| half.request(now).is_kept()).count();
        assert!((4_500..=5_500).contains(&kept), "{kept}");
    }

    fn span(attributes: Vec<KeyValue>) -> SpanData {
        use opentelemetry::trace::{SpanContext, SpanId, Status};
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: "request".into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes,
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        }
    }

    #[test]
    fn batches_are_grouped_by_rate_and_the_attribute_never_sent() {
        let a = KeyValue::new("Function", "vault");
        let batch = vec![
            span(vec![rate_attribute(SampleRate(0.25)), a.clone()]),
            span(vec![a.clone()]),
            span(vec![rate_attribute(SampleRate(0.25))]),
            // Sampled at its start, then dropped by the failure sampler.
            span(vec![
                rate_attribute(SampleRate(0.5)),
                rate_attribute(SampleRate::DROPPED),
            ]),
            // Sampled at 1 in 4, then kept as a failure at full weight.
            span(vec![
                rate_attribute(SampleRate(0.25)),
                rate_attribute(SampleRate(1.0)),
            ]),
        ];
        let groups = by_rate(batch);
        let shape: Vec<(f64, usize)> = groups.iter().map(|(r, s)| (*r, s.len())).collect();
        assert_eq!(shape, [(0.25, 2), (1.0, 2)]);
        for (_, spans) in &groups {
            for s in spans {
                assert!(
                    s.attributes
                        .iter()
                        .all(|kv| kv.key.as_str() != RATE_ATTRIBUTE)
                );
            }
        }
        assert_eq!(groups[0].1[0].attributes, [a]);
    }
}
