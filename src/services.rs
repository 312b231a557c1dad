//! What a function may use of funcgate's own services, built once by `state` and handed to
//! every [`Request`](crate::Request).
//!
//! It sits below `functions`, so a function never reaches up into the app's state (the
//! settings, the registry, the host's budgets): the stack stays one-way.

use std::time::Instant;

use crate::auth::Guard;
use crate::errors::{ApiError, Detail, ErrorKind};
use crate::secrets::cache::SecretCache;
use crate::telemetry::Telemetry;

/// funcgate's services as the functions (and the gateway) see them.
pub(crate) struct Services {
    /// Token validation and its key cache (`health` reports the key status).
    pub(crate) guard: Guard,
    /// Secrets, behind their cache; `None` for an app that does not register `vault` (no
    /// store is opened, nothing about secrets is logged or reported).
    pub(crate) secrets: Option<SecretCache>,
    /// Application Insights, or off.
    pub(crate) telemetry: Telemetry,
    /// Start-up time, for `health`.
    pub(crate) started: Instant,
    /// The Protected Resource Metadata document, rendered at start-up (`PUBLIC_BASE_URL`).
    pub(crate) protected_resource: Option<Vec<u8>>,
    /// `WEBSITE_AUTH_ENABLED`: App Service Authentication runs in front of the app.
    pub(crate) easy_auth: bool,
    /// The app's own name and version, as its `main.rs` gave them ([`App::named`]), for
    /// `health`.
    ///
    /// [`App::named`]: crate::App::named
    pub(crate) app: Option<(String, String)>,
    /// Downstream APIs and their tokens.
    pub(crate) downstream: crate::downstream::Downstreams,
    /// `PUBLIC_BASE_URL`, without a trailing slash.
    pub(crate) public_base_url: Option<String>,
    /// `MCP_ALLOWED_ORIGINS`, for the MCP transport.
    pub(crate) mcp_origins: crate::net::OriginList,
    /// What full scope values are written under (`api://{client}`), `None` for bare names:
    /// `AUTH_SCOPE_PREFIX`.
    pub(crate) scope_prefix: Option<String>,
    /// The metadata documents of MCP servers, by their path under `PUBLIC_BASE_URL`
    /// (`mcp`, `api/mcp`), for the path-inserted location.
    pub(crate) resource_documents: Vec<(String, Vec<u8>)>,
}

impl Services {
    /// `scope` as a full scope value of this API (`api://{client}/Orders.Read`).
    pub(crate) fn full_scope(&self, scope: &str) -> String {
        crate::auth::config::full_scope(self.scope_prefix.as_deref(), scope)
    }

    /// `err` as an MCP server answers a refusal (its own rule's, or a tool's): the `scope` of
    /// its `403` names every scope the refusing rule accepts (`accepted`, short or full) as
    /// full values a client can request, or none for a rule of roles only (a role is not a
    /// scope, and Entra would read a bare name as a Microsoft Graph scope) and none when the
    /// token was judged on roles (an app-only token, which lacks a role: its client asks for
    /// `.default` and is granted roles, so a scope would point it nowhere). Other refusals (a
    /// claims challenge, a missing token) are left as they are.
    pub(crate) fn as_mcp_refusal<'a>(
        &self,
        err: ApiError,
        accepted: impl IntoIterator<Item = &'a str>,
    ) -> ApiError {
        if !matches!(err.detail, Detail::Scope(_)) {
            return err;
        }
        let scopes = if err.kind == ErrorKind::ScopeForbidden {
            full_scopes(accepted, |scope| self.full_scope(scope))
        } else {
            Vec::new()
        };
        if scopes.is_empty() {
            return ApiError {
                detail: Detail::None,
                ..err
            };
        }
        err.with(Detail::Scope(scopes.join(" ")))
    }
}

/// `scopes` as full values (`full` makes one), each once, in order, without
/// `offline_access`: Entra's to grant, never a resource's scope to ask for. A scope may be
/// named twice, short and in full.
pub(crate) fn full_scopes<'a>(
    scopes: impl IntoIterator<Item = &'a str>,
    full: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut out: Vec<String> = scopes
        .into_iter()
        .filter(|scope| !scope.eq_ignore_ascii_case("offline_access"))
        .map(full)
        .collect();
    crate::auth::policy::each_once(&mut out);
    out
}
