//! A team's own function app on funcgate: the items API (reads need `Api.Read`, changes need
//! `Api.Write`), an echo of the caller's `upn`, `me`, the caller's Graph profile fetched on
//! the caller's behalf, and `org`, the organization's, fetched as the app, with funcgate's
//! `health` beside them.
//!
//! The app is built here, in a library, so its tests start the very same app in-process
//! (`tests/items.rs`); `main.rs` only runs it.

mod echo;
mod events;
mod items;
mod me;
mod org;

use funcgate::{App, Downstream, builtin};

pub use items::Store;

/// The app: its state, built once here, and its functions.
pub fn app() -> App<Store> {
    App::with_state(Store::default())
        .named(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))
        .function(builtin::health())
        .function(items::function())
        .function(echo::function())
        .function(events::function())
        .function(me::function())
        .function(org::function())
        // Microsoft Graph, on behalf of the caller; DOWNSTREAM_GRAPH_URL points tests (and
        // local runs) at a stand-in.
        .downstream(
            "graph",
            Downstream::on_behalf_of(["https://graph.microsoft.com/User.Read"])
                .url("https://graph.microsoft.com"),
        )
        // Graph again, as the app itself (its managed identity): what `org` reads is not the
        // caller's to grant. DOWNSTREAM_DIRECTORY_URL points tests at the stand-in.
        .downstream(
            "directory",
            Downstream::as_app("https://graph.microsoft.com/.default")
                .url("https://graph.microsoft.com"),
        )
}
