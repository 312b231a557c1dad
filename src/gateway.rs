//! One call's path, whatever carried it: CORS preflight → method → rule for the method →
//! guard → body → function.
//!
//! The body is read only once the guard has passed, so an unauthenticated caller never makes
//! funcgate buffer one; it is bounded by `MAX_REQUEST_BODY_BYTES` and
//! `REQUEST_BODY_TIMEOUT_SECONDS`.

use std::time::Instant;

use crate::call::{Body, BodyError, Call};
use crate::cors;
use crate::errors::{ApiError, Detail, ErrorKind};
use crate::functions::{self, Context, Request};
use crate::layout::FunctionDef;
use crate::reply::Reply;
use crate::state::AppState;

/// Runs a call to `function` and returns the finished reply.
pub(crate) async fn handle(state: &AppState, function: &FunctionDef, call: Call) -> Reply {
    let started = Instant::now();
    // The call is consumed on its way to the function; keep what the reply still needs.
    let origin = call.headers.get("origin");
    let method = call.method.clone();
    // Only an OPTIONS call can be a preflight; the methods string is built for those alone.
    let preflight = (call.method == "OPTIONS")
        .then(|| cors::preflight(&state.settings.cors, &function.allow_header(), &call))
        .flatten();
    let (reply, err) = match preflight {
        Some(reply) => (reply, None),
        None => match run(state, function, call).await {
            Ok(reply) => (reply, None),
            Err(err) => (err.render(state.settings.auth.debug_errors), Some(err)),
        },
    };
    log_call(&function.name, &method, &reply, err.as_ref(), started);
    finish(state, reply, &method, origin.as_deref())
}

/// The reply for a path that names no function.
pub(crate) fn not_found(state: &AppState, call: &Call) -> Reply {
    let err = ApiError::new(ErrorKind::NotFound);
    let reply = err.render(state.settings.auth.debug_errors);
    log_call("-", &call.method, &reply, Some(&err), Instant::now());
    let origin = call.headers.get("origin");
    finish(state, reply, &call.method, origin.as_deref())
}

fn finish(state: &AppState, mut reply: Reply, method: &str, origin: Option<&str>) -> Reply {
    cors::decorate(&state.settings.cors, &mut reply, origin);
    if method == "HEAD" {
        reply.body.clear();
    }
    reply
}

async fn run(state: &AppState, function: &FunctionDef, mut call: Call) -> Result<Reply, ApiError> {
    if !function.accepts(&call.method) {
        return Err(
            ApiError::new(ErrorKind::MethodNotAllowed).with(Detail::Allow(function.allow_header()))
        );
    }
    let policy = state.settings.policy(&function.name, &call.method);
    let who = if policy.is_anonymous() {
        None
    } else {
        let authorization = call.headers.get("authorization");
        let who = state.guard.authenticate(authorization.as_deref()).await?;
        policy.check(&who)?;
        Some(who)
    };
    let Some(implementation) = functions::find(&function.name) else {
        return Err(ApiError::new(ErrorKind::NotFound)
            .because(format!("funcgate does not implement {}", function.name)));
    };
    let limits = &state.settings.body;
    let body = std::mem::replace(&mut call.body, Body::Empty)
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
    let ctx = Context {
        secrets: &state.secrets,
        guard: &state.guard,
        started: state.started,
    };
    let req = Request::new(&call, body, who.as_deref());
    implementation.run(&ctx, &req).await
}

/// One line per call: never the token, the query, a header or a body.
fn log_call(function: &str, method: &str, reply: &Reply, err: Option<&ApiError>, started: Instant) {
    let micros = started.elapsed().as_micros();
    match err {
        None => log::info!("{function} {method} -> {} ({micros} us)", reply.status),
        Some(e) => log::info!(
            "{function} {method} -> {} {} ({}) ({micros} us)",
            reply.status,
            e.kind.code(),
            e.reason.as_deref().unwrap_or("-"),
        ),
    }
}
