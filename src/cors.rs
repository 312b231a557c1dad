//! CORS for browser callers, applied to every reply whichever host protocol carried it.
//!
//! Done here rather than with actix-cors because invocation-mode replies travel as
//! `Outputs.res` JSON, where middleware never sees them.

use crate::call::Call;
use crate::reply::Reply;

/// Which browser origins may call (`CORS_ALLOWED_ORIGINS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CorsOrigins {
    /// Any origin (`*`).
    Any,
    /// Exactly these origins, lower-case `scheme://host[:port]`; empty: CORS is off.
    List(Vec<String>),
}

/// Seconds a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: &str = "600";

fn allowed<'a>(cfg: &CorsOrigins, origin: Option<&'a str>) -> Option<&'a str> {
    let origin = origin?;
    match cfg {
        CorsOrigins::Any => Some(origin),
        CorsOrigins::List(list) => list
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            .then_some(origin),
    }
}

fn allow_origin_value(cfg: &CorsOrigins, origin: &str) -> String {
    match cfg {
        CorsOrigins::Any => "*".to_owned(),
        CorsOrigins::List(_) => origin.to_owned(),
    }
}

/// The answer to a preflight from an allowed origin, allowing `methods` (the function's
/// `Allow` value); `None` when this is not one.
pub(crate) fn preflight(cfg: &CorsOrigins, methods: &str, call: &Call) -> Option<Reply> {
    if call.method != "OPTIONS" || call.headers.get("access-control-request-method").is_none() {
        return None;
    }
    let origin = call.headers.get("origin");
    let origin = allowed(cfg, origin.as_deref())?;
    let mut reply = Reply::empty(204);
    reply.header(
        "Access-Control-Allow-Origin",
        allow_origin_value(cfg, origin),
    );
    reply.header("Access-Control-Allow-Methods", methods.to_owned());
    reply.header(
        "Access-Control-Allow-Headers",
        "Authorization, Content-Type",
    );
    reply.header("Access-Control-Max-Age", PREFLIGHT_MAX_AGE);
    Some(reply)
}

/// Adds the response headers a browser needs to read the reply.
pub(crate) fn decorate(cfg: &CorsOrigins, reply: &mut Reply, origin: Option<&str>) {
    if matches!(cfg, CorsOrigins::List(list) if list.is_empty()) {
        return;
    }
    if let CorsOrigins::List(_) = cfg {
        reply.header("Vary", "Origin");
    }
    if let Some(origin) = allowed(cfg, origin) {
        reply.header(
            "Access-Control-Allow-Origin",
            allow_origin_value(cfg, origin),
        );
        reply.header(
            "Access-Control-Expose-Headers",
            "WWW-Authenticate, Retry-After",
        );
    }
}
