//! A JWKS document → RS256 keys: RSA signing keys of 2048 to 8192 bits, each read with
//! jsonwebtoken's `Jwk` type and prepared once (a `DecodingKey` and aws-lc's parsed key).

use super::prepared::VerifyingKey;
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use serde::Deserialize;
use serde_json::Value;

/// A key as the JWKS gave it.
pub(crate) struct FetchedKey {
    pub(crate) kid: String,
    pub(crate) key: VerifyingKey,
    /// The JWKS entry's `issuer` (Entra: possibly with a `{tenantid}` placeholder).
    pub(crate) issuer: Option<String>,
    /// The JWKS entry's `x5t`.
    pub(crate) x5t: Option<String>,
    /// Modulus and exponent as published, to tell a changed key under the same `kid`.
    pub(crate) material: (Vec<u8>, Vec<u8>),
}

/// Why a JWKS entry is not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    /// A modulus under 2048 bits.
    TooShort(usize),
    /// A modulus over 8192 bits, which RS256 verification does not take.
    TooLong(usize),
    /// An exponent that is zero or over 64 bits.
    Exponent,
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyProblem::TooShort(bits) => write!(f, "{bits}-bit modulus is too short"),
            KeyProblem::TooLong(bits) => write!(f, "{bits}-bit modulus is too long for RS256"),
            KeyProblem::Exponent => f.write_str("unusable exponent"),
        }
    }
}

/// Why a JWKS document gives no keys at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JwksError {
    /// No `keys` array.
    NoKeysArray,
    /// Entries, but none an RSA signing key funcgate can use.
    NoUsableKey,
}

impl std::fmt::Display for JwksError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JwksError::NoKeysArray => "JWKS has no keys array",
            JwksError::NoUsableKey => "JWKS holds no usable RSA signing key",
        })
    }
}

/// Some providers pad base64url in JWKS; accept both forms there (never in tokens).
const LENIENT_B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Smallest RSA modulus accepted from a JWKS.
const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus RS256 verification takes.
const MAX_RSA_BITS: usize = 8192;
/// Most keys kept from one JWKS (Entra publishes a handful).
const MAX_KEYS: usize = 100;

/// An RS256 key from its JWK modulus and exponent (big-endian bytes): 2048 to 8192 bits.
pub fn rs256_key(n: &[u8], e: &[u8]) -> Result<VerifyingKey, KeyProblem> {
    let n = &n[n.iter().position(|b| *b != 0).unwrap_or(n.len())..];
    let e = &e[e.iter().position(|b| *b != 0).unwrap_or(e.len())..];
    let bits = modulus_bits(n);
    if bits < MIN_RSA_BITS {
        return Err(KeyProblem::TooShort(bits));
    }
    if bits > MAX_RSA_BITS {
        return Err(KeyProblem::TooLong(bits));
    }
    if e.is_empty() || e.len() > 8 {
        return Err(KeyProblem::Exponent);
    }
    Ok(VerifyingKey::rs256(n, e))
}

/// Keeps the RSA signing keys of 2048 to 8192 bits; logs and skips everything else.
///
/// Each entry is read with jsonwebtoken's `Jwk` type, one at a time rather than as a
/// `JwkSet`, so one malformed entry is skipped instead of failing the whole set. Entra's
/// non-standard `issuer` field is read alongside.
pub(crate) fn parse_jwks(jwks: &Value) -> Result<Vec<FetchedKey>, JwksError> {
    #[derive(Deserialize)]
    struct EntraFields {
        issuer: Option<String>,
    }
    let entries = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::NoKeysArray)?;
    let mut keys = Vec::new();
    for entry in entries {
        let jwk = match Jwk::deserialize(entry) {
            Ok(jwk) => jwk,
            Err(e) => {
                // serde repeats the provider's text (an unknown `alg`, say): quoted, one line.
                log::warn!("ignoring a malformed JWKS entry: {:?}", e.to_string());
                continue;
            }
        };
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        let skip = |why: &str| log::warn!("ignoring JWKS key {kid:?}: {why}");
        if kid.is_empty() || kid.len() > 256 {
            skip("no usable kid");
            continue;
        }
        let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            skip("not an RSA key");
            continue;
        };
        if !matches!(
            jwk.common.public_key_use,
            None | Some(PublicKeyUse::Signature)
        ) {
            skip("not a signing key");
            continue;
        }
        if !matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)) {
            skip("not an RS256 key");
            continue;
        }
        // Some providers pad base64url in JWKS: accept both forms here (never in tokens).
        let (Ok(n), Ok(e)) = (LENIENT_B64URL.decode(&rsa.n), LENIENT_B64URL.decode(&rsa.e)) else {
            skip("modulus or exponent is not base64url");
            continue;
        };
        if keys.len() == MAX_KEYS {
            skip("too many keys in one JWKS");
            continue;
        }
        let key = match rs256_key(&n, &e) {
            Ok(key) => key,
            Err(why) => {
                skip(&why.to_string());
                continue;
            }
        };
        let issuer = EntraFields::deserialize(entry)
            .ok()
            .and_then(|f| f.issuer)
            .filter(|i| !i.is_empty());
        keys.push(FetchedKey {
            kid,
            key,
            issuer,
            x5t: jwk
                .common
                .x509_sha1_fingerprint
                .filter(|t| !t.is_empty() && t.len() <= 256),
            material: (n, e),
        });
    }
    if keys.is_empty() {
        return Err(JwksError::NoUsableKey);
    }
    Ok(keys)
}

fn modulus_bits(n: &[u8]) -> usize {
    let n = match n.iter().position(|b| *b != 0) {
        Some(i) => &n[i..],
        None => return 0,
    };
    n.len() * 8 - n[0].leading_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    fn strong() -> String {
        URL_SAFE_NO_PAD.encode([0xC5u8; 256])
    }

    #[test]
    fn jwks_keeps_only_strong_rsa_signing_keys() {
        let weak = URL_SAFE_NO_PAD.encode([0xC5u8; 128]);
        let jwks = json!({"keys": [
            {"kty": "RSA", "kid": "good", "use": "sig", "n": strong(), "e": "AQAB",
             "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"},
            {"kty": "RSA", "kid": "weak", "n": weak, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": strong(), "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": strong(), "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "n": strong(), "e": "AQAB"},
            {"kty": "RSA", "kid": "bad-b64", "n": "!!", "e": "AQAB"},
            {"kty": 5},
        ]});
        let keys = parse_jwks(&jwks).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "good");
        assert_eq!(
            keys[0].issuer.as_deref(),
            Some("https://login.microsoftonline.com/{tenantid}/v2.0")
        );
        assert!(parse_jwks(&json!({"keys": []})).is_err());
        assert!(parse_jwks(&json!({})).is_err());
        assert!(parse_jwks(&json!({"keys": "x"})).is_err());
        assert_eq!(modulus_bits(&[0, 0, 1]), 1);
        assert_eq!(modulus_bits(&[0x80, 0]), 16);
    }
}
