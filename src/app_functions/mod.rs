//! This app's own functions, beside funcgate's built-ins. `make new-function NAME=x` writes
//! `x.rs` here and adds one line under each marker below; nothing else needs an edit.

use funcgate::App;

// new-function: modules

/// Registers this app's own functions.
#[allow(clippy::let_and_return, reason = "one `let` per function")]
pub(crate) fn register(app: App) -> App {
    // new-function: registrations
    app
}
