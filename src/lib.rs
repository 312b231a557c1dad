//! funcgate: guard Azure Functions with Microsoft Entra ID bearer tokens, in a custom handler
//! your function app builds from this library.
//!
//! A team's `main.rs` builds an [`App`] with its shared state and its functions (each an
//! ordinary `async fn` with its rules per method next to it) and runs it; funcgate speaks both
//! host protocols, validates the token (signature from the tenant's keys, issuer, audience,
//! lifetime), checks the function's rule for the method, and answers every refusal with the
//! documented JSON error. Taking a security fix is a version bump.
//!
//! ```no_run
//! use funcgate::{App, Function, Outcome, Reply, Request, builtin};
//!
//! async fn hello(req: Request) -> Outcome {
//!     let upn = req.claim("upn").and_then(|v| v.as_str()).unwrap_or("stranger");
//!     Ok(Reply::json(200, &format!("hello, {upn}")))
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     App::new()
//!         .function(builtin::health())
//!         .function(Function::new("hello", hello).rules("GET,HEAD=scopes:Api.Read"))
//!         .run()
//! }
//! ```
//!
//! A request's path: `host::dispatch` (which protocol, which function) → `gateway::handle`
//! (CORS, method, the method's rule, `auth::Guard`, the body) → the registered function →
//! back out through the host adapter. State is built once at start-up and shared; modules are
//! private and this file re-exports the public surface.

// Lints (no unsafe code; no unwrap, expect or panic outside tests, since the host stops an
// app after 3 crashes in 30 minutes) are in Cargo.toml's [lints].
#![warn(missing_docs)]

mod app;
mod auth;
mod call;
mod cors;
mod downstream;
mod errors;
mod functions;
mod gateway;
mod host;
mod layout;
pub mod mcp;
mod net;
mod policies;
mod reply;
mod secrets;
mod server;
mod services;
mod settings;
mod state;
mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use actix_web::web::Bytes;
pub use app::App;
pub use auth::token::{Identity, TokenVersion};
pub use downstream::{Downstream, DownstreamApi, DownstreamResponse, DownstreamToken};
pub use errors::{ApiError, Detail, ErrorKind};
pub use functions::{Function, Handler, Outcome, Request, State};
pub use reply::Reply;

/// funcgate's own functions, registered like a team's: `App::new().function(builtin::health())`.
pub mod builtin {
    pub use crate::functions::health::health;
    pub use crate::functions::protected_resource::protected_resource;
    pub use crate::functions::vault::vault;
    pub use crate::functions::whoami::whoami;
}

/// The guard's steps, exported for funcgate's own benchmarks and fuzz target only: not part
/// of the public API, and may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::auth::bearer::token_from_header;
    pub use crate::auth::keys::jwks::KeyProblem;
    pub use crate::auth::keys::{VerifyingKey, install_hook, rs256_key};
    pub use crate::auth::policy::Policy;
    pub use crate::auth::token::{Parsed, Rules, Signer, parse, validate_at_once};
    pub use crate::auth::token_cache::{TokenCache, key as token_cache_key};
    pub use crate::auth::unix_now;
    pub use crate::downstream::CachedTokenBench;
}

/// The README's Rust examples, compiled by `cargo test --doc` so the first thing a team copies
/// keeps building. The excerpts of `examples/` are marked `ignore` there: their files are built
/// and tested whole by `make test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
