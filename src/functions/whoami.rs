//! `whoami`: the validated identity behind the caller's token, for debugging app registrations.

use serde::Serialize;

use super::{Function, Outcome, Request};
use crate::auth::token::{Identity, TokenVersion};
use crate::reply::Reply;

/// The built-in `whoami` function (folder `whoami`, rule `authenticated`): the validated
/// identity behind the caller's token, for debugging app registrations.
pub fn whoami<S: Send + Sync + 'static>() -> Function<S> {
    Function::new("whoami", answer)
        .rules("authenticated")
        .route("whoami", &["GET", "HEAD"])
}

async fn answer(req: Request) -> Outcome {
    let mut reply = run(req.identity());
    // What App Service Authentication says, beside (never instead of) the token's identity.
    if let Some(principal) = req.platform_principal() {
        let mut body: serde_json::Value =
            serde_json::from_slice(&reply.body).unwrap_or(serde_json::Value::Null);
        body["platformPrincipal"] = principal;
        reply = Reply::json(200, &body);
        reply.header("Cache-Control", "no-store");
    }
    Ok(reply)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Echo<'a> {
    authenticated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_version: Option<TokenVersion>,
    tenant_id: Option<&'a str>,
    object_id: Option<&'a str>,
    subject: Option<&'a str>,
    client_app: Option<&'a str>,
    roles: &'a [String],
    scopes: &'a [String],
    expires_at: Option<i64>,
}

/// Echoes the identity; an anonymous policy (no token checked) says so.
fn run(who: Option<&Identity>) -> Reply {
    let body = match who {
        Some(id) => Echo {
            authenticated: true,
            token_version: Some(id.version),
            tenant_id: id.tenant_id.as_deref(),
            object_id: id.object_id.as_deref(),
            subject: id.subject.as_deref(),
            client_app: id.client_app.as_deref(),
            roles: &id.roles,
            scopes: &id.scopes,
            expires_at: Some(id.expires_at),
        },
        None => Echo {
            authenticated: false,
            token_version: None,
            tenant_id: None,
            object_id: None,
            subject: None,
            client_app: None,
            roles: &[],
            scopes: &[],
            expires_at: None,
        },
    };
    let mut reply = Reply::json(200, &body);
    reply.header("Cache-Control", "no-store");
    reply
}
