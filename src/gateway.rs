//! One call's path, whatever carried it: CORS preflight → method → guard → policy → function.

use std::collections::HashMap;
use std::time::Instant;

use crate::AppState;
use crate::cors;
use crate::errors::{ApiError, Detail, ErrorKind};
use crate::functions::{FunctionKind, health, vault, whoami};
use crate::host::layout::FunctionDef;
use crate::reply::Reply;

/// A call to a function, as both host protocols describe it.
#[derive(Clone, Debug, Default)]
pub struct Call {
    /// Upper-case HTTP method.
    pub method: String,
    /// Route parameters (`secret_name`).
    pub params: HashMap<String, String>,
    /// Query pairs in order.
    pub query: Vec<(String, String)>,
    /// Every `Authorization` value, joined with `, ` when there are several.
    pub authorization: Option<String>,
    /// `Origin`.
    pub origin: Option<String>,
    /// `Access-Control-Request-Method` (marks a CORS preflight).
    pub preflight_method: Option<String>,
}

impl Call {
    /// A query value; repeated keys are comma-joined, as the Functions host forwards them.
    pub fn query_value(&self, key: &str) -> Option<String> {
        let values: Vec<&str> = self
            .query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }
}

/// Runs a call to `function` and returns the finished reply.
pub async fn handle(state: &AppState, function: &FunctionDef, call: &Call) -> Reply {
    let started = Instant::now();
    let cfg = &state.settings.cors;
    let (reply, code) = match cors::preflight(cfg, function, call) {
        Some(reply) => (reply, None),
        None => match run(state, function, call).await {
            Ok(reply) => (reply, None),
            Err(err) => (err.render(state.settings.auth.debug_errors), Some(err)),
        },
    };
    log_call(&function.name, call, &reply, code.as_ref(), started);
    finish(state, reply, call)
}

/// The reply for a path that names no function.
pub fn not_found(state: &AppState, call: &Call) -> Reply {
    let err = ApiError::new(ErrorKind::NotFound);
    let reply = err.render(state.settings.auth.debug_errors);
    log_call("-", call, &reply, Some(&err), Instant::now());
    finish(state, reply, call)
}

fn finish(state: &AppState, mut reply: Reply, call: &Call) -> Reply {
    cors::decorate(&state.settings.cors, &mut reply, call.origin.as_deref());
    if call.method == "HEAD" {
        reply.body.clear();
    }
    reply
}

async fn run(state: &AppState, function: &FunctionDef, call: &Call) -> Result<Reply, ApiError> {
    if !function.accepts(&call.method) {
        return Err(
            ApiError::new(ErrorKind::MethodNotAllowed).with(Detail::Allow(function.allow_header()))
        );
    }
    let policy = state.settings.policy(&function.name);
    let who = if policy.is_anonymous() {
        None
    } else {
        let who = state
            .guard
            .authenticate(call.authorization.as_deref())
            .await?;
        policy.check(&who)?;
        Some(who)
    };
    match FunctionKind::for_name(&function.name) {
        Some(FunctionKind::Health) => Ok(health::run(state)),
        Some(FunctionKind::Vault) => vault::run(state, call, who.as_deref()).await,
        Some(FunctionKind::Whoami) => Ok(whoami::run(who.as_deref())),
        None => Err(ApiError::new(ErrorKind::NotFound)
            .because(format!("funcgate does not implement {}", function.name))),
    }
}

/// One line per call: never the token, the query or a secret value.
fn log_call(function: &str, call: &Call, reply: &Reply, err: Option<&ApiError>, started: Instant) {
    let micros = started.elapsed().as_micros();
    match err {
        None => log::info!(
            "{function} {} -> {} ({micros} us)",
            call.method,
            reply.status
        ),
        Some(e) => log::info!(
            "{function} {} -> {} {} ({}) ({micros} us)",
            call.method,
            reply.status,
            e.kind.code(),
            e.reason.as_deref().unwrap_or("-"),
        ),
    }
}
