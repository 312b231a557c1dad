//! Each claim funcgate reads, with its one JSON type: a claim of another type is refused, never
//! coerced.

use jsonwebtoken::errors::ErrorKind as JwtError;
use std::borrow::Cow;

use serde::de::Error as _;
use serde_json::{Map, Number, Value};

use super::invalid;
use crate::errors::{ApiError, ErrorKind};

pub(super) fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => numeric_date(n, name).map(Some),
        Some(_) => Err(invalid(format!("{name} is not a number"))),
    }
}

/// A NumericDate in whole seconds.
fn numeric_date(n: &Number, name: &str) -> Result<i64, ApiError> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        // NumericDate may carry a fraction (RFC 7519 §2); huge values are nonsense.
        Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(f.floor() as i64),
        _ => Err(invalid(format!("{name} is out of range"))),
    }
}

pub(super) fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{name} is not a string"))),
    }
}

pub(super) fn string_list(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Vec<String>, ApiError> {
    match claims.get(name) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(invalid(format!("{name} has a non-string entry"))),
            })
            .collect(),
        Some(_) => Err(invalid(format!("{name} is not an array of strings"))),
    }
}

pub(super) fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>, ApiError> {
    match claims.get("aud") {
        None => Err(invalid("aud is missing")),
        Some(aud) => audience_list(aud),
    }
}

/// `aud`: one string or an array of strings.
fn audience_list(aud: &Value) -> Result<Vec<&str>, ApiError> {
    match aud {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| invalid("aud has a non-string entry"))
            })
            .collect(),
        _ => Err(invalid("aud is not a string")),
    }
}

/// The claims funcgate reads, each with its one JSON type.
///
/// Read from the payload's JSON map ([`Claims::read`], the full path) or from [`OwnedClaims`]
/// ([`OwnedClaims::view`], the one-pass path), with the same rules.
#[derive(Debug)]
pub(super) struct Claims<'a> {
    pub(super) exp: Option<i64>,
    pub(super) nbf: Option<i64>,
    pub(super) iat: Option<i64>,
    pub(super) iss: Option<&'a str>,
    pub(super) ver: Option<&'a str>,
    pub(super) tid: Option<&'a str>,
    pub(super) aud: Vec<&'a str>,
    pub(super) roles: Vec<String>,
    pub(super) scp: Option<&'a str>,
    pub(super) oid: Option<&'a str>,
    pub(super) sub: Option<&'a str>,
    pub(super) azp: Option<&'a str>,
    pub(super) appid: Option<&'a str>,
    /// RFC 9068's names for the client and the scopes (other providers' JWT access tokens;
    /// Entra's are `azp`/`appid` and `scp`), kept as they came: only the rules for other
    /// providers read them (and refuse a value of the wrong type, with
    /// [`Claims::rfc9068_client`] and [`Claims::rfc9068_scopes`]), so an Entra token is never
    /// refused for a claim funcgate does not read there.
    pub(super) client_id: Option<&'a Value>,
    pub(super) scope: Option<&'a Value>,
    /// The JOSE header's `typ` is RFC 9068's (`at+jwt`): set by the caller, which read the
    /// header. Only such a token is named by `client_id` (RFC 9068 §4: the type is what tells
    /// an access token from an ID token carrying the same claims).
    pub(super) at_jwt: bool,
    /// `nonce`, `at_hash` or `c_hash`: only ID tokens carry them.
    pub(super) id_token_claims: bool,
}

impl<'a> Claims<'a> {
    /// Reads every claim, refusing any of the wrong type.
    pub(super) fn read(claims: &'a Map<String, Value>) -> Result<Claims<'a>, ApiError> {
        Ok(Claims {
            exp: time_claim(claims, "exp")?,
            nbf: time_claim(claims, "nbf")?,
            iat: time_claim(claims, "iat")?,
            iss: string_claim(claims, "iss")?,
            ver: string_claim(claims, "ver")?,
            tid: string_claim(claims, "tid")?,
            aud: match claims.get("aud") {
                None => Vec::new(),
                Some(_) => audiences(claims)?,
            },
            roles: string_list(claims, "roles")?,
            scp: string_claim(claims, "scp")?,
            oid: string_claim(claims, "oid")?,
            sub: string_claim(claims, "sub")?,
            azp: string_claim(claims, "azp")?,
            appid: string_claim(claims, "appid")?,
            client_id: claims.get("client_id"),
            scope: claims.get("scope"),
            at_jwt: false,
            id_token_claims: ["nonce", "at_hash", "c_hash"]
                .iter()
                .any(|c| claims.contains_key(*c)),
        })
    }

    /// `client_id` (see [`Claims::client_id`]) as the string RFC 9068 makes it; an empty one
    /// names no client.
    pub(super) fn rfc9068_client(&self) -> Result<Option<&'a str>, ApiError> {
        match self.client_id {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(invalid("client_id is not a string")),
        }
    }

    /// `scope` (see [`Claims::client_id`]): RFC 9068's space-separated string, or the array of
    /// strings some providers write (Duende IdentityServer, Spring Authorization Server).
    pub(super) fn rfc9068_scopes(&self) -> Result<Vec<String>, ApiError> {
        match self.scope {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(s.split_ascii_whitespace().map(str::to_owned).collect()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(invalid("scope has an entry that is not a scope name")),
                })
                .collect(),
            Some(_) => Err(invalid("scope is not a string or an array of strings")),
        }
    }

    /// Whether the crate refused `exp` or `nbf` only for being before 1970 (negative), which
    /// it cannot parse: it calls that claim missing (when required) or malformed.
    pub(super) fn is_before_1970(&self, kind: &JwtError) -> bool {
        let claim = match kind {
            JwtError::MissingRequiredClaim(c) | JwtError::InvalidClaimFormat(c) => c.as_str(),
            _ => return false,
        };
        match claim {
            "exp" => self.exp.is_some_and(|e| e < 0),
            "nbf" => self.nbf.is_some_and(|n| n < 0),
            _ => false,
        }
    }

    /// The leeway rule for NumericDates before 1970, which the crate cannot parse.
    pub(super) fn check_times_before_1970(&self, skew: i64, now: i64) -> Result<(), ApiError> {
        if let Some(exp) = self.exp.filter(|e| *e < 0)
            && now >= exp.saturating_add(skew)
        {
            return Err(ApiError::new(ErrorKind::TokenExpired).because(format!(
                "token expired {} seconds ago",
                now.saturating_sub(exp)
            )));
        }
        Ok(())
    }
}

/// The claims [`Claims`] reads, owned: what jsonwebtoken deserializes on the one-pass path
/// (`decode::<OwnedClaims>`), so a fresh token's payload is never built into a JSON map only
/// to be dropped. Each claim must have the type [`Claims::read`] demands, and no name may
/// repeat; anything else fails to deserialize, leaving the token to the full path, which
/// explains the refusal.
#[derive(Debug, Default)]
pub(super) struct OwnedClaims {
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    iss: Option<String>,
    ver: Option<String>,
    tid: Option<String>,
    aud: Option<Value>,
    roles: Vec<String>,
    scp: Option<String>,
    oid: Option<String>,
    sub: Option<String>,
    azp: Option<String>,
    appid: Option<String>,
    client_id: Option<Value>,
    scope: Option<Value>,
    id_token_claims: bool,
}

impl OwnedClaims {
    /// The claims as [`Claims::read`] gives them.
    pub(super) fn view(&self) -> Result<Claims<'_>, ApiError> {
        Ok(Claims {
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            iss: self.iss.as_deref(),
            ver: self.ver.as_deref(),
            tid: self.tid.as_deref(),
            aud: match &self.aud {
                None => Vec::new(),
                Some(aud) => audience_list(aud)?,
            },
            roles: self.roles.clone(),
            scp: self.scp.as_deref(),
            oid: self.oid.as_deref(),
            sub: self.sub.as_deref(),
            azp: self.azp.as_deref(),
            appid: self.appid.as_deref(),
            client_id: self.client_id.as_ref(),
            scope: self.scope.as_ref(),
            at_jwt: false,
            id_token_claims: self.id_token_claims,
        })
    }
}

/// A JSON value read as strictly as a `serde_json::Value` is (strings valid UTF-8 with paired
/// surrogates, numbers in range, serde_json's nesting limit) and built into nothing: what the
/// one-pass path skips, so it refuses every payload the full path's `Value` parse refuses.
/// (`serde::de::IgnoredAny` skips strings and numbers without those checks.)
pub(super) struct Skipped;

impl<'de> serde::Deserialize<'de> for Skipped {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Skipped;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_str<E>(self, _: &str) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_unit<E>(self) -> Result<Skipped, E> {
                Ok(Skipped)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Skipped, A::Error> {
                while seq.next_element::<Skipped>()?.is_some() {}
                Ok(Skipped)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Skipped, A::Error> {
                while map.next_key::<Name<'de>>()?.is_some() {
                    map.next_value::<Skipped>()?;
                }
                Ok(Skipped)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Reads a JSON object's entries, `entry` reading each value, and refuses a name that repeats
/// ("duplicate name"): parsers disagree on which duplicate wins (`{"aud":"x","aud":"y"}`), so
/// the header, the payload and the one-pass claims all refuse them the same way.
pub(super) fn each_entry<'de, A: serde::de::MapAccess<'de>>(
    mut access: A,
    mut entry: impl FnMut(&str, &mut A) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    let mut seen = std::collections::BTreeSet::new();
    while let Some(Name(name)) = access.next_key()? {
        entry(&name, &mut access)?;
        if !seen.insert(name) {
            return Err(A::Error::custom("duplicate name"));
        }
    }
    Ok(())
}

/// A JSON string (a name, or a header's `alg`, `kid`, `x5t`), borrowed when it has no escapes.
pub(super) struct Name<'a>(pub(super) Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Name<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl<'de> serde::Deserialize<'de> for OwnedClaims {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OwnedClaims;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                access: A,
            ) -> Result<OwnedClaims, A::Error> {
                // The reason never leaves this path: the full path finds and explains it.
                let refuse = |_| A::Error::custom("left to the full path");
                let mut c = OwnedClaims::default();
                each_entry(access, |name, access| {
                    match name {
                        time @ ("exp" | "nbf" | "iat") => {
                            let at = numeric_date(&access.next_value::<Number>()?, time)
                                .map_err(refuse)?;
                            *match time {
                                "exp" => &mut c.exp,
                                "nbf" => &mut c.nbf,
                                _ => &mut c.iat,
                            } = Some(at);
                        }
                        "iss" => c.iss = Some(access.next_value()?),
                        "ver" => c.ver = Some(access.next_value()?),
                        "tid" => c.tid = Some(access.next_value()?),
                        "scp" => c.scp = Some(access.next_value()?),
                        "oid" => c.oid = Some(access.next_value()?),
                        "sub" => c.sub = Some(access.next_value()?),
                        "azp" => c.azp = Some(access.next_value()?),
                        "appid" => c.appid = Some(access.next_value()?),
                        "client_id" => c.client_id = Some(access.next_value()?),
                        "scope" => c.scope = Some(access.next_value()?),
                        "aud" => c.aud = Some(access.next_value()?),
                        "roles" => c.roles = access.next_value()?,
                        other => {
                            c.id_token_claims |= matches!(other, "nonce" | "at_hash" | "c_hash");
                            access.next_value::<Skipped>()?;
                        }
                    }
                    Ok(())
                })?;
                Ok(c)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}
