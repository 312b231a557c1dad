//! This app's own functions, beside funcgate's built-ins. `make new-function NAME=x` writes
//! `x.rs` here and adds one line under each marker below; nothing else needs an edit.

use funcgate::App;

// new-function: modules

/// Registers this app's own functions.
pub(crate) fn register(app: App) -> App {
    #[allow(clippy::let_and_return, reason = "new-function adds a line before the return")]
    let app = app
        // new-function: registrations
        ;
    app
}
