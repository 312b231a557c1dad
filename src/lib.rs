//! funcgate: an Azure Functions custom handler that guards functions with Entra ID tokens.
//!
//! A request's path: [`host::dispatch`] (which protocol, which function) → [`gateway::handle`]
//! (CORS, method, [`auth::Guard`], policy) → a function in [`functions`] → back out through the
//! host adapter. State is built once in [`AppState::new`] and shared through `web::Data`.

// Request paths must not panic: the host stops an app after 3 crashes in 30 minutes.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod auth;
pub mod call;
pub mod cors;
pub mod errors;
pub mod functions;
pub mod gateway;
pub mod host;
pub mod layout;
pub mod net;
pub mod reply;
pub mod secrets;
pub mod server;
pub mod settings;
pub mod state;

pub use server::{CLIENT_REQUEST_TIMEOUT, app, run};
pub use state::AppState;
