//! The functions funcgate runs once a call has passed the guard.
//!
//! A function is one file here, a folder with its `function.json` at the app root, and one line
//! in [`FUNCTIONS`]. The file holds the function's default rules per method (the
//! `AUTH_POLICY_<NAME>` grammar, see `auth::policy`) next to its code; a setting overrides
//! them without recompiling. A function sees one [`Request`] whichever host protocol carried
//! the call, and returns any [`Reply`] or a catalogue error.

use std::collections::HashMap;
use std::time::Instant;

use actix_web::web::Bytes;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::auth::Guard;
use crate::auth::token::Identity;
use crate::call::Call;
use crate::errors::{ApiError, ErrorKind};
use crate::reply::Reply;
use crate::secrets::cache::SecretCache;

/// Declares each function's module and lists it in [`FUNCTIONS`]: `module::Type,`.
macro_rules! register {
    ($($module:ident::$function:ident,)*) => {
        $(pub mod $module;)*
        /// Every function funcgate implements.
        pub(crate) static FUNCTIONS: &[&dyn Function] = &[$(&$module::$function),*];
    };
}

// One line per function: its file in this folder, and the type implementing `Function`.
register! {
    health::Health,
    vault::VaultFunction,
    whoami::WhoAmI,
}

/// The implementation for a function folder, matched case-insensitively as the host does.
pub(crate) fn find(name: &str) -> Option<&'static dyn Function> {
    FUNCTIONS
        .iter()
        .copied()
        .find(|f| f.name().eq_ignore_ascii_case(name))
}

/// A function's answer: a reply, or a catalogue error the gateway renders.
pub(crate) type Outcome<'a> = LocalBoxFuture<'a, Result<Reply, ApiError>>;

/// One function.
pub(crate) trait Function: Sync {
    /// Its folder name (the host's function name).
    fn name(&self) -> &'static str;

    /// Its default rules per method, in the `AUTH_POLICY_<NAME>` grammar.
    fn rules(&self) -> &'static str;

    /// Answers a call that passed the guard and the rules.
    fn run<'a>(&'a self, ctx: &'a Context<'a>, req: &'a Request<'a>) -> Outcome<'a>;
}

/// What a function may use besides its request: the services built once at start-up.
pub(crate) struct Context<'a> {
    /// Secrets, behind the cache and `VAULT_ALLOWED_SECRETS`.
    pub(crate) secrets: &'a SecretCache,
    /// The token guard (for the signing-key cache state).
    pub(crate) guard: &'a Guard,
    /// When the process started.
    pub(crate) started: Instant,
}

/// A call as a function sees it: method, route parameters, query, headers (any case), the
/// body (already read, within `MAX_REQUEST_BODY_BYTES`) and the validated identity.
pub(crate) struct Request<'a> {
    call: &'a Call,
    body: Bytes,
    identity: Option<&'a Identity>,
}

impl<'a> Request<'a> {
    /// A view of `call` with its `body` and the caller's identity (`None` for anonymous rules).
    pub(crate) fn new(call: &'a Call, body: Bytes, identity: Option<&'a Identity>) -> Request<'a> {
        Request {
            call,
            body,
            identity,
        }
    }

    /// The upper-case HTTP method.
    pub(crate) fn method(&self) -> &str {
        &self.call.method
    }

    /// A route parameter (`{id}` in the `function.json` route), absent or empty as `None`.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.call
            .params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every route parameter.
    #[allow(dead_code, reason = "part of the view every function gets")]
    pub(crate) fn params(&self) -> &HashMap<String, String> {
        &self.call.params
    }

    /// A query value; repeated keys are comma-joined.
    pub(crate) fn query(&self, key: &str) -> Option<String> {
        self.call.query_value(key)
    }

    /// A header by case-insensitive name; repeated headers are joined with `, `.
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.call.headers.get(name)
    }

    /// The body bytes (empty when none was sent).
    #[allow(dead_code, reason = "part of the view every function gets")]
    pub(crate) fn body(&self) -> &[u8] {
        &self.body
    }

    /// Who called, when the rule for this method asked for a token.
    pub(crate) fn identity(&self) -> Option<&Identity> {
        self.identity
    }

    /// The body as JSON of type `T`: `415 InvalidContentType` unless the content type is
    /// `application/json`, `400 InvalidRequestBody` (with the reason in `debug`) when it is
    /// empty or does not parse as `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let content_type = self.header("content-type").unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(
                ApiError::new(ErrorKind::UnsupportedContentType).because(format!(
                    "expected Content-Type application/json, got {:?}",
                    essence.chars().take(60).collect::<String>()
                )),
            );
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(invalid_body("the request body is empty"));
        }
        serde_json::from_slice(&self.body).map_err(|e| invalid_body(shape_error(&e)))
    }
}

/// A reason that names fields but never echoes a value: serde's own messages quote the
/// offending value (`invalid type: integer 12345`), and reasons reach the log.
fn shape_error(e: &serde_json::Error) -> String {
    if e.classify() != serde_json::error::Category::Data {
        return "the request body is not valid JSON".to_owned();
    }
    let text = e.to_string();
    let names_a_field = ["missing field", "unknown field", "duplicate field"]
        .iter()
        .any(|p| text.starts_with(p));
    match text.split(" at line ").next() {
        Some(head) if names_a_field => head.chars().take(120).collect(),
        _ => format!(
            "the JSON does not have the expected shape (line {}, column {})",
            e.line(),
            e.column()
        ),
    }
}

/// `400 InvalidRequestBody` with `reason` for `debug`.
pub(crate) fn invalid_body(reason: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidRequestBody).because(reason)
}
