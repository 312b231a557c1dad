//! The guard: bearer header → token → signing key → claims. Policies are checked by the caller.

pub mod bearer;
pub mod keys;
pub mod policy;
pub mod token;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::errors::ApiError;
use keys::KeyStore;
use token::{Identity, Rules};

/// Validates bearer tokens against the cached signing keys and the claim rules.
pub struct Guard {
    keys: Arc<KeyStore>,
    rules: Rules,
}

impl Guard {
    /// A guard over `keys` applying `rules`.
    pub fn new(keys: Arc<KeyStore>, rules: Rules) -> Guard {
        Guard { keys, rules }
    }

    /// The signing-key cache (for `health`).
    pub fn keys(&self) -> &KeyStore {
        &self.keys
    }

    /// The validated identity behind an `Authorization` header value, or why there is none.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Identity, ApiError> {
        let raw = bearer::token_from_header(authorization)?;
        let parsed = token::parse(raw)?;
        let (key, issuers) = self.keys.find(&parsed.kid).await?;
        parsed.verify(&key)?;
        parsed.validate(&self.rules, &issuers, unix_now())
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
