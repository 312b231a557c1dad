//! Who called: the validated claims a function or policy may use.

use serde::Serialize;

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

/// Who called: the validated claims a function or policy may use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub version: TokenVersion,
    pub tenant_id: Option<String>,
    pub object_id: Option<String>,
    pub subject: Option<String>,
    /// `azp` (v2) or `appid` (v1): the client application that asked for the token.
    pub client_app: Option<String>,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub expires_at: i64,
    /// `nbf`, re-checked when a cached validation is reused.
    #[serde(skip)]
    pub not_before: Option<i64>,
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
        }
    }

    /// A delegated (user) token carries `scp`; an app-only token does not.
    pub fn is_delegated(&self) -> bool {
        !self.scopes.is_empty()
    }
}
