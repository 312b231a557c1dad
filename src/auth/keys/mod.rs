//! Signing keys: a tenant's OpenID discovery document and JWKS, cached in memory.
//!
//! [`key_set`] (the keys, by `kid` or `x5t`), [`gate`] (the unknown-`kid` rules) and
//! [`discovery`] (the discovery document, and the `authorization_endpoint` claims challenges
//! name) are plain data, tested without HTTP; [`jwks`] reads a JWKS into keys [`prepared`] once for
//! jsonwebtoken's verifier hook; [`store`] is the refresh manager that adds
//! the I/O, following Microsoft's key rollover
//! guidance and going past it:
//! - a successful refresh *replaces* the key set: a key the provider withdrew (an emergency
//!   rollover after a leak) stops verifying at once, and the verified-token cache is flushed;
//!   a failed refresh keeps everything (last known good);
//! - keys are found by `kid`, or by `x5t` for tokens in the older Entra format that carry no
//!   `kid` (the same key set, matched on the JWKS entry's `x5t` or on a `kid` equal to it);
//! - a background task loads keys at start-up (retrying with back-off, without delaying
//!   readiness), then refreshes every hour with jitter;
//! - an unknown `kid` triggers one synchronous refresh, at most once per cooldown counted from
//!   the last such refresh; a `kid` is remembered as unknown (bounded, for one cooldown, and
//!   forgotten at the next background refresh) only when a refresh this request waited on,
//!   started after its lookup missed, completed without it, so a flood of random `kid`s costs
//!   nothing, a refresh that read the key set just before a rollover proves nothing, and a
//!   `kid` refused during the cooldown is tried again once the cooldown has passed;
//! - refreshes are single-flight and run in their own task; callers wait on the shared result,
//!   never on a lock held across network I/O, and requests with known `kid`s never wait.

mod discovery;
pub(crate) mod gate;
pub(crate) mod jwks;
pub(crate) mod key_set;
mod prepared;
pub(crate) mod store;

pub use jwks::rs256_key;
pub(crate) use key_set::KeyRef;
pub use prepared::VerifyingKey;
pub use prepared::install_hook;
pub(crate) use store::{KeySource, KeyStatus, KeyStore, RefreshPolicy};
