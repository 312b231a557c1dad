//! Each claim funcgate reads, with its one JSON type: a claim of another type is refused, never
//! coerced.

use jsonwebtoken::errors::ErrorKind as JwtError;
use serde_json::{Map, Value};

use super::invalid;
use crate::errors::{ApiError, ErrorKind};

pub(super) fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            match n.as_f64() {
                // NumericDate may carry a fraction (RFC 7519 §2); huge values are nonsense.
                Some(f) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
                _ => Err(invalid(format!("{name} is out of range"))),
            }
        }
        Some(_) => Err(invalid(format!("{name} is not a number"))),
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
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| invalid("aud has a non-string entry"))
            })
            .collect(),
        Some(_) => Err(invalid("aud is not a string")),
    }
}

/// The claims funcgate reads, each with its one JSON type.
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
            id_token_claims: ["nonce", "at_hash", "c_hash"]
                .iter()
                .any(|c| claims.contains_key(*c)),
        })
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
