//! funcgate: an Azure Functions custom handler that guards functions with Entra ID tokens.
//!
//! A request's path: `host::dispatch` (which protocol, which function) → `gateway::handle`
//! (CORS, method, the method's rule, `auth::Guard`, the body) → a function in `functions` →
//! back out through the host adapter. State is built once in [`AppState::new`] and shared
//! through `web::Data`. Modules are private; this file re-exports the few items the binary,
//! the benchmarks and the fuzz target use.

// Lints (no unsafe code; no unwrap, expect or panic outside tests, since the host stops an
// app after 3 crashes in 30 minutes) are in Cargo.toml's [lints].

mod auth;
mod call;
mod cors;
mod errors;
mod functions;
mod gateway;
mod host;
mod layout;
mod net;
mod reply;
mod secrets;
mod server;
mod settings;
mod state;
mod telemetry;

// The binary's start-up.
pub use server::run;
pub use settings::{SettingError, Settings};
pub use state::AppState;

// The guard's steps, for the benchmarks and the fuzz target.
pub use auth::bearer::token_from_header;
pub use auth::keys::jwks::KeyProblem;
pub use auth::keys::{VerifyingKey, rs256_key};
pub use auth::policy::Policy;
pub use auth::token::{Identity, Parsed, Rules, Signer, parse};
pub use auth::token_cache::{TokenCache, key as token_cache_key};
pub use auth::unix_now;
pub use errors::{ApiError, ErrorKind};
