//! Telemetry to Application Insights, when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set.
//!
//! Through OpenTelemetry and the maintained Application Insights exporter (no hand-written wire
//! format): one *request* item per call (a server span named by method and route template, never
//! the raw URL), *dependency* items for signing-key and Key Vault calls (client spans: target
//! host, duration, result), and metrics (calls by function/status/code, verified-token cache
//! hits and misses, key fetches and failures, key age). Request and dependency items carry the
//! host's invocation id as `InvocationId`; metrics are aggregates and do not (one series per
//! invocation would be unbounded). A W3C `traceparent` on the request keeps its trace id and
//! span id as the parent; its flags and `tracestate` are dropped, since sampling is funcgate's
//! decision alone (a caller must not hide its own forged-token 401s by sending flag `00`).
//! Requests are sampled like the platform's SDKs sample them, rate-limited by default with
//! each item weighted by `itemCount`, failures (5xx) decided apart: see [`sampling`].
//!
//! What one item may carry is bounded: every attribute is funcgate's own text, a GUID, or cut to
//! [`MAX_ATTRIBUTE_BYTES`], so the span queue's worst case is a few MiB however large the
//! request headers are. Failed uploads are logged at `warn`, at most once a minute with a count.
//!
//! Spans go through the SDK's batch processor and metrics through its periodic reader, each on
//! its own thread with a bounded queue: the request path only enqueues, so an unreachable or
//! slow ingestion endpoint never slows or fails a request, and a full queue drops items instead
//! of growing. [`Telemetry::shutdown`] flushes both. Off, every call here is one branch on
//! `None`.

mod sampling;

use std::borrow::Cow;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::metrics::{Counter, MeterProvider as _, ObservableGauge};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt, TraceFlags, TraceState, Tracer,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider,
};
use sampling::{Decided, SampleRate, Sampler, Weighted, rate_attribute};

pub(crate) use sampling::{DEFAULT_ITEMS_PER_SECOND, Sampling};

use crate::call::Headers;

/// Spans waiting for export at most; more are dropped while the endpoint is down.
const MAX_QUEUED_SPANS: usize = 2048;
/// How often spans are sent.
const SPAN_EXPORT_DELAY: Duration = Duration::from_secs(5);
/// How often metrics are sent.
const METRIC_INTERVAL: Duration = Duration::from_secs(60);
/// Budget for one upload; the exporter retries within its own limits.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest attribute value an item carries; longer values are cut.
pub(crate) const MAX_ATTRIBUTE_BYTES: usize = 256;
/// At most one warning per this interval about failed uploads.
const FAILURE_REPORT_INTERVAL: Duration = Duration::from_secs(60);
/// The host's header naming the invocation.
pub(crate) const INVOCATION_HEADER: &str = "x-azure-functions-invocationid";

/// `APPLICATIONINSIGHTS_CONNECTION_STRING`, and `TELEMETRY_ITEMS_PER_SECOND` or
/// `TELEMETRY_SAMPLING_PERCENT`.
#[derive(Clone, Debug)]
pub(crate) struct TelemetryConfig {
    /// The connection string (its `IngestionEndpoint` decides where items go).
    pub(crate) connection_string: String,
    /// Which requests (with their dependencies) are sent; default: rate-limited at
    /// [`DEFAULT_ITEMS_PER_SECOND`].
    pub(crate) sampling: Sampling,
}

/// Why telemetry could not start.
#[derive(Debug)]
pub(crate) struct TelemetryError(String);

impl std::fmt::Display for TelemetryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Telemetry on or off; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Telemetry {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    tracer: SdkTracer,
    sampler: Sampler,
    /// The context of a request not sent and without a caller's trace context, built once.
    dropped: Context,
    traces: SdkTracerProvider,
    meters: SdkMeterProvider,
    calls: Counter<u64>,
    mcp_requests: Counter<u64>,
    downstream_tokens: Counter<u64>,
    token_cache: Counter<u64>,
    key_fetches: Counter<u64>,
    key_age: OnceLock<ObservableGauge<u64>>,
}

/// The invocation id, carried in the request's context to its dependencies.
#[derive(Clone, Debug)]
struct InvocationId(String);

/// Uploads through reqwest's blocking client: the SDK exports from its own threads, outside
/// any async runtime. The SDK reports export failures only through its own internal log,
/// which is off, so failures are counted and reported here.
#[derive(Clone, Debug)]
struct Upload {
    client: reqwest::blocking::Client,
    failures: Arc<FailureReport>,
}

/// Failed uploads since the last warning, and when that warning was.
#[derive(Debug, Default)]
struct FailureReport(Mutex<(u64, Option<Instant>)>);

impl FailureReport {
    /// Counts a failure and logs it when no warning went out in the last minute.
    fn failed(&self, what: &str, host: &str, why: &str) {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (count, last) = &mut *guard;
        *count += 1;
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < FAILURE_REPORT_INTERVAL) {
            return;
        }
        log::warn!(
            "telemetry: uploading {what} to {host} failed: {why} ({count} failed upload{} since the last report; items are dropped while this lasts)",
            if *count == 1 { "" } else { "s" }
        );
        *count = 0;
        *last = Some(now);
    }
}

#[async_trait::async_trait]
impl HttpClient for Upload {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let host = parts.uri.host().unwrap_or("-").to_owned();
        let what = if parts.uri.path().contains("QuickPulse") {
            "live metrics"
        } else {
            "items"
        };
        let sent = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send();
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => {
                let why = if e.is_timeout() {
                    "no answer in time".to_owned()
                } else if e.is_connect() {
                    "cannot connect".to_owned()
                } else {
                    "the request failed".to_owned()
                };
                self.failures.failed(what, &host, &why);
                return Err(e.into());
            }
        };
        let status = answer.status();
        // 206 is a partial accept; everything else not 2xx loses items.
        if !status.is_success() || status.as_u16() == 206 {
            self.failures
                .failed(what, &host, &format!("the endpoint answered {status}"));
        }
        let mut response = Response::builder().status(status);
        for (name, value) in answer.headers() {
            response = response.header(name, value);
        }
        Ok(response.body(answer.bytes()?)?)
    }
}

/// `text` cut to [`MAX_ATTRIBUTE_BYTES`] on a character boundary.
fn bounded(text: &str) -> String {
    let mut end = text.len().min(MAX_ATTRIBUTE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// What a request item says about its call besides the outcome; every value is bounded
/// before it is sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ItemFields<'a> {
    /// The function's name, `-` for no function.
    pub(crate) function: &'a str,
    /// The HTTP method.
    pub(crate) method: &'a str,
    /// The route template (like `/vault/{secret_name?}`), never the URL.
    pub(crate) route: &'a str,
    /// The host's invocation id (already checked to be a GUID).
    pub(crate) invocation: Option<&'a str>,
    /// When the call arrived (the call line's clock too).
    pub(crate) started: Instant,
}

/// Starts a request span under `parent` (which carries its [`SampleRate`]).
fn request_span(
    inner: &Inner,
    parent: &Context,
    fields: &ItemFields<'_>,
    start: Option<SystemTime>,
) -> opentelemetry_sdk::trace::Span {
    let mut attributes = vec![
        KeyValue::new("http.request.method", bounded(fields.method)),
        KeyValue::new("http.route", bounded(fields.route)),
        KeyValue::new("Function", bounded(fields.function)),
    ];
    if let Some(id) = fields.invocation {
        attributes.push(KeyValue::new("InvocationId", bounded(id)));
    }
    let mut builder = inner
        .tracer
        // The exporter names request items from the method and route attributes.
        .span_builder("request")
        .with_kind(SpanKind::Server)
        .with_attributes(attributes);
    if let Some(start) = start {
        builder = builder.with_start_time(start);
    }
    builder.start_with_context(&inner.tracer, parent)
}

/// The caller's trace context as a parent: its trace id and span id only.
fn caller_parent(headers: &Headers) -> Context {
    let extracted = TraceContextPropagator::new().extract(&HeaderView(headers));
    let span = extracted.span();
    let caller = span.span_context();
    if !caller.is_valid() {
        return Context::new();
    }
    Context::new().with_remote_span_context(SpanContext::new(
        caller.trace_id(),
        caller.span_id(),
        TraceFlags::default(),
        true,
        TraceState::NONE,
    ))
}

impl Telemetry {
    /// Telemetry off.
    pub(crate) fn off() -> Telemetry {
        Telemetry::default()
    }

    /// Starts the exporters and their threads. Call outside any async runtime: the upload
    /// client runs its own.
    pub(crate) fn start(config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
        let failures = Arc::new(FailureReport::default());
        let client = || {
            reqwest::blocking::Client::builder()
                .timeout(UPLOAD_TIMEOUT)
                .connect_timeout(UPLOAD_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                // Items carry the instrumentation key: never in plain text, whatever the
                // connection string says.
                .https_only(true)
                .user_agent(concat!("funcgate/", env!("CARGO_PKG_VERSION")))
                .build()
                .map(|client| Upload {
                    client,
                    failures: Arc::clone(&failures),
                })
                .map_err(|e| TelemetryError(format!("cannot build the upload client: {e}")))
        };
        let exporter = |client| {
            opentelemetry_application_insights::Exporter::new_from_connection_string(
                &config.connection_string,
                client,
            )
            // The parser's message may quote the string, which holds the instrumentation key.
            .map_err(|_| TelemetryError("is not an Application Insights connection string".into()))
        };
        let spans = BatchSpanProcessor::builder(Weighted::new(exporter(client()?)?))
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(MAX_QUEUED_SPANS)
                    .with_scheduled_delay(SPAN_EXPORT_DELAY)
                    .build(),
            )
            .build();
        // Application Insights' cloud role: which app the items come from.
        let resource = Resource::builder()
            .with_service_name("funcgate")
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let traces = SdkTracerProvider::builder()
            .with_resource(resource.clone())
            .with_span_processor(spans)
            .with_sampler(Decided)
            .build();
        let meters = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_reader(
                PeriodicReader::builder(exporter(client()?)?)
                    .with_interval(METRIC_INTERVAL)
                    .build(),
            )
            .build();
        let meter = meters.meter("funcgate");
        let inner = Inner {
            tracer: traces.tracer("funcgate"),
            sampler: Sampler::new(config.sampling, Instant::now()),
            dropped: Context::new().with_value(SampleRate::DROPPED),
            calls: meter
                .u64_counter("funcgate.calls")
                .with_description("Calls by function, status and catalogue code")
                .build(),
            downstream_tokens: meter
                .u64_counter("funcgate.downstream_tokens")
                .with_description("Downstream-token cache lookups by result (hit, miss)")
                .build(),
            mcp_requests: meter
                .u64_counter("funcgate.mcp_requests")
                .with_description("MCP requests by server, JSON-RPC method, tool and outcome")
                .build(),
            token_cache: meter
                .u64_counter("funcgate.token_cache")
                .with_description("Verified-token cache lookups by result (hit, miss)")
                .build(),
            key_fetches: meter
                .u64_counter("funcgate.key_fetches")
                .with_description("Signing-key refreshes by result (ok, failed)")
                .build(),
            key_age: OnceLock::new(),
            traces,
            meters,
        };
        Ok(Telemetry {
            inner: Some(Arc::new(inner)),
        })
    }

    /// Whether items are sent.
    pub(crate) fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Starts the request item for a call described by `fields`; whether it is sent is
    /// decided here, except for failures (5xx), decided again when they finish.
    pub(crate) fn request(&self, headers: &Headers, fields: &ItemFields<'_>) -> RequestItem {
        let Some(inner) = &self.inner else {
            return RequestItem { open: None };
        };
        let rate = inner.sampler.request(fields.started);
        let traced = headers.first("traceparent").is_some();
        if !rate.is_kept() {
            // Nothing is built for a request not sent, unless it fails.
            let cx = if traced {
                caller_parent(headers).with_value(rate)
            } else {
                inner.dropped.clone()
            };
            return RequestItem {
                open: Some(Open {
                    inner: Arc::clone(inner),
                    cx,
                    sampled: false,
                }),
            };
        }
        let parent = if traced {
            caller_parent(headers)
        } else {
            Context::new()
        }
        .with_value(rate);
        let span = request_span(inner, &parent, fields, None);
        let mut cx = parent.with_span(span);
        if let Some(id) = fields.invocation {
            cx = cx.with_value(InvocationId(bounded(id)));
        }
        RequestItem {
            open: Some(Open {
                inner: Arc::clone(inner),
                cx,
                sampled: true,
            }),
        }
    }

    /// Starts a dependency item (`name` like `GET signing keys`) to `target` (a host), a child
    /// of the current request when there is one.
    pub(crate) fn dependency(&self, name: &'static str, target: &str) -> DependencyItem {
        let Some(inner) = &self.inner else {
            return DependencyItem { span: None };
        };
        let parent = Context::current();
        let mut attributes = vec![KeyValue::new("server.address", target.to_owned())];
        if let Some(InvocationId(id)) = parent.get::<InvocationId>() {
            attributes.push(KeyValue::new("InvocationId", id.clone()));
        }
        let span = inner
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&inner.tracer, &parent);
        DependencyItem { span: Some(span) }
    }

    /// Counts a finished call.
    pub(crate) fn count_call(&self, function: &str, status: u16, code: Option<&'static str>) {
        if let Some(inner) = &self.inner {
            inner.calls.add(
                1,
                &[
                    KeyValue::new("Function", function.to_owned()),
                    KeyValue::new("Status", i64::from(status)),
                    KeyValue::new("Code", code.unwrap_or("-")),
                ],
            );
        }
    }

    /// Counts an MCP request by server, JSON-RPC method, tool and outcome (`ok`,
    /// `tool_error`, `protocol_error`, `refused`), from its call-line fields.
    pub(crate) fn count_mcp(&self, function: &str, notes: &[(&'static str, Cow<'static, str>)]) {
        let Some(inner) = &self.inner else {
            return;
        };
        let field = |name: &str| {
            notes
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        let Some(outcome) = field("mcp_outcome") else {
            return;
        };
        inner.mcp_requests.add(
            1,
            &[
                KeyValue::new("Function", function.to_owned()),
                KeyValue::new("Method", field("mcp_method").unwrap_or_else(|| "-".into())),
                KeyValue::new("Tool", field("mcp_tool").unwrap_or_else(|| "-".into())),
                KeyValue::new("Outcome", outcome),
            ],
        );
    }

    /// Counts a downstream-token cache lookup (a miss is a token request).
    pub(crate) fn count_downstream_token(&self, hit: bool) {
        if let Some(inner) = &self.inner {
            let result = if hit { "hit" } else { "miss" };
            inner
                .downstream_tokens
                .add(1, &[KeyValue::new("Result", result)]);
        }
    }

    /// Counts a verified-token cache lookup.
    pub(crate) fn count_token_cache(&self, hit: bool) {
        if let Some(inner) = &self.inner {
            let result = if hit { "hit" } else { "miss" };
            inner.token_cache.add(1, &[KeyValue::new("Result", result)]);
        }
    }

    /// Counts a signing-key refresh.
    pub(crate) fn count_key_fetch(&self, ok: bool) {
        if let Some(inner) = &self.inner {
            let result = if ok { "ok" } else { "failed" };
            inner.key_fetches.add(1, &[KeyValue::new("Result", result)]);
        }
    }

    /// Reports the age of the oldest signing-key set, read by `age` at each export.
    pub(crate) fn observe_key_age(&self, age: impl Fn() -> Option<u64> + Send + Sync + 'static) {
        if let Some(inner) = &self.inner {
            let gauge = inner
                .meters
                .meter("funcgate")
                .u64_observable_gauge("funcgate.signing_key_age_seconds")
                .with_description("Seconds since the signing keys were last fetched")
                .with_callback(move |observer| {
                    if let Some(seconds) = age() {
                        observer.observe(seconds, &[]);
                    }
                })
                .build();
            let _ = inner.key_age.set(gauge);
        }
    }

    /// Sends what is queued and stops the export threads. Call outside any async runtime.
    pub(crate) fn shutdown(&self) {
        if let Some(inner) = &self.inner {
            if let Err(e) = inner.traces.shutdown() {
                log::warn!("telemetry: spans not all sent at shutdown: {e}");
            }
            if let Err(e) = inner.meters.shutdown() {
                log::warn!("telemetry: metrics not all sent at shutdown: {e}");
            }
        }
    }
}

/// A call's request item, open until [`RequestItem::finish`].
pub(crate) struct RequestItem {
    open: Option<Open>,
}

struct Open {
    inner: Arc<Inner>,
    /// The request's context: its [`SampleRate`], and its span when it is sent.
    cx: Context,
    sampled: bool,
}

impl RequestItem {
    /// The context dependency items of this call are parented to (and sampled with).
    pub(crate) fn context(&self) -> Option<&Context> {
        self.open.as_ref().map(|open| &open.cx)
    }

    /// Ends the item with the reply's status and catalogue code; 4xx and 5xx count as failed,
    /// as Application Insights' own SDKs count them. A 5xx is sent at its own rate (see
    /// [`sampling`]), whether or not the request was sampled when it started.
    pub(crate) fn finish(
        self,
        status: u16,
        code: Option<&'static str>,
        fields: &ItemFields<'_>,
        notes: &[(&'static str, Cow<'static, str>)],
    ) {
        let Some(open) = self.open else {
            return;
        };
        let failure = (status >= 500).then(|| open.inner.sampler.failure(Instant::now()));
        let cx = if open.sampled {
            open.cx
        } else {
            // Not sampled and not a failure to keep: nothing was built, nothing is sent.
            let Some(rate) = failure.filter(|rate| rate.is_kept()) else {
                return;
            };
            let start = SystemTime::now()
                .checked_sub(fields.started.elapsed())
                .unwrap_or_else(SystemTime::now);
            let parent = open.cx.with_value(rate);
            let span = request_span(&open.inner, &parent, fields, Some(start));
            parent.with_span(span)
        };
        let span = cx.span();
        if let Some(rate) = failure {
            // Replaces the rate set at the start; 0 drops the item at export.
            span.set_attribute(rate_attribute(rate));
        }
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if let Some(code) = code {
            span.set_attribute(KeyValue::new("Code", code));
        }
        for (name, value) in notes {
            span.set_attribute(KeyValue::new(*name, value.clone()));
        }
        if status >= 400 {
            span.set_status(Status::Error {
                description: Cow::Borrowed(code.unwrap_or("")),
            });
        }
        span.end();
    }
}

/// A dependency item, open until [`DependencyItem::finish`].
pub(crate) struct DependencyItem {
    span: Option<opentelemetry_sdk::trace::Span>,
}

impl DependencyItem {
    /// Ends the item: whether the call succeeded, and the HTTP status when one came back.
    pub(crate) fn finish(self, ok: bool, status: Option<u16>) {
        let Some(mut span) = self.span else {
            return;
        };
        if let Some(status) = status {
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        if !ok {
            span.set_status(Status::error(""));
        }
        span.end();
    }
}

/// The request headers as the W3C propagator reads them.
struct HeaderView<'a>(&'a Headers);

impl Extractor for HeaderView<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.first(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.names().collect()
    }
}
