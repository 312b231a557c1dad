//! `health`: whether the service runs and what the signing-key cache holds.

use serde::Serialize;

use super::{Function, Outcome, Request};
use crate::auth::keys::KeyStatus;
use crate::reply::Reply;
use crate::secrets::cache::Reachability;
use crate::services::Services;

/// The built-in `health` function (folder `health`, rule `anonymous`): whether the service
/// runs, what the signing-key cache holds, and whether the secret store answered last time.
/// Always `200`, so an identity-provider outage never makes the platform recycle instances.
pub fn health<S: Send + Sync + 'static>() -> Function<S> {
    Function::new("health", answer)
        .rules("anonymous")
        .route("health", &["GET", "HEAD"])
}

async fn answer(req: Request) -> Outcome {
    Ok(run(req.services()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    status: &'static str,
    /// funcgate's version (the library the app is built on).
    version: &'static str,
    /// The app's own name and version, when its `main.rs` names them (`App::named`).
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<AppVersion<'a>>,
    uptime_seconds: u64,
    signing_keys: KeyStatus,
    /// Only for an app that serves `vault`.
    #[serde(skip_serializing_if = "Option::is_none")]
    secrets: Option<Secrets>,
}

#[derive(Serialize)]
struct AppVersion<'a> {
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
struct Secrets {
    backend: &'static str,
    #[serde(flatten)]
    reachability: Reachability,
}

/// Always 200: an identity-provider outage must not make the platform recycle instances.
fn run(ctx: &Services) -> Reply {
    let keys = ctx.guard.key_status();
    let secrets = ctx.secrets.as_ref().map(|store| Secrets {
        backend: store.backend(),
        reachability: store.reachability(),
    });
    let secrets_down = secrets
        .as_ref()
        .is_some_and(|s| s.reachability.reachable == Some(false));
    let healthy = keys.loaded && !secrets_down;
    Reply::json(
        200,
        &Report {
            status: if healthy { "ok" } else { "degraded" },
            version: env!("CARGO_PKG_VERSION"),
            app: ctx
                .app
                .as_ref()
                .map(|(name, version)| AppVersion { name, version }),
            uptime_seconds: ctx.started.elapsed().as_secs(),
            signing_keys: keys,
            secrets,
        },
    )
}
