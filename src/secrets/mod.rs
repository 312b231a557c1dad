//! Where secret values come from: the stores behind one trait ([`local::LocalStore`],
//! [`keyvault::KeyVaultStore`]), and the [`cache::SecretCache`] the `vault` function reads through.

pub(crate) mod cache;
pub(crate) mod keyvault;
pub(crate) mod local;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// Whether a failure may pass: it decides if a cached value may stand in for the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The store could not answer (timeout, connection failure, 429, 5xx): a value cached
    /// moments ago is still the best answer there is.
    Transient,
    /// The store answered no (401, 403: a disabled secret or withdrawn access; other 4xx;
    /// a set-up error): the cached value must not be served any more.
    Refused,
}

/// A store's failure; the detail is logged, never shown to callers.
#[derive(Clone, Debug)]
pub(crate) struct SecretError {
    /// Transient or refused.
    pub(crate) failure: Failure,
    /// What happened, for the log (no values, no tokens).
    pub(crate) detail: String,
    /// The store's HTTP status, when it answered one.
    pub(crate) status: Option<u16>,
}

impl SecretError {
    /// A failure that stale-if-error may cover.
    pub(crate) fn transient(detail: impl Into<String>) -> SecretError {
        SecretError {
            failure: Failure::Transient,
            detail: detail.into(),
            status: None,
        }
    }

    /// A refusal: the cached value is dropped.
    pub(crate) fn refused(detail: impl Into<String>) -> SecretError {
        SecretError {
            failure: Failure::Refused,
            detail: detail.into(),
            status: None,
        }
    }
}

impl SecretError {
    /// Records the store's HTTP status.
    pub(crate) fn with_status(mut self, status: u16) -> SecretError {
        self.status = Some(status);
        self
    }
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// The answer of a store: the value, `None` when there is no such secret, or a failure.
pub(crate) type SecretFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, SecretError>> + Send + 'a>>;

/// What a write stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stored {
    /// Whether the name is new (`None` where the store cannot tell: Key Vault adds a version
    /// either way).
    pub(crate) created: Option<bool>,
    /// The new version, where the store keeps versions.
    pub(crate) version: Option<String>,
}

/// The answer of a write.
pub(crate) type SetFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Stored, SecretError>> + Send + 'a>>;

/// A source of secret values.
pub(crate) trait SecretStore: Send + Sync {
    /// The value of `name` (at `version`, where the store keeps versions).
    fn get<'a>(&'a self, name: &'a str, version: Option<&'a str>) -> SecretFuture<'a>;

    /// Stores `value` as the current value of `name`.
    fn set<'a>(&'a self, name: &'a str, value: &'a str) -> SetFuture<'a>;
}
