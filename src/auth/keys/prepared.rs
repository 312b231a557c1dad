//! RS256 keys prepared once, and the jsonwebtoken verifier hook that uses them.
//!
//! jsonwebtoken's own aws-lc verifier builds the RSA key from its modulus and exponent on every
//! verification (about 2–3 µs of the ≈ 15 µs a fresh token costs). The crate's hook for that
//! is its `CryptoProvider`, whose verifier factory is a plain function given only the
//! `DecodingKey`. So for the length of one `decode` call, [`VerifyingKey::lend`] hands the
//! factory this key's parsed form through a thread-local slot, tagged with the address of the
//! `DecodingKey` it belongs to; the factory uses it only for that very key and RS256, and
//! otherwise defers to the crate's aws-lc provider. Nothing outlives the call: the slot is
//! emptied when it returns, and the keys themselves live in the key stores passed in.

use std::cell::RefCell;
use std::sync::{Arc, LazyLock, OnceLock};

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier};
use jsonwebtoken::{Algorithm, DecodingKey};

/// An RS256 public key: jsonwebtoken's `DecodingKey`, and the same key parsed once by aws-lc.
#[derive(Clone)]
pub struct VerifyingKey {
    decoding: DecodingKey,
    parsed: Option<Arc<ParsedPublicKey>>,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("prepared", &self.parsed.is_some())
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// The key from its modulus and exponent (big-endian bytes, leading zeros removed).
    pub(super) fn rs256(n: &[u8], e: &[u8]) -> VerifyingKey {
        // A key aws-lc cannot parse is still handed to the crate, which then refuses every
        // signature with it the way it always would.
        let parsed = RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .ok()
            .map(Arc::new);
        VerifyingKey {
            decoding: DecodingKey::from_rsa_raw_components(n, e),
            parsed,
        }
    }

    /// Runs `decode` (one call of jsonwebtoken's `decode` with the key it is given) with this
    /// key's parsed form available to the verifier hook.
    pub(crate) fn lend<R>(&self, decode: impl FnOnce(&DecodingKey) -> R) -> R {
        let Some(parsed) = &self.parsed else {
            return decode(&self.decoding);
        };
        let previous = LENT.with(|slot| {
            slot.replace(Some(Lent {
                decoding: address(&self.decoding),
                parsed: Arc::clone(parsed),
            }))
        });
        // Emptied (or the outer lend restored) even if `decode` unwinds.
        let _restore = Restore(previous);
        decode(&self.decoding)
    }
}

/// The key lent to the hook on this thread, and the address of the `DecodingKey` it is for.
struct Lent {
    decoding: usize,
    parsed: Arc<ParsedPublicKey>,
}

thread_local! {
    static LENT: RefCell<Option<Lent>> = const { RefCell::new(None) };
}

/// Puts back what the slot held before a [`VerifyingKey::lend`].
struct Restore(Option<Lent>);

impl Drop for Restore {
    fn drop(&mut self) {
        let previous = self.0.take();
        LENT.with(|slot| *slot.borrow_mut() = previous);
    }
}

fn address(key: &DecodingKey) -> usize {
    std::ptr::from_ref(key) as usize
}

/// Verifies with a key aws-lc parsed once.
struct Prepared(Arc<ParsedPublicKey>);

impl jsonwebtoken::signature::Verifier<Vec<u8>> for Prepared {
    fn verify(
        &self,
        message: &[u8],
        signature: &Vec<u8>,
    ) -> Result<(), jsonwebtoken::signature::Error> {
        self.0
            .verify_sig(message, signature)
            .map_err(jsonwebtoken::signature::Error::from_source)
    }
}

impl JwtVerifier for Prepared {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

/// The hook: the lent key when the crate asks for exactly that key and RS256, else the crate's
/// own aws-lc verifier.
fn verifier(
    algorithm: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    if *algorithm == Algorithm::RS256 {
        let lent = LENT.with(|slot| {
            slot.borrow()
                .as_ref()
                .filter(|lent| lent.decoding == address(key))
                .map(|lent| Arc::clone(&lent.parsed))
        });
        if let Some(parsed) = lent {
            return Ok(Box::new(Prepared(parsed)));
        }
    }
    (jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.verifier_factory)(algorithm, key)
}

/// The crate's aws-lc provider with [`verifier`] as its verifier factory.
static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    verifier_factory: verifier,
    ..jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.clone()
});

/// Installs the hook as jsonwebtoken's provider for this process, once, at start-up. Returns
/// false when another provider was installed first (an application's own choice, or the
/// crate's default once anything decoded or signed): keys then work as before, unprepared.
pub fn install_hook() -> bool {
    // A refused `install_default` hands back the provider it was offered, not the one already
    // installed, so a refusal cannot tell whether ours went in first; the first attempt's
    // answer is kept for the process, as the crate keeps its provider.
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| CryptoProvider::install_default(&PROVIDER).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_key() -> (jsonwebtoken::EncodingKey, VerifyingKey) {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let jwk: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}/key1.jwk.json")).unwrap())
                .unwrap();
        let b64 = |f: &str| URL_SAFE_NO_PAD.decode(jwk[f].as_str().unwrap()).unwrap();
        let pem = std::fs::read(format!("{dir}/key1.pem")).unwrap();
        (
            jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap(),
            VerifyingKey::rs256(&b64("n"), &b64("e")),
        )
    }

    fn signed(key: &jsonwebtoken::EncodingKey) -> (String, Vec<u8>) {
        use base64::Engine;
        let message = "eyJhbGciOiJSUzI1NiJ9.e30".to_owned();
        let sig = jsonwebtoken::crypto::sign(message.as_bytes(), key, Algorithm::RS256).unwrap();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap();
        (message, sig)
    }

    #[test]
    fn the_hook_uses_the_lent_key_only_for_that_key() {
        let (signing, key) = fixture_key();
        let (message, sig) = signed(&signing);
        let mut tampered = sig.clone();
        tampered[10] ^= 1;
        key.lend(|decoding| {
            assert!(LENT.with(|s| s.borrow().is_some()));
            let v = verifier(&Algorithm::RS256, decoding).unwrap();
            assert!(v.verify(message.as_bytes(), &sig).is_ok());
            assert!(v.verify(message.as_bytes(), &tampered).is_err());
            // Another DecodingKey with the same bytes is not the lent one: the crate's own
            // verifier, which agrees.
            let copy = key.decoding.clone();
            let v = verifier(&Algorithm::RS256, &copy).unwrap();
            assert!(v.verify(message.as_bytes(), &sig).is_ok());
            assert!(v.verify(message.as_bytes(), &tampered).is_err());
            // Never for another algorithm, even with the lent key.
            assert!(verifier(&Algorithm::HS256, decoding).is_err());
        });
        assert!(LENT.with(|s| s.borrow().is_none()), "the slot is emptied");
    }

    #[test]
    fn the_slot_is_emptied_when_the_call_unwinds() {
        let (_, key) = fixture_key();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            key.lend(|_| panic!("decode failed"));
        }));
        assert!(unwound.is_err());
        assert!(LENT.with(|s| s.borrow().is_none()));
    }
}
