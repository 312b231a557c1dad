//! Who called: the validated claims a function or policy may use.

use serde::Serialize;
use serde_json::{Map, Value};

/// Which Entra token format a token is, told by its issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TokenVersion {
    /// `https://sts.windows.net/{tid}/`
    #[serde(rename = "1.0")]
    V1,
    /// The issuer named in the discovery document (`.../{tid}/v2.0`).
    #[serde(rename = "2.0")]
    V2,
}

/// Who called: the validated token's standard claims, typed, and every claim as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Entra v1 or v2, told by the issuer.
    pub version: TokenVersion,
    /// `tid`: the caller's tenant (the configured one when the token names none).
    pub tenant_id: Option<String>,
    /// `oid`: the caller's object id in its tenant.
    pub object_id: Option<String>,
    /// `sub`: the subject, unique per application.
    pub subject: Option<String>,
    /// `azp` (v2) or `appid` (v1): the client application that asked for the token.
    pub client_app: Option<String>,
    /// `roles`: app roles granted to the caller.
    pub roles: Vec<String>,
    /// `scp`, split on spaces: delegated scopes (empty for app-only tokens).
    pub scopes: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
    /// `nbf`, re-checked when a cached validation is reused.
    #[serde(skip)]
    pub not_before: Option<i64>,
    /// Every claim of the validated token (`upn`, `name`, custom claims), as JSON.
    #[serde(skip)]
    pub claims: Map<String, Value>,
}

impl Identity {
    /// An identity with no claims, for tests and defaults.
    pub fn empty(version: TokenVersion) -> Identity {
        Identity {
            version,
            tenant_id: None,
            object_id: None,
            subject: None,
            client_app: None,
            roles: Vec::new(),
            scopes: Vec::new(),
            expires_at: 0,
            not_before: None,
            claims: Map::new(),
        }
    }

    /// A delegated (user) token carries `scp`; an app-only token does not.
    pub fn is_delegated(&self) -> bool {
        !self.scopes.is_empty()
    }
}
