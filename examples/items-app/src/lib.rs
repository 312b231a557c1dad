//! A team's own function app on funcgate: the items API (reads need `Api.Read`, changes need
//! `Api.Write`) and an echo of the caller's `upn`, with funcgate's `health` beside them.
//!
//! The app is built here, in a library, so its tests start the very same app in-process
//! (`tests/items.rs`); `main.rs` only runs it.

mod echo;
mod events;
mod items;

use funcgate::{App, builtin};

pub use items::Store;

/// The app: its state, built once here, and its functions.
pub fn app() -> App<Store> {
    App::with_state(Store::default())
        .named(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
        .function(builtin::health())
        .function(items::function())
        .function(echo::function())
        .function(events::function())
}
