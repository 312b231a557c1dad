//! jsonwebtoken's crypto provider is one per process, so whether funcgate's verifier hook went
//! in is tested in a process of its own.
#![allow(clippy::unwrap_used)]

use funcgate::__private::install_hook;
use jsonwebtoken::{EncodingKey, Header};

#[test]
fn the_hook_is_not_claimed_when_another_provider_came_first() {
    // Signing anything installs the crate's default provider for the process.
    jsonwebtoken::encode(
        &Header::default(),
        &serde_json::json!({}),
        &EncodingKey::from_secret(b"a key"),
    )
    .unwrap();
    assert!(!install_hook(), "the crate's provider was installed first");
    assert!(!install_hook(), "and asking again gives the same answer");
}
