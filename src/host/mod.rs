//! The Functions host side: which function a request is for, and in which protocol it came.
//!
//! Forwarded requests arrive as raw HTTP at the public path; invocation requests arrive as
//! `POST /{function}` with a `Data`/`Metadata` JSON payload and are answered with `Outputs`.
//! Both become one [`Call`] and go through [`gateway::handle`].

pub(crate) mod forwarded;
pub(crate) mod invocation;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

use crate::call::{Body, Call};
use crate::gateway;
use crate::reply::Reply;
use crate::state::AppState;
use crate::telemetry::INVOCATION_HEADER;

/// Room in an invocation payload for everything but the body (headers, query, metadata).
const INVOCATION_OVERHEAD_BYTES: usize = 256 * 1024;

/// Largest invocation payload read; larger ones are not treated as invocations. The body
/// inside is JSON-escaped, which can take several bytes per byte, so the payload may be a few
/// times the body limit; the gateway then applies `MAX_REQUEST_BODY_BYTES` to the body itself.
fn max_invocation_bytes(max_body: usize) -> usize {
    max_body
        .saturating_mul(4)
        .saturating_add(INVOCATION_OVERHEAD_BYTES)
}

/// The one request handler: readiness probe, invocation payloads, forwarded requests.
pub(crate) async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let path = req.path();
    if path == "/" {
        // The host's readiness probe and latency ping: any quick answer will do.
        return HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ready"}"#);
    }
    let layout = &state.settings.layout;
    if req.method() == Method::POST
        && let Some(function) = invocation_target(&req, &state)
    {
        let limits = &state.settings.body;
        let limit = max_invocation_bytes(limits.max_bytes);
        let read = tokio::time::timeout(limits.timeout, read_limited(payload, limit)).await;
        if let Ok(Some(body)) = read
            && let Some(mut call) = invocation::to_call(&body, function, layout)
        {
            // The host names the invocation on its own POST, not in the request it describes.
            if let Some(id) = req
                .headers()
                .get(INVOCATION_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                call.headers.set(INVOCATION_HEADER, id.to_owned());
            }
            let reply = gateway::handle(&state, function, call).await;
            return invocation::render(function, &reply);
        }
        // Not an invocation after all, and its body is spent: answer as the route would,
        // with no body.
        let call = forwarded::to_call(&req, Body::Empty);
        return to_http(route(&state, path, call).await);
    }
    let body = forwarded::body(&req, payload);
    let call = forwarded::to_call(&req, body);
    to_http(route(&state, path, call).await)
}

/// Routes a forwarded call to its function, or answers `NotFound`.
async fn route(state: &AppState, path: &str, mut call: Call) -> Reply {
    match state.settings.layout.route(path) {
        Some((function, params)) => {
            call.params = params;
            gateway::handle(state, function, call).await
        }
        None => gateway::not_found(state, &call),
    }
}

/// The function an invocation request would be for: `POST /{folder}` with a JSON body, where
/// the same path is not a public route that itself accepts POST.
fn invocation_target<'a>(
    req: &HttpRequest,
    state: &'a AppState,
) -> Option<&'a crate::layout::FunctionDef> {
    let layout = &state.settings.layout;
    let name = req.path().strip_prefix('/')?;
    let function = layout.function(name)?;
    let is_json = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let public_post = layout
        .route(req.path())
        .is_some_and(|(f, _)| f.accepts("POST"));
    (is_json && !public_post).then_some(function)
}

async fn read_limited(mut payload: web::Payload, limit: usize) -> Option<web::Bytes> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > limit {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body.freeze())
}

/// Renders a reply as the HTTP response.
pub(crate) fn to_http(reply: Reply) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(reply.status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    for (name, value) in reply.headers {
        builder.insert_header((name, value));
    }
    builder.body(reply.body)
}
