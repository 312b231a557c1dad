//! `health`: whether the service runs and what the signing-key cache holds.

use serde::Serialize;

use crate::AppState;
use crate::auth::keys::KeyStatus;
use crate::reply::Reply;
use crate::secrets::vault::Reachability;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
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
pub fn run(state: &AppState) -> Reply {
    let keys = state.guard.key_status();
    let reachability = state.vault.reachability();
    let healthy = keys.loaded && reachability.reachable != Some(false);
    Reply::json(
        200,
        &Health {
            status: if healthy { "ok" } else { "degraded" },
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: state.started.elapsed().as_secs(),
            signing_keys: keys,
            secrets: Secrets {
                backend: state.vault.backend(),
                reachability,
            },
        },
    )
}
