//! The Functions host side: which function a request is for, and in which protocol it came.
//!
//! Forwarded requests arrive as raw HTTP at the public path; invocation requests arrive as
//! `POST /{function}` with a `Data`/`Metadata` JSON payload and are answered with `Outputs`.
//! Both become one [`Call`] and go through [`gateway::handle`].

pub(crate) mod forwarded;
pub(crate) mod invocation;

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

use crate::call::{Body, Call};
use crate::errors::{ApiError, Detail, ErrorKind};
use crate::gateway;
use crate::layout::FunctionDef;
use crate::reply::Reply;
use crate::state::AppState;
use crate::telemetry::INVOCATION_HEADER;

/// A streamed reply collected for the invocation protocol may grow to at least this much (or
/// `MAX_REQUEST_BODY_BYTES`, if larger) before it is cut off with `502 ReplyTooLarge`.
const MIN_COLLECTED_BYTES: usize = 16 * 1024 * 1024;

/// The one request handler: readiness probe, invocation payloads, forwarded requests.
pub(crate) async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let path = req.path();
    if path == "/" {
        // The host's readiness probe and latency ping: any quick answer will do. A body sent
        // with it is never read, and the reply closes the connection rather than drain it.
        let ready = Reply::with_json_body(200, br#"{"status":"ready"}"#.to_vec());
        return to_http(ready, forwarded::body(&req, payload));
    }
    let layout = &state.settings.layout;
    // Which protocol a request speaks is decided by the app's layout, never by what the
    // request looks like: under the host, `POST /{name}` of a function the host invokes with
    // payloads is an invocation, and nothing else is (start-up refuses a layout where a
    // public route could take that path). Run alone, funcgate plays the host itself and every
    // request is the public one.
    let invoked = (!state.settings.standalone && req.method() == Method::POST)
        .then(|| layout.invoked_at(path))
        .flatten();
    if let Some(function) = invoked {
        return invoke(&req, payload, &state, function).await;
    }
    let body = forwarded::body(&req, payload);
    let mut call = forwarded::to_call(&req, body);
    let reply = route(&state, path, &mut call).await;
    to_http(reply, call.body)
}

/// Answers an invocation request: reads the payload within its limits and budget, runs the
/// call it describes, and wraps the reply in `Outputs`. A body that is not an invocation
/// payload is `400 InvalidRequestBody`: the host sends nothing else to this path.
async fn invoke(
    req: &HttpRequest,
    mut payload: web::Payload,
    state: &AppState,
    function: &FunctionDef,
) -> HttpResponse {
    let limits = &state.settings.body;
    let limit = limits.max_invocation_bytes();
    // The payload's bytes are buffered under permits (see `MAX_BUFFERED_INVOCATIONS`), held
    // until it has become a call.
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let buffered = read_limited(&mut payload, limit, declared, &state.invocation_buffers);
    let read = tokio::time::timeout(limits.timeout, buffered).await;
    let parsed = match &read {
        Ok(Ok((_, body))) => invocation::to_call(body, function, &state.settings.layout),
        _ => None,
    };
    if let Some(mut call) = parsed {
        // The call has its own copy of its body: the payload and its permits go now, so slow
        // functions never hold the budget.
        call.body.detach();
        drop(read);
        // The host names the invocation on its own POST, not in the request it describes.
        if let Some(id) = req
            .headers()
            .get(INVOCATION_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            call.headers.set(INVOCATION_HEADER, id.to_owned());
        }
        let reply = gateway::handle(state, function, &mut call).await;
        let reply = reply
            .collect(limits.max_bytes.max(MIN_COLLECTED_BYTES))
            .await;
        return invocation::render(function, &reply);
    }
    // A payload that was too large or too slow is answered as such, and what is left of it on
    // the connection stays unread so the reply closes it.
    let err = match &read {
        Ok(Ok(_)) => ApiError::new(ErrorKind::InvalidRequestBody)
            .because("the body is not an invocation payload for this function"),
        Ok(Err(Unread::TooLarge)) => ApiError::new(ErrorKind::PayloadTooLarge)
            .because("the invocation payload is over its limit"),
        Ok(Err(Unread::Busy)) => ApiError::new(ErrorKind::ServiceBusy)
            .because("invocation payloads already fill their memory budget")
            .with(Detail::RetryAfter(1)),
        Ok(Err(Unread::Broken)) => ApiError::new(ErrorKind::InvalidRequestBody)
            .because("the connection failed mid-payload"),
        Err(_) => ApiError::new(ErrorKind::InvalidRequestBody)
            .because("the invocation payload did not arrive within REQUEST_BODY_TIMEOUT_SECONDS"),
    };
    let mut call = forwarded::to_call(req, Body::Empty);
    let reply = gateway::refuse(state, function, &mut call, err);
    let rest = match read {
        Ok(Ok(_)) => Body::Empty,
        _ => forwarded::body(req, payload),
    };
    to_http(reply, rest)
}

/// Routes a forwarded call to its function, or answers `NotFound`. A function the host
/// invokes with payloads never receives a forwarded request under the host.
async fn route(state: &AppState, path: &str, call: &mut Call) -> Reply {
    match state.settings.layout.route(&call.method, path) {
        Some(routed) if routed.function.invoked && !state.settings.standalone => {
            let reason = "the host invokes this function with payloads, never with the request";
            gateway::refuse(
                state,
                routed.function,
                call,
                ApiError::new(ErrorKind::NotFound).because(reason),
            )
        }
        Some(routed) => {
            call.params = routed.params;
            gateway::handle(state, routed.function, call).await
        }
        None => gateway::not_found(state, call),
    }
}

/// Reads a payload of at most `limit` bytes, taking one of `budget`'s permits per byte as the
/// bytes arrive; the permits go with the bytes.
/// Why a payload was not read.
enum Unread {
    /// Over its limit (413).
    TooLarge,
    /// The budget is spent by payloads still arriving (503).
    Busy,
    /// The connection failed.
    Broken,
}

/// How long a payload that holds permits waits for more before giving way (503), so payloads
/// each holding part of the budget never wait on one another for ever.
const BUDGET_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Reads a payload of at most `limit` bytes under `budget`'s permits, one per byte as the
/// bytes arrive, held until the payload has become a call (the call keeps a copy of its body,
/// bounded like any body). A payload that holds nothing waits for permits as long as it takes;
/// one that holds some waits at most [`BUDGET_WAIT`], then gives way. Waiting is by polling, so
/// a small payload is never queued behind a large one.
async fn read_limited<'s>(
    payload: &mut web::Payload,
    limit: usize,
    declared: Option<usize>,
    budget: &'s tokio::sync::Semaphore,
) -> Result<(Option<tokio::sync::SemaphorePermit<'s>>, web::Bytes), Unread> {
    if declared.is_some_and(|n| n > limit) {
        return Err(Unread::TooLarge);
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0));
    let mut held: Option<tokio::sync::SemaphorePermit<'s>> = None;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Unread::Broken)?;
        if body.len() + chunk.len() > limit {
            return Err(Unread::TooLarge);
        }
        let wanted = u32::try_from(chunk.len()).map_err(|_| Unread::TooLarge)?;
        let since = std::time::Instant::now();
        let permits = loop {
            match budget.try_acquire_many(wanted) {
                Ok(permits) => break permits,
                Err(tokio::sync::TryAcquireError::Closed) => return Err(Unread::Busy),
                Err(tokio::sync::TryAcquireError::NoPermits) => {
                    if held.is_some() && since.elapsed() > BUDGET_WAIT {
                        return Err(Unread::Busy);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
        };
        match &mut held {
            Some(held) => held.merge(permits),
            None => held = Some(permits),
        }
        body.extend_from_slice(&chunk);
    }
    Ok((held, body.freeze()))
}

/// Renders a reply as the HTTP response. When `unread` still holds part of the request body,
/// the response keeps it until the response is sent: the server then sees a body nobody read
/// and closes the connection, instead of reading and discarding it (actix-http drains a
/// dropped chunked body for as long as the client sends one).
pub(crate) fn to_http(reply: Reply, unread: Body) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(reply.status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in reply.headers {
        builder.insert_header((name, value));
    }
    if let Some(stream) = reply.stream {
        // Proxying mode passes each piece on as it comes; forwarding buffers it whole.
        return builder.streaming(stream.map(Ok::<_, std::convert::Infallible>));
    }
    if !unread.is_unread() {
        return builder.body(reply.body);
    }
    builder.force_close();
    builder.body(Closing {
        bytes: web::Bytes::from(reply.body),
        _unread: unread,
    })
}

/// A response body that holds the request's unread body until the response is dropped.
struct Closing {
    bytes: web::Bytes,
    _unread: Body,
}

impl MessageBody for Closing {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.bytes.len() as u64)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<web::Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.bytes.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(std::mem::take(&mut this.bytes))))
    }
}
