//! `GET /api/echo`: the caller's `upn` claim, as the Flask sample's `/api/echo` returns it.

use funcgate::{Function, Outcome, Reply, Request};
use serde::{Deserialize, Serialize};

/// The claims this function reads; any valid token may call it.
#[derive(Deserialize, Serialize)]
struct Caller {
    /// Delegated tokens carry the user's principal name; app-only tokens do not.
    upn: Option<String>,
    /// The display name, when the token carries it.
    name: Option<String>,
}

/// The `echo` function.
pub fn function<S: Send + Sync + 'static>() -> Function<S> {
    Function::new("echo", echo).rules("GET=authenticated")
}

async fn echo(req: Request) -> Outcome {
    let caller: Caller = req.claims()?;
    Ok(Reply::json(200, &caller))
}
