//! The signed token: structure, duplicate names, the JOSE header and key name (here, and by
//! jsonwebtoken's `decode_header`), then validation through jsonwebtoken's `decode` with the
//! typed claims and Entra's rules around it.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::ErrorKind as JwtError;
use serde_json::{Map, Value};

use super::claims::{Claims, Name, OwnedClaims, Skipped, each_entry};
use super::entra::{Expected, GRAPH_HINT, Rules, Signer, conclude, is_graph_audience};
use super::identity::Identity;
use super::{invalid, quoted, unparsable};
use crate::auth::keys::{KeyRef, VerifyingKey};
use crate::errors::{ApiError, ErrorKind};

/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest `kid` looked up; longer ones cannot be Entra's and never trigger a refresh.
pub const MAX_KID_BYTES: usize = 256;

/// A token split and decoded, signature not yet checked.
pub struct Parsed<'a> {
    /// The header's `kid`, or its `x5t` when it has no `kid`.
    pub(crate) key: KeyRef,
    token: &'a str,
    claims: Map<String, Value>,
    /// The header carries a `nonce`: Microsoft Graph tokens do, and no other API can verify them.
    header_nonce: bool,
    /// The header's `typ` is RFC 9068's `at+jwt`.
    at_jwt: bool,
}

/// A JSON object whose top-level names are unique: parsers disagree on which duplicate wins
/// (`{"aud":"x","aud":"y"}`), so a token that has any is refused.
struct UniqueObject(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                access: A,
            ) -> Result<UniqueObject, A::Error> {
                let mut map = Map::new();
                each_entry(access, |name, access| {
                    map.insert(name.to_owned(), access.next_value()?);
                    Ok(())
                })?;
                Ok(UniqueObject(map))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

fn decode_json_object(segment: &str, what: &str) -> Result<Map<String, Value>, ApiError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| unparsable(&format!("{what} is not base64url")))?;
    match serde_json::from_slice::<UniqueObject>(&bytes) {
        Ok(UniqueObject(map)) => Ok(map),
        Err(e) if e.to_string().starts_with("duplicate name") => {
            Err(unparsable(&format!("{what} repeats a name")))
        }
        Err(_) => Err(unparsable(&format!("{what} is not a JSON object"))),
    }
}

/// Refuses tokens over [`MAX_TOKEN_BYTES`] before any hashing or decoding.
pub fn check_size(token: &str) -> Result<(), ApiError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(unparsable("token is longer than the size limit"));
    }
    Ok(())
}

/// The three segments of a compact JWS, each non-empty.
fn segments(token: &str) -> Result<(&str, &str, &str), ApiError> {
    check_size(token)?;
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(unparsable("token is not three dot-separated segments"));
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(unparsable("token has an empty segment"));
    }
    Ok((header, payload, signature))
}

/// The typed JOSE header: RS256 only, no `crit`, and the key it names. Returns the key,
/// whether the header carries a `nonce` (as Microsoft Graph tokens do) and whether its `typ`
/// is RFC 9068's.
fn jose_header(token: &str) -> Result<(KeyRef, bool, bool), ApiError> {
    // An `alg` outside the crate's list (`none`, `None`, ...) or a `kid`, `x5t` or `crit` of
    // the wrong type does not decode.
    let head = jsonwebtoken::decode_header(token)
        .map_err(|_| unparsable("token header is not a valid JOSE header"))?;
    // Checked before any key is looked up: only RS256, never HMAC or another family.
    if head.alg != Algorithm::RS256 {
        return Err(unparsable("token algorithm is not allowed"));
    }
    if head.crit.is_some() {
        return Err(unparsable("token header has critical extensions"));
    }
    let key = key_ref(head.kid.as_deref(), head.x5t.as_deref())?;
    Ok((key, head.nonce.is_some(), is_at_jwt(head.typ.as_deref())))
}

/// Whether a header's `typ` is RFC 9068's access token type, `at+jwt` (media types, and so
/// `typ`, compare without case; the `application/` prefix may be written out).
fn is_at_jwt(typ: Option<&str>) -> bool {
    typ.is_some_and(|t| {
        let t = t
            .get(..12)
            .filter(|p| p.eq_ignore_ascii_case("application/"))
            .map_or(t, |_| &t[12..]);
        t.eq_ignore_ascii_case("at+jwt")
    })
}

/// The key a header names: its `kid`, or its `x5t` when it has no `kid` (the older Entra
/// format names its key by certificate thumbprint only). Empty names count as absent.
fn key_ref(kid: Option<&str>, x5t: Option<&str>) -> Result<KeyRef, ApiError> {
    match (kid, x5t) {
        (Some(kid), _) if !kid.is_empty() => Ok(KeyRef::Kid(key_name(kid, "kid")?)),
        (_, Some(x5t)) if !x5t.is_empty() => Ok(KeyRef::Thumbprint(key_name(x5t, "x5t")?)),
        _ => Err(ApiError::new(ErrorKind::KeyNotFound).because("token header has no kid")),
    }
}

/// Splits a compact JWS and decodes header and payload; checks `alg`, `crit` and the key name.
pub fn parse(token: &str) -> Result<Parsed<'_>, ApiError> {
    let (header, payload, signature) = segments(token)?;
    // The crate keeps the last of two equal names; refuse them before it looks.
    decode_json_object(header, "token header")?;
    let claims = decode_json_object(payload, "token payload")?;
    // Canonical base64url, decoded onto the stack: 1 KiB holds an 8192-bit signature.
    let mut sig = [0u8; 1024];
    if URL_SAFE_NO_PAD.decode_slice(signature, &mut sig).is_err() {
        return Err(unparsable("token signature is not base64url"));
    }
    let (key, header_nonce, at_jwt) = jose_header(token)?;
    Ok(Parsed {
        key,
        token,
        header_nonce,
        at_jwt,
        claims,
    })
}

/// The key a token names, from its structure and JOSE header alone (the payload unread), for
/// [`accept_at_once`]: the header's names are read once here, and the crate's typed header is
/// checked against them after decoding. `None` for anything [`parse`] would have to explain.
pub(crate) fn named_key(token: &str) -> Option<KeyRef> {
    let (header, _, _) = segments(token).ok()?;
    let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
    let names = serde_json::from_slice::<HeaderNames<'_>>(&bytes).ok()?;
    if names.alg.as_deref() != Some("RS256") || names.crit {
        return None;
    }
    key_ref(names.kid.as_deref(), names.x5t.as_deref()).ok()
}

/// What [`named_key`] needs of a JOSE header, read without building a JSON map: names are
/// borrowed from the decoded bytes where they have no escapes. Refused (so left to the full
/// path) when a name repeats or `alg`, `kid` or `x5t` is not a string.
#[derive(Default)]
struct HeaderNames<'a> {
    alg: Option<Cow<'a, str>>,
    kid: Option<Cow<'a, str>>,
    x5t: Option<Cow<'a, str>>,
    crit: bool,
}

impl<'de> serde::Deserialize<'de> for HeaderNames<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = HeaderNames<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JOSE header")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                access: A,
            ) -> Result<HeaderNames<'de>, A::Error> {
                let mut names = HeaderNames::default();
                each_entry(access, |name, access| {
                    let slot = match name {
                        "alg" => Some(&mut names.alg),
                        "kid" => Some(&mut names.kid),
                        "x5t" => Some(&mut names.x5t),
                        other => {
                            names.crit |= other == "crit";
                            None
                        }
                    };
                    match slot {
                        Some(slot) => *slot = Some(access.next_value::<Name<'de>>()?.0),
                        None => {
                            access.next_value::<Skipped>()?;
                        }
                    }
                    Ok(())
                })?;
                Ok(names)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The one-pass validation (`accept_at_once`) for a token whose key is `key`, naming the key
/// itself (benchmarks).
pub fn validate_at_once(
    token: &str,
    key: &VerifyingKey,
    rules: &Rules,
    signer: Signer<'_>,
    now: i64,
) -> Option<Identity> {
    match accept_at_once(token, &named_key(token)?, key, rules, signer, now) {
        AtOnce::Accepted(identity) => Some(identity),
        AtOnce::Forged | AtOnce::Declined => None,
    }
}

/// What the one-pass path made of a token.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per fresh token and taken apart at once; boxing would only add an allocation"
)]
pub(crate) enum AtOnce {
    /// Accepted: the identity, its claims kept as the token's payload.
    Accepted(Identity),
    /// The signature does not verify with the key: the full path explains the refusal without
    /// verifying again ([`Parsed::validate_after`]).
    Forged,
    /// Left to the full path.
    Declined,
}

/// Accepts a token in one pass over its payload, or leaves it to [`parse`] and
/// [`Parsed::validate`]: jsonwebtoken verifies the signature first and then deserializes
/// funcgate's strict claim type (repeated names refused) instead of funcgate decoding the
/// payload before it. Only when the accepted issuers do not depend on the token (one tenant,
/// from settings), since the crate must be told them before it reads the payload.
///
/// Anything but [`AtOnce::Accepted`] goes through the full path, which refuses in its own order
/// and with its own reasons, so hostile tokens get exactly the answers they always did. What
/// this accepts passes every check the full path makes: the same header checks (on the
/// crate's typed header, which must name the same key as `named`), duplicate names, claim
/// types, the crate's checks with the same issuers, and Entra's rules.
pub(crate) fn accept_at_once(
    token: &str,
    named: &KeyRef,
    key: &VerifyingKey,
    rules: &Rules,
    signer: Signer<'_>,
    now: i64,
) -> AtOnce {
    let Some((expected, validation)) = rules.settled_validation(signer) else {
        return AtOnce::Declined;
    };
    let decoded = match key.lend(|key| jsonwebtoken::decode::<OwnedClaims>(token, key, &validation))
    {
        Ok(decoded) => decoded,
        // The crate checks the signature before it reads the payload, as the full path's
        // call does with the same header, key and algorithms.
        Err(e) if *e.kind() == JwtError::InvalidSignature => return AtOnce::Forged,
        Err(_) => return AtOnce::Declined,
    };
    // The crate allowed RS256 only; the rest of what `jose_header` requires, on its header.
    let head = &decoded.header;
    let same_key = key_ref(head.kid.as_deref(), head.x5t.as_deref()).is_ok_and(|key| key == *named);
    if !same_key || head.crit.is_some() {
        return AtOnce::Declined;
    }
    let Ok(mut claims) = decoded.claims.view() else {
        return AtOnce::Declined;
    };
    claims.at_jwt = is_at_jwt(head.typ.as_deref());
    if Expected::foreign_tenant(claims.tid, expected.tenant.as_deref()).is_some() {
        return AtOnce::Declined;
    }
    match conclude(&claims, &expected, rules, signer, now) {
        Ok(identity) => AtOnce::Accepted(identity.with_payload(payload_segment(token))),
        Err(_) => AtOnce::Declined,
    }
}

/// The payload segment of a token [`segments`] accepted.
fn payload_segment(token: &str) -> &str {
    segments(token).map_or("", |(_, payload, _)| payload)
}

/// A `kid` or `x5t` short enough to be a real one; longer ones never trigger a refresh.
fn key_name(value: &str, what: &str) -> Result<String, ApiError> {
    if value.len() > MAX_KID_BYTES {
        return Err(
            ApiError::new(ErrorKind::KeyNotFound).because(format!("token {what} is too long"))
        );
    }
    Ok(value.to_owned())
}

/// Never the token or its claims: a bearer token never reaches a log.
impl std::fmt::Debug for Parsed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parsed")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Parsed<'_> {
    /// The unverified `tid`, used only to pick which tenant's keys to verify with.
    pub(crate) fn tenant_hint(&self) -> Option<&str> {
        self.claims.get("tid").and_then(Value::as_str)
    }

    fn looks_like_graph(&self) -> bool {
        self.header_nonce
            || match self.claims.get("aud") {
                Some(Value::String(a)) => is_graph_audience(a),
                _ => false,
            }
    }

    /// The payload's claims as parsed (tests compare them with an identity's).
    #[cfg(test)]
    pub(crate) fn into_claims(self) -> Map<String, Value> {
        self.claims
    }

    /// Validates the token with `key`: claim types (here), then signature, `exp`, `nbf`, `iss`
    /// and `aud` (jsonwebtoken), then Entra's rules (here). `now` is the time the rules here
    /// use; jsonwebtoken reads the clock itself.
    pub fn validate(
        &self,
        key: &VerifyingKey,
        rules: &Rules,
        signer: Signer<'_>,
        now: i64,
    ) -> Result<Identity, ApiError> {
        self.validate_after(key, rules, signer, now, false)
    }

    /// [`Parsed::validate`], told whether [`accept_at_once`] already found that the signature
    /// does not verify with this very key: then the crate's answer is known and the RSA
    /// operation is not done twice, while every check before it still runs in its order.
    pub(crate) fn validate_after(
        &self,
        key: &VerifyingKey,
        rules: &Rules,
        signer: Signer<'_>,
        now: i64,
        forged: bool,
    ) -> Result<Identity, ApiError> {
        let mut claims = Claims::read(&self.claims)?;
        claims.at_jwt = self.at_jwt;
        let expected = Expected::for_token(&claims, rules, signer);
        let validation = rules.validation_for(&expected.issuers);
        let outcome = if forged {
            Err(JwtError::InvalidSignature.into())
        } else {
            key.lend(|key| {
                jsonwebtoken::decode::<serde::de::IgnoredAny>(self.token, key, &validation)
            })
        };
        match outcome {
            Ok(_) => {}
            // RFC 7519 allows NumericDates before 1970, which the crate cannot parse. The
            // signature was verified before the crate looked at them: apply its rule here,
            // then let it check the rest with that claim set aside.
            Err(e) if claims.is_before_1970(e.kind()) => {
                claims.check_times_before_1970(rules.clock_skew, now)?;
                let mut validation = (*validation).clone();
                validation.validate_exp = claims.exp.is_some_and(|e| e >= 0);
                validation.validate_nbf = claims.nbf.is_some_and(|n| n >= 0);
                validation.required_spec_claims.remove("exp");
                key.lend(|key| {
                    jsonwebtoken::decode::<serde::de::IgnoredAny>(self.token, key, &validation)
                })
                .map_err(|e| self.explain(e.kind(), &claims, &expected, now))?;
            }
            Err(e) => return Err(self.explain(e.kind(), &claims, &expected, now)),
        }
        let identity = conclude(&claims, &expected, rules, signer, now)?;
        Ok(identity.with_payload(payload_segment(self.token)))
    }

    /// The catalogue error and `debug` reason for what the crate refused.
    fn explain(
        &self,
        kind: &JwtError,
        claims: &Claims<'_>,
        expected: &Expected,
        now: i64,
    ) -> ApiError {
        match kind {
            JwtError::InvalidSignature if self.looks_like_graph() => invalid(GRAPH_HINT),
            JwtError::InvalidSignature => invalid("signature does not verify"),
            JwtError::ExpiredSignature => ApiError::new(ErrorKind::TokenExpired).because(format!(
                "token expired {} seconds ago",
                now.saturating_sub(claims.exp.unwrap_or(now))
            )),
            JwtError::ImmatureSignature => invalid(format!(
                "token is not valid for another {} seconds",
                claims.nbf.unwrap_or(now).saturating_sub(now)
            )),
            JwtError::InvalidIssuer => {
                invalid(expected.tenant_problem.clone().unwrap_or_else(|| {
                    format!("issuer not accepted: {}", quoted(claims.iss.unwrap_or("")))
                }))
            }
            JwtError::InvalidAudience if claims.aud.iter().any(|a| is_graph_audience(a)) => {
                invalid(GRAPH_HINT)
            }
            JwtError::InvalidAudience => invalid(format!(
                "audience mismatch: got {}",
                quoted(&claims.aud.join(", "))
            )),
            JwtError::MissingRequiredClaim(name) => invalid(format!("{name} is missing")),
            JwtError::InvalidClaimFormat(name) => invalid(format!("{name} is out of range")),
            JwtError::InvalidAlgorithm
            | JwtError::Base64(_)
            | JwtError::Json(_)
            | JwtError::InvalidToken => unparsable("token does not decode"),
            _ => invalid("token does not validate"),
        }
    }
}
