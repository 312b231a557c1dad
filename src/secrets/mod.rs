//! Where secret values come from: a store behind one trait, and the reads `vault` makes.

pub mod keyvault;
pub mod local;
pub mod vault;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A store's failure; the reason is logged, never shown to callers.
#[derive(Debug)]
pub struct SecretError(pub String);

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The answer of a store: the value, `None` when there is no such secret, or a failure.
pub type SecretFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, SecretError>> + Send + 'a>>;

/// A source of secret values.
pub trait SecretStore: Send + Sync {
    /// The value of `name` (at `version`, where the store keeps versions).
    fn get<'a>(&'a self, name: &'a str, version: Option<&'a str>) -> SecretFuture<'a>;
}
