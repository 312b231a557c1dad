//! `health`: whether the service runs and what the signing-key cache holds.

use serde::Serialize;

use super::{Context, Function, Outcome, Request};
use crate::auth::keys::KeyStatus;
use crate::reply::Reply;
use crate::secrets::cache::Reachability;

/// The `health` function.
pub(crate) struct Health;

impl Function for Health {
    fn name(&self) -> &'static str {
        "health"
    }

    fn rules(&self) -> &'static str {
        "anonymous"
    }

    fn run<'a>(&'a self, ctx: &'a Context<'a>, _req: &'a Request<'a>) -> Outcome<'a> {
        Box::pin(async move { Ok(run(ctx)) })
    }
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
fn run(ctx: &Context<'_>) -> Reply {
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
