//! Who called: the validated claims a function or policy may use.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
    /// `azp` (v2) or `appid` (v1): the client application that asked for the token (from
    /// another provider, under `AUTH_METADATA_URL`: `azp`, `appid` or RFC 9068's `client_id`).
    pub client_app: Option<String>,
    /// `roles`: app roles granted to the caller.
    pub roles: Vec<String>,
    /// `scp`, split on spaces: delegated scopes (empty for Entra's app-only tokens). From
    /// another provider, under `AUTH_METADATA_URL`, RFC 9068's `scope` when there is no `scp`
    /// (a client-credentials token's too: see [`Identity::is_delegated`]).
    pub scopes: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
    /// `nbf`, re-checked when a cached validation is reused.
    #[serde(skip)]
    pub not_before: Option<i64>,
    /// Every claim of the validated token: see [`Identity::claims`].
    #[serde(skip)]
    pub(crate) claims: TokenClaims,
    /// Another provider's RFC 9068 token from the client-credentials grant (its subject is
    /// its client): scoped, but no user's delegation.
    #[serde(skip)]
    pub(crate) app_only: bool,
}

/// A validated token's claims, kept as its payload segment (one string) and read into JSON the
/// first time something asks. Identities stay in the token cache for their token's lifetime
/// and most are never asked: a JSON map each (some thirty allocations, freed long after, when
/// the cache drops the identity) cost about 5 % of fresh-token throughput.
#[derive(Clone, Default)]
pub(crate) struct TokenClaims {
    /// The token's payload, base64url as it came (already validated); empty when the claims
    /// were given as a map.
    payload: Box<str>,
    read: OnceLock<Map<String, Value>>,
}

impl TokenClaims {
    fn get(&self) -> &Map<String, Value> {
        self.read.get_or_init(|| {
            // Decoded and parsed once already, when the token was validated: both paths refuse
            // any payload a JSON map cannot hold, so this never fails for a validated token.
            // Said (never with the payload) if it ever does, rather than hidden.
            let read = URL_SAFE_NO_PAD
                .decode(&*self.payload)
                .ok()
                .and_then(|json| serde_json::from_slice(&json).ok());
            if read.is_none() && !self.payload.is_empty() {
                log::error!("a validated token's claims did not read as JSON: it has none");
            }
            read.unwrap_or_default()
        })
    }
}

/// Never the claims themselves: the payload is part of a token, which never reaches a log.
impl std::fmt::Debug for TokenClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenClaims { .. }")
    }
}

impl PartialEq for TokenClaims {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for TokenClaims {}

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
            claims: TokenClaims::default(),
            app_only: false,
        }
    }

    /// Every claim of the validated token (`upn`, `name`, custom claims), as JSON: what
    /// [`Request::claim`](crate::Request::claim) and [`Request::claims`](crate::Request::claims)
    /// read. Read from the token the first time it is asked for, then kept.
    pub fn claims(&self) -> &Map<String, Value> {
        self.claims.get()
    }

    /// This identity with `claims` as its claims (for tests of code that reads them).
    pub fn with_claims(mut self, claims: Map<String, Value>) -> Identity {
        self.claims = TokenClaims {
            payload: Box::default(),
            read: OnceLock::from(claims),
        };
        self
    }

    /// This identity with the claims of the token whose payload segment (base64url) is
    /// `payload`, once that token is validated.
    pub(crate) fn with_payload(mut self, payload: &str) -> Identity {
        self.claims = TokenClaims {
            payload: payload.into(),
            read: OnceLock::new(),
        };
        self
    }

    /// A delegated (user) token carries `scp`; an app-only token does not. From another
    /// provider, a token with scopes whose subject is its client (the client-credentials grant,
    /// RFC 9068 §2.2) is app-only too.
    pub fn is_delegated(&self) -> bool {
        !self.scopes.is_empty() && !self.app_only
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_from_the_payload_when_asked() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"upn":"a@b.example","n":[1,2]}"#);
        let identity = Identity::empty(TokenVersion::V2).with_payload(&payload);
        assert_eq!(identity.claims()["upn"], "a@b.example");
        assert_eq!(identity.claims()["n"], serde_json::json!([1, 2]));
        // Equal identities: compared by their claims, however they were given.
        let given = Identity::empty(TokenVersion::V2).with_claims(identity.claims().clone());
        assert_eq!(identity, given);
        assert_ne!(identity, Identity::empty(TokenVersion::V2));
        // A payload that does not read (never one that was validated) has no claims.
        let broken = Identity::empty(TokenVersion::V2).with_payload("not base64!");
        assert!(broken.claims().is_empty());
        // Debug output (a log line, a panic message) never carries the payload.
        assert!(!format!("{identity:?}").contains(&payload));
    }
}
