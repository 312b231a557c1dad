//! One call's path, whatever carried it: CORS preflight → method → rule for the method →
//! guard → body → function.
//!
//! The body is read only once the guard has passed, so an unauthenticated caller never makes
//! funcgate buffer one; it is bounded by `MAX_REQUEST_BODY_BYTES` and
//! `REQUEST_BODY_TIMEOUT_SECONDS`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use crate::auth::token::is_guid;
use crate::call::{BodyError, Call, Headers};
use crate::cors;
use crate::errors::{ApiError, Detail, ErrorKind};
use crate::functions::{self, Request};
use crate::layout::FunctionDef;
use crate::reply::Reply;
use crate::state::AppState;
use crate::telemetry::{INVOCATION_HEADER, ItemFields, RequestItem};
use opentelemetry::trace::FutureExt as _;

/// Runs a call to `function` and returns the finished reply. A body the call was refused
/// before reading stays in `call` (see [`Body::is_unread`](crate::call::Body::is_unread)).
pub(crate) async fn handle(state: &AppState, function: &FunctionDef, call: &mut Call) -> Reply {
    keep_invocation_id_if_guid(&mut call.headers);
    let started = Started::new(state, call, &function.name, &function.route.template);
    // Only an OPTIONS call can be a preflight; the methods string is built for those alone.
    let preflight = (call.method == "OPTIONS")
        .then(|| cors::preflight(&state.settings.cors, &function.allow_header(), call))
        .flatten();
    let outcome = match preflight {
        Some(reply) => Ok(reply),
        None => match started.item.context() {
            // Dependency items (Key Vault, key refreshes) become children of this call.
            Some(cx) => run(state, function, call).with_context(cx.clone()).await,
            None => run(state, function, call).await,
        },
    };
    started.answer(state, outcome)
}

/// The reply refusing a call to `function` before it ran (a payload that could not be read,
/// a request the host would never send it), reported like any call.
pub(crate) fn refuse(
    state: &AppState,
    function: &FunctionDef,
    call: &mut Call,
    err: ApiError,
) -> Reply {
    keep_invocation_id_if_guid(&mut call.headers);
    let started = Started::new(state, call, &function.name, &function.route.template);
    started.answer(state, Err(err))
}

/// The reply for a path that names no function.
pub(crate) fn not_found(state: &AppState, call: &mut Call) -> Reply {
    keep_invocation_id_if_guid(&mut call.headers);
    let started = Started::new(state, call, "-", "(no route)");
    started.answer(state, Err(ApiError::new(ErrorKind::NotFound)))
}

/// Drops an invocation id that is not a GUID, the only shape the host sends: the id goes into
/// the call line and telemetry, and a caller can set the header (forwarding mode passes it on)
/// or the payload field, so anything else could forge log fields or fill the telemetry queue.
fn keep_invocation_id_if_guid(headers: &mut Headers) {
    let Some(id) = headers.first(INVOCATION_HEADER) else {
        return;
    };
    if headers
        .get(INVOCATION_HEADER)
        .is_some_and(|all| is_guid(&all))
    {
        return;
    }
    let length = id.len();
    headers.remove(INVOCATION_HEADER);
    log::debug!("dropped an invocation id that is not a GUID ({length} bytes)");
}

/// Removes `X-MS-CLIENT-PRINCIPAL*` and `X-MS-TOKEN-*` headers when App Service
/// Authentication is off: the platform did not set them, so a caller did, and no function may
/// take them for the platform's word. (They never authenticate anyone either way.)
fn strip_platform_identity(headers: &mut Headers) {
    let forged = headers.retain(|name| {
        !(name.starts_with("x-ms-client-principal") || name.starts_with("x-ms-token-"))
    });
    if forged > 0 {
        log::debug!(
            "removed {forged} X-MS-CLIENT-PRINCIPAL/X-MS-TOKEN header(s): App Service Authentication is off"
        );
    }
}

/// What a call's answer needs from the call: kept before the call is consumed.
struct Started<'a> {
    at: Instant,
    function: &'a str,
    route: &'a str,
    method: String,
    origin: Option<String>,
    invocation: Option<String>,
    item: RequestItem,
}

impl<'a> Started<'a> {
    fn new(state: &AppState, call: &Call, function: &'a str, route: &'a str) -> Started<'a> {
        let at = Instant::now();
        let invocation = call.headers.get(INVOCATION_HEADER).map(Cow::into_owned);
        let item = state.services.telemetry.request(
            &call.headers,
            &ItemFields {
                function,
                method: &call.method,
                route,
                invocation: invocation.as_deref(),
                started: at,
            },
        );
        Started {
            at,
            function,
            route,
            method: call.method.clone(),
            origin: call.headers.get("origin").map(Cow::into_owned),
            invocation,
            item,
        }
    }

    /// Renders the outcome, reports it (telemetry item, metric, log line) and finishes it.
    fn answer(self, state: &AppState, outcome: Result<Reply, ApiError>) -> Reply {
        // A reply HTTP cannot carry becomes the catalogue's 500 here, before it is reported,
        // so the caller, the call line and telemetry all see the same answer.
        // A refusal carried in a reply (to keep its call-line fields) is an error like any.
        let mut notes = Vec::new();
        let outcome = outcome.and_then(|mut reply| match reply.meta.take() {
            None => Ok(reply),
            Some(meta) => {
                notes = meta.notes;
                match meta.refusal {
                    Some(err) => Err(err),
                    None => Ok(reply),
                }
            }
        });
        let outcome = outcome.and_then(|reply| match reply.unsendable_header() {
            None => Ok(reply),
            Some(name) => Err(
                ApiError::new(ErrorKind::InvalidReplyHeader).because(format!(
                    "the reply's {name:?} header has a character HTTP cannot carry"
                )),
            ),
        });
        let (reply, err) = match outcome {
            Ok(reply) => (reply, None),
            Err(err) => (
                Reply::error_for(
                    &err,
                    state.settings.auth.debug_errors,
                    &state.challenges_for(&err, self.function),
                ),
                Some(err),
            ),
        };
        let code = err.as_ref().map(|e| e.kind.code());
        let fields = ItemFields {
            function: self.function,
            method: &self.method,
            route: self.route,
            invocation: self.invocation.as_deref(),
            started: self.at,
        };
        self.item.finish(reply.status, code, &fields, &notes);
        state
            .services
            .telemetry
            .count_call(self.function, reply.status, code);
        if !notes.is_empty() {
            state.services.telemetry.count_mcp(self.function, &notes);
        }
        log_call(&CallLine {
            function: self.function,
            method: &self.method,
            status: reply.status,
            err: err.as_ref(),
            started: self.at,
            invocation: self.invocation.as_deref(),
            notes: &notes,
        });
        finish(state, reply, &self.method, self.origin.as_deref())
    }
}

fn finish(state: &AppState, mut reply: Reply, method: &str, origin: Option<&str>) -> Reply {
    cors::decorate(&state.settings.cors, &mut reply, origin);
    if method == "HEAD" {
        reply.body.clear();
        reply.stream = None;
    }
    reply
}

async fn run(state: &AppState, function: &FunctionDef, call: &mut Call) -> Result<Reply, ApiError> {
    if !function.accepts(&call.method) {
        return Err(
            ApiError::new(ErrorKind::MethodNotAllowed).with(Detail::Allow(function.allow_header()))
        );
    }
    let policy = state.policy(&function.name, &call.method);
    let who = if policy.is_anonymous() {
        None
    } else {
        let authorization = call.headers.get("authorization");
        let who = state
            .services
            .guard
            .authenticate(authorization.as_deref())
            .await?;
        policy
            .check(&who)
            .map_err(|err| state.as_endpoint_refusal(err, &function.name, policy))?;
        Some(who)
    };
    let Some(implementation) = state.functions.find(&function.name) else {
        return Err(ApiError::new(ErrorKind::NotFound)
            .because(format!("no function is registered for {}", function.name)));
    };
    let limits = &state.settings.body;
    let body = call
        .body
        .read(limits.max_bytes, limits.timeout)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => ApiError::new(ErrorKind::PayloadTooLarge).because(format!(
                "the body is over MAX_REQUEST_BODY_BYTES ({} bytes)",
                limits.max_bytes
            )),
            BodyError::Stalled => functions::invalid_body(format!(
                "the body did not arrive within REQUEST_BODY_TIMEOUT_SECONDS ({} s)",
                limits.timeout.as_secs()
            )),
            BodyError::Broken => functions::invalid_body("the connection failed mid-body"),
        })?;
    if !state.services.easy_auth {
        strip_platform_identity(&mut call.headers);
    }
    let req = Request::from_call(call, body, who, Arc::clone(&state.services));
    implementation.run(req).await
}

/// What the per-call log line says.
struct CallLine<'a> {
    function: &'a str,
    method: &'a str,
    status: u16,
    err: Option<&'a ApiError>,
    started: Instant,
    invocation: Option<&'a str>,
    /// Extra `key=value` fields (an MCP request's method, tool, outcome), after the others.
    notes: &'a [(&'static str, std::borrow::Cow<'static, str>)],
}

/// One line per call, fields in a fixed `key=value` order so console traces can be queried:
/// never the token, the query, a header or a body.
fn log_call(line: &CallLine<'_>) {
    use std::fmt::Write as _;
    // The notes are formatted ahead of the line: not at all when it is not written.
    if !log::log_enabled!(log::Level::Info) {
        return;
    }
    let mut extra = String::new();
    for (name, value) in line.notes {
        let _ = write!(extra, " {name}={value}");
    }
    log::info!(
        "call function={} method={} status={} code={} reason={:?} duration_us={} invocation_id={}{extra}",
        line.function,
        line.method,
        line.status,
        line.err.map_or("-", |e| e.kind.code()),
        line.err.and_then(|e| e.reason.as_deref()).unwrap_or("-"),
        line.started.elapsed().as_micros(),
        line.invocation.unwrap_or("-"),
    );
}
