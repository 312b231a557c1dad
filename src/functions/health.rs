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
    Function::new("health", answer).rules("anonymous")
}

async fn answer(req: Request) -> Outcome {
    Ok(run(req.services()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    status: &'static str,
    version: &'static str,
    uptime_seconds: u64,
    signing_keys: KeyStatus,
    secrets: Secrets,
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
    let reachability = ctx.secrets.reachability();
    let healthy = keys.loaded && reachability.reachable != Some(false);
    Reply::json(
        200,
        &Report {
            status: if healthy { "ok" } else { "degraded" },
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: ctx.started.elapsed().as_secs(),
            signing_keys: keys,
            secrets: Secrets {
                backend: ctx.secrets.backend(),
                reachability,
            },
        },
    )
}
