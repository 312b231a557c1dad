//! Raw token → validated [`Identity`]: structure, signature (via jsonwebtoken) and claim rules.
//!
//! The structure and the claims are checked here rather than by `jsonwebtoken::decode` so that
//! every claim has one exact JSON type (an `exp` sent as a string is refused, not coerced) and
//! every failure maps to its catalogue code in a fixed order.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::errors::{ApiError, ErrorKind};

/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Which Entra token format a token is, told by its issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum TokenVersion {
    /// `https://sts.windows.net/{tid}/`
    #[serde(rename = "1.0")]
    V1,
    /// The issuer named in the discovery document (`.../{tid}/v2.0`).
    #[serde(rename = "2.0")]
    V2,
}

/// Who called: the validated claims a function or policy may use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub version: TokenVersion,
    pub tenant_id: Option<String>,
    pub object_id: Option<String>,
    pub subject: Option<String>,
    /// `azp` (v2) or `appid` (v1): the client application that asked for the token.
    pub client_app: Option<String>,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub expires_at: i64,
}

impl Identity {
    /// An identity with no claims, for tests and defaults.
    pub fn empty(version: TokenVersion) -> Identity {
        Identity {
            version,
            tenant_id: None,
            object_id: None,
            subject: None,
            client_app: None,
            roles: Vec::new(),
            scopes: Vec::new(),
            expires_at: 0,
        }
    }

    /// A delegated (user) token carries `scp`; an app-only token does not.
    pub fn is_delegated(&self) -> bool {
        !self.scopes.is_empty()
    }
}

/// A token split and decoded, signature not yet checked.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// The header's `kid`.
    pub kid: String,
    signing_input: &'a str,
    signature: &'a str,
    claims: Map<String, Value>,
}

/// The issuers a key set vouches for, from its discovery document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issuers {
    /// v2 issuer, as the discovery document gives it.
    pub v2: String,
    /// v1 issuer, `https://sts.windows.net/{tid}/`.
    pub v1: String,
    /// The tenant id both issuers name, when known.
    pub tenant_id: Option<String>,
}

/// Claim rules from settings.
#[derive(Clone, Debug)]
pub struct Rules {
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// Allowed clock difference for `exp`, `nbf` and `iat`.
    pub clock_skew: i64,
}

/// A token-supplied string made safe for a reason line: escaped and cut short.
fn quoted(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

fn unparsable(reason: &str) -> ApiError {
    ApiError::new(ErrorKind::TokenUnparsable).because(reason.to_owned())
}

fn invalid(reason: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidClaims).because(reason)
}

fn decode_json_object(segment: &str, what: &str) -> Result<Map<String, Value>, ApiError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| unparsable(&format!("{what} is not base64url")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(unparsable(&format!("{what} is not a JSON object"))),
    }
}

/// Splits a compact JWS and decodes header and payload; checks `alg`, `crit` and `kid`.
pub fn parse(token: &str) -> Result<Parsed<'_>, ApiError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(unparsable("token is longer than the size limit"));
    }
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
    let head = decode_json_object(header, "token header")?;
    let claims = decode_json_object(payload, "token payload")?;
    if URL_SAFE_NO_PAD.decode(signature).is_err() {
        return Err(unparsable("token signature is not base64url"));
    }
    match head.get("alg") {
        Some(Value::String(alg)) if alg == "RS256" => {}
        Some(Value::String(_)) => return Err(unparsable("token algorithm is not allowed")),
        _ => return Err(unparsable("token header has no algorithm")),
    }
    if head.contains_key("crit") {
        return Err(unparsable("token header has critical extensions"));
    }
    let kid = match head.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        None | Some(Value::String(_)) => {
            return Err(ApiError::new(ErrorKind::KeyNotFound).because("token header has no kid"));
        }
        Some(_) => return Err(unparsable("token kid is not a string")),
    };
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(Parsed {
        kid,
        signing_input,
        signature,
        claims,
    })
}

impl Parsed<'_> {
    /// Checks the RS256 signature against `key`.
    pub fn verify(&self, key: &DecodingKey) -> Result<(), ApiError> {
        match jsonwebtoken::crypto::verify(
            self.signature,
            self.signing_input.as_bytes(),
            key,
            Algorithm::RS256,
        ) {
            Ok(true) => Ok(()),
            _ => Err(invalid("signature does not verify")),
        }
    }

    /// Applies the claim rules; call only after [`Parsed::verify`].
    pub fn validate(
        &self,
        rules: &Rules,
        issuers: &Issuers,
        now: i64,
    ) -> Result<Identity, ApiError> {
        validate_claims(&self.claims, rules, issuers, now)
    }
}

fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
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

fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{name} is not a string"))),
    }
}

fn string_list(claims: &Map<String, Value>, name: &str) -> Result<Vec<String>, ApiError> {
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

fn audiences(claims: &Map<String, Value>) -> Result<Vec<&str>, ApiError> {
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

fn validate_claims(
    claims: &Map<String, Value>,
    rules: &Rules,
    issuers: &Issuers,
    now: i64,
) -> Result<Identity, ApiError> {
    // Types first, so a malformed claim is never mistaken for an expired or foreign token.
    let exp = time_claim(claims, "exp")?;
    let nbf = time_claim(claims, "nbf")?;
    let iat = time_claim(claims, "iat")?;
    let iss = string_claim(claims, "iss")?;
    let ver = string_claim(claims, "ver")?;
    let tid = string_claim(claims, "tid")?;
    let aud = audiences(claims)?;
    let roles = string_list(claims, "roles")?;
    let scp = string_claim(claims, "scp")?;
    let oid = string_claim(claims, "oid")?;
    let sub = string_claim(claims, "sub")?;
    let azp = string_claim(claims, "azp")?;
    let appid = string_claim(claims, "appid")?;

    let skew = rules.clock_skew;
    let Some(exp) = exp else {
        return Err(invalid("exp is missing"));
    };
    if now >= exp.saturating_add(skew) {
        return Err(ApiError::new(ErrorKind::TokenExpired).because(format!(
            "token expired {} seconds ago",
            now.saturating_sub(exp)
        )));
    }
    if let Some(nbf) = nbf
        && nbf.saturating_sub(skew) > now
    {
        return Err(invalid(format!(
            "token is not valid for another {} seconds",
            nbf - now
        )));
    }
    if let Some(iat) = iat
        && iat.saturating_sub(skew) > now
    {
        return Err(invalid("token was issued in the future"));
    }
    let Some(iss) = iss else {
        return Err(invalid("iss is missing"));
    };
    let version = if iss == issuers.v2 {
        TokenVersion::V2
    } else if iss == issuers.v1 {
        TokenVersion::V1
    } else {
        return Err(invalid(format!("issuer not accepted: {}", quoted(iss))));
    };
    match (ver, version) {
        (None, _) | (Some("1.0"), TokenVersion::V1) | (Some("2.0"), TokenVersion::V2) => {}
        (Some(v), _) => {
            return Err(invalid(format!(
                "token version {} does not match its issuer {} (v1/v2 issuer mix)",
                quoted(v),
                quoted(iss)
            )));
        }
    }
    if !aud
        .iter()
        .any(|a| rules.audiences.iter().any(|want| want == a))
    {
        return Err(invalid(format!(
            "audience mismatch: got {}",
            quoted(&aud.join(", "))
        )));
    }
    if let (Some(tid), Some(want)) = (tid, issuers.tenant_id.as_deref())
        && !tid.eq_ignore_ascii_case(want)
    {
        return Err(invalid(format!(
            "tenant {} does not match the issuer",
            quoted(tid)
        )));
    }
    Ok(Identity {
        version,
        tenant_id: tid.map(str::to_owned),
        object_id: oid.map(str::to_owned),
        subject: sub.map(str::to_owned),
        client_app: azp.or(appid).map(str::to_owned),
        roles,
        scopes: scp
            .map(|s| s.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        expires_at: exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn issuers() -> Issuers {
        Issuers {
            v2: "https://login.example/tid/v2.0".into(),
            v1: "https://sts.windows.net/tid/".into(),
            tenant_id: Some("tid".into()),
        }
    }

    fn rules() -> Rules {
        Rules {
            audiences: vec!["api://app".into(), "app".into()],
            clock_skew: 300,
        }
    }

    fn check(claims: Value) -> Result<Identity, ApiError> {
        let Value::Object(map) = claims else { panic!() };
        validate_claims(&map, &rules(), &issuers(), NOW)
    }

    fn base() -> Value {
        json!({"iss": "https://login.example/tid/v2.0", "aud": "api://app", "exp": NOW + 60,
               "tid": "tid", "roles": ["GetSecret"], "ver": "2.0"})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    fn kind(r: Result<Identity, ApiError>) -> ErrorKind {
        r.unwrap_err().kind
    }

    #[test]
    fn accepts_v1_and_v2() {
        assert_eq!(check(base()).unwrap().version, TokenVersion::V2);
        let mut v1 = with("iss", json!("https://sts.windows.net/tid/"));
        v1["ver"] = json!("1.0");
        v1["aud"] = json!("app");
        assert_eq!(check(v1).unwrap().version, TokenVersion::V1);
    }

    #[test]
    fn time_rules_with_skew() {
        use ErrorKind::*;
        assert!(check(with("exp", json!(NOW - 299))).is_ok());
        assert_eq!(kind(check(with("exp", json!(NOW - 300)))), TokenExpired);
        assert_eq!(kind(check(with("exp", json!("1900000000")))), InvalidClaims);
        assert_eq!(kind(check(with("exp", json!(null)))), InvalidClaims);
        assert_eq!(kind(check(with("exp", json!(1e300)))), InvalidClaims);
        assert!(check(with("exp", json!((NOW + 60) as f64 + 0.5))).is_ok());
        assert!(check(with("nbf", json!(NOW + 299))).is_ok());
        assert_eq!(kind(check(with("nbf", json!(NOW + 301)))), InvalidClaims);
        assert_eq!(kind(check(with("iat", json!(NOW + 301)))), InvalidClaims);
        let mut no_exp = base();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(kind(check(no_exp)), InvalidClaims);
    }

    #[test]
    fn issuer_audience_tenant_and_types() {
        use ErrorKind::*;
        assert_eq!(
            kind(check(with("iss", json!("https://evil/")))),
            InvalidClaims
        );
        assert_eq!(kind(check(with("ver", json!("1.0")))), InvalidClaims);
        assert_eq!(
            kind(check(with("aud", json!("api://other")))),
            InvalidClaims
        );
        assert!(check(with("aud", json!(["x", "app"]))).is_ok());
        assert_eq!(kind(check(with("aud", json!(["x", "y"])))), InvalidClaims);
        assert_eq!(kind(check(with("tid", json!("other")))), InvalidClaims);
        assert_eq!(
            kind(check(with("roles", json!("GetSecret")))),
            InvalidClaims
        );
        assert_eq!(kind(check(with("scp", json!(["a"])))), InvalidClaims);
        let err = check(with("aud", json!("api://other"))).unwrap_err();
        assert_eq!(
            err.reason.as_deref(),
            Some("audience mismatch: got \"api://other\"")
        );
    }

    #[test]
    fn parse_rejects_malformed_structure() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"a":1}"#);
        let ok = format!("{h}.{p}.c2ln");
        assert_eq!(parse(&ok).unwrap().kid, "k");
        for bad in [
            format!("{h}.{p}"),
            format!("{h}.{p}.c2ln.x"),
            format!("{h}.{p}."),
            format!("{h}.{p}.c2ln=="),
            format!("{h}.{p}.c2l+"),
            format!("{}.{p}.c2ln", URL_SAFE_NO_PAD.encode(b"[1]")),
            format!(
                "{}.{p}.c2ln",
                URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k"}"#)
            ),
            format!(
                "{}.{p}.c2ln",
                URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"k"}"#)
            ),
            format!("{h}.{}.c2ln", URL_SAFE_NO_PAD.encode(b"not json")),
            "a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(
                parse(&bad).unwrap_err().kind,
                ErrorKind::TokenUnparsable,
                "{bad}"
            );
        }
        let no_kid = format!("{}.{p}.c2ln", URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#));
        assert_eq!(parse(&no_kid).unwrap_err().kind, ErrorKind::KeyNotFound);
    }
}
