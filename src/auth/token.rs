//! Raw token → validated [`Identity`].
//!
//! What `jsonwebtoken` does here: decoding the JOSE header, the RS256 signature (no other
//! algorithm is ever allowed), `exp` and `nbf` with the clock-skew leeway, the accepted `iss`
//! and `aud` sets, and the required claims (`exp`, `iss`, `aud`).
//!
//! What stays here, because the crate is laxer or because it is Entra's and funcgate's:
//! - structure first: exactly three non-empty base64url segments, and JSON objects with no
//!   repeated names (parsers disagree on which duplicate wins; the crate keeps the last);
//! - one exact JSON type per claim (`exp` as a string is refused, not coerced), checked before
//!   the crate sees the claims, so a malformed claim is never taken for an expired one;
//! - which issuers a token may carry: v1/v2, `{tenantid}` filled from settings or an allowed
//!   `tid`, `AUTH_ISSUERS`; then `tid` consistency, v1/v2 mixes, a key bound to its issuer,
//!   `iat`, ID-token and Graph-token refusal, the client application, and the `debug` reasons;
//! - RFC 7519 NumericDates the crate cannot represent (negative values, before 1970) get the
//!   same leeway rule here, and so does the second at which a token expires (the crate still
//!   accepts `now == exp`; RFC 7519 does not).

use crate::auth::keys::{KeyRef, VerifyingKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind as JwtError;
use jsonwebtoken::{Algorithm, Validation};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::errors::{ApiError, ErrorKind};

/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest `kid` looked up; longer ones cannot be Entra's and never trigger a refresh.
pub const MAX_KID_BYTES: usize = 256;

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
    /// `nbf`, re-checked when a cached validation is reused.
    #[serde(skip)]
    pub not_before: Option<i64>,
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
            not_before: None,
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
    /// The header's `kid`, or its `x5t` when it has no `kid`.
    pub key: KeyRef,
    token: &'a str,
    claims: Map<String, Value>,
    /// The header carries a `nonce`: Microsoft Graph tokens do, and no other API can verify them.
    header_nonce: bool,
}

/// Which tenants' tokens are accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tenancy {
    /// One tenant (or one non-Entra issuer): the discovery document names it.
    Single,
    /// `organizations`/`common`: the token's `tid` picks the tenant; `None` allows any tenant.
    Multi { allowed: Option<Vec<String>> },
}

/// Claim rules from settings.
#[derive(Clone, Debug)]
pub struct Rules {
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// Allowed clock difference for `exp`, `nbf` and `iat`.
    pub clock_skew: i64,
    /// Single or multi-tenant.
    pub tenancy: Tenancy,
    /// Single-tenant: the tenant id from `AUTH_TENANT_ID` (a GUID), which fills a templated
    /// issuer when the discovery document does not name the tenant. Never taken from a token.
    pub tenant: Option<String>,
    /// `AUTH_ISSUERS`: replaces the discovery-derived issuers (`{tenantid}` is filled in).
    pub issuers: Option<Vec<String>>,
    /// Entra's v1 issuer for the instance (`https://sts.windows.net/{tenantid}/`); `None` when
    /// the metadata is not Entra's.
    pub v1_issuer: Option<String>,
    /// `AUTH_TOKEN_VERSIONS`: v1 tokens accepted.
    pub accept_v1: bool,
    /// `AUTH_TOKEN_VERSIONS`: v2 tokens accepted.
    pub accept_v2: bool,
    /// `AUTH_ALLOWED_CLIENT_APPS`: accepted `azp`/`appid` values.
    pub allowed_clients: Option<Vec<String>>,
    /// The last `Validation` built from these rules, with the issuer set it was built for:
    /// in single-tenant mode every token expects the same issuers, so it is built once.
    pub validation: LastValidation,
}

/// The last `Validation` built and the issuer set it is for. A clone starts empty, since a
/// cloned `Rules` may be changed before use.
#[derive(Debug, Default)]
pub struct LastValidation(std::sync::Mutex<Option<(Vec<String>, std::sync::Arc<Validation>)>>);

impl Clone for LastValidation {
    fn clone(&self) -> Self {
        LastValidation::default()
    }
}

impl Rules {
    /// Single-tenant rules with Entra's public-cloud v1 issuer, both token versions.
    pub fn single(audiences: Vec<String>, clock_skew: i64) -> Rules {
        Rules {
            audiences,
            clock_skew,
            tenancy: Tenancy::Single,
            tenant: None,
            issuers: None,
            v1_issuer: Some(V1_ISSUER_PUBLIC.to_owned()),
            accept_v1: true,
            accept_v2: true,
            allowed_clients: None,
            validation: Default::default(),
        }
    }
}

/// Entra's v1 issuer outside China.
pub const V1_ISSUER_PUBLIC: &str = "https://sts.windows.net/{tenantid}/";
/// Entra's v1 issuer in Azure operated by 21Vianet.
pub const V1_ISSUER_CHINA: &str = "https://sts.chinacloudapi.cn/{tenantid}/";
const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// What the signing key's source says about who may use it.
#[derive(Clone, Copy, Debug)]
pub struct Signer<'a> {
    /// The discovery document's issuer (Entra multi-tenant: with `{tenantid}`).
    pub metadata_issuer: &'a str,
    /// The JWKS entry's own `issuer`, if any.
    pub key_issuer: Option<&'a str>,
}

/// Microsoft Graph's audiences in every cloud.
const GRAPH_AUDIENCES: [&str; 6] = [
    "00000003-0000-0000-c000-000000000000",
    "https://graph.microsoft.com",
    "https://graph.microsoft.us",
    "https://dod-graph.microsoft.us",
    "https://microsoftgraph.chinacloudapi.cn",
    "https://canary.graph.microsoft.com",
];

fn is_graph_audience(aud: &str) -> bool {
    GRAPH_AUDIENCES
        .iter()
        .any(|g| aud.trim_end_matches('/').eq_ignore_ascii_case(g))
}

const GRAPH_HINT: &str = "this is a Microsoft Graph token, which only Graph can verify; request a token for this API's audience instead";

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
                mut access: A,
            ) -> Result<UniqueObject, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    let value: Value = access.next_value()?;
                    if map.insert(key, value).is_some() {
                        return Err(serde::de::Error::custom("duplicate name"));
                    }
                }
                Ok(UniqueObject(map))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Names of a JSON object, values skipped: the header's duplicate check builds nothing.
struct UniqueNames;

impl<'de> serde::Deserialize<'de> for UniqueNames {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueNames;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<UniqueNames, A::Error> {
                let mut seen: Vec<std::borrow::Cow<'de, str>> = Vec::new();
                while let Some(key) = access.next_key::<std::borrow::Cow<'de, str>>()? {
                    access.next_value::<serde::de::IgnoredAny>()?;
                    if seen.contains(&key) {
                        return Err(serde::de::Error::custom("duplicate name"));
                    }
                    seen.push(key);
                }
                Ok(UniqueNames)
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

fn check_unique_names(segment: &str, what: &str) -> Result<(), ApiError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| unparsable(&format!("{what} is not base64url")))?;
    match serde_json::from_slice::<UniqueNames>(&bytes) {
        Ok(UniqueNames) => Ok(()),
        Err(e) if e.to_string().starts_with("duplicate name") => {
            Err(unparsable(&format!("{what} repeats a name")))
        }
        Err(_) => Err(unparsable(&format!("{what} is not a JSON object"))),
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

/// Splits a compact JWS and decodes header and payload; checks `alg`, `crit` and the key name.
pub fn parse(token: &str) -> Result<Parsed<'_>, ApiError> {
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
    // The crate keeps the last of two equal names; refuse them before it looks.
    check_unique_names(header, "token header")?;
    let claims = decode_json_object(payload, "token payload")?;
    // Canonical base64url, decoded onto the stack: 1 KiB holds an 8192-bit signature.
    let mut sig = [0u8; 1024];
    if URL_SAFE_NO_PAD.decode_slice(signature, &mut sig).is_err() {
        return Err(unparsable("token signature is not base64url"));
    }
    // The typed JOSE header: an `alg` outside the crate's list (`none`, `None`, ...) or a
    // `kid`, `x5t` or `crit` of the wrong type does not decode.
    let head = jsonwebtoken::decode_header(token)
        .map_err(|_| unparsable("token header is not a valid JOSE header"))?;
    // Checked before any key is looked up: only RS256, never HMAC or another family.
    if head.alg != Algorithm::RS256 {
        return Err(unparsable("token algorithm is not allowed"));
    }
    if head.crit.is_some() {
        return Err(unparsable("token header has critical extensions"));
    }
    let key = match (head.kid, head.x5t) {
        (Some(kid), _) if !kid.is_empty() => KeyRef::Kid(key_name(kid, "kid")?),
        // The older Entra format names its key by certificate thumbprint only.
        (_, Some(x5t)) if !x5t.is_empty() => KeyRef::Thumbprint(key_name(x5t, "x5t")?),
        _ => {
            return Err(ApiError::new(ErrorKind::KeyNotFound).because("token header has no kid"));
        }
    };
    Ok(Parsed {
        key,
        token,
        header_nonce: head.nonce.is_some(),
        claims,
    })
}

/// A `kid` or `x5t` short enough to be a real one; longer ones never trigger a refresh.
fn key_name(value: String, what: &str) -> Result<String, ApiError> {
    if value.len() > MAX_KID_BYTES {
        return Err(
            ApiError::new(ErrorKind::KeyNotFound).because(format!("token {what} is too long"))
        );
    }
    Ok(value)
}

impl Parsed<'_> {
    /// The unverified `tid`, used only to pick which tenant's keys to verify with.
    pub fn tenant_hint(&self) -> Option<&str> {
        self.claims.get("tid").and_then(Value::as_str)
    }

    fn looks_like_graph(&self) -> bool {
        self.header_nonce
            || match self.claims.get("aud") {
                Some(Value::String(a)) => is_graph_audience(a),
                _ => false,
            }
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
        let claims = Claims::read(&self.claims)?;
        let expected = Expected::for_token(&claims, rules, signer);
        let validation = rules.validation_for(&expected.issuers);
        let outcome = jsonwebtoken::decode::<serde::de::IgnoredAny>(self.token, key, &validation);
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
                jsonwebtoken::decode::<serde::de::IgnoredAny>(self.token, key, &validation)
                    .map_err(|e| self.explain(e.kind(), &claims, &expected, now))?;
            }
            Err(e) => return Err(self.explain(e.kind(), &claims, &expected, now)),
        }
        conclude(&claims, &expected, rules, signer, now)
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

/// True for the 8-4-4-4-12 hex form of a GUID.
pub fn is_guid(s: &str) -> bool {
    let mut parts = s.split('-');
    [8, 4, 4, 4, 12].iter().all(|n| {
        parts
            .next()
            .is_some_and(|p| p.len() == *n && p.bytes().all(|b| b.is_ascii_hexdigit()))
    }) && parts.next().is_none()
}

/// The tenant GUID an Entra issuer names (`https://host/{tid}/v2.0`, `https://sts.windows.net/{tid}/`).
pub fn tenant_in_issuer(issuer: &str) -> Option<&str> {
    issuer.split('/').find(|seg| is_guid(seg))
}

/// The claims funcgate reads, each with its one JSON type.
#[derive(Debug)]
struct Claims<'a> {
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    iss: Option<&'a str>,
    ver: Option<&'a str>,
    tid: Option<&'a str>,
    aud: Vec<&'a str>,
    roles: Vec<String>,
    scp: Option<&'a str>,
    oid: Option<&'a str>,
    sub: Option<&'a str>,
    azp: Option<&'a str>,
    appid: Option<&'a str>,
    /// `nonce`, `at_hash` or `c_hash`: only ID tokens carry them.
    id_token_claims: bool,
}

impl<'a> Claims<'a> {
    /// Reads every claim, refusing any of the wrong type.
    fn read(claims: &'a Map<String, Value>) -> Result<Claims<'a>, ApiError> {
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
    fn is_before_1970(&self, kind: &JwtError) -> bool {
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
    fn check_times_before_1970(&self, skew: i64, now: i64) -> Result<(), ApiError> {
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

/// What a token must carry, worked out from the rules before the crate checks it.
#[derive(Debug)]
struct Expected {
    /// The tenant: from settings in single-tenant mode, the token's allowed `tid` otherwise.
    tenant: Option<String>,
    /// Accepted `iss` values, templates filled in.
    issuers: Vec<String>,
    /// The v2 issuer (the discovery document's), filled in.
    v2_issuer: Option<String>,
    /// The v1 issuer, filled in; `None` when the metadata is not Entra's.
    v1_issuer: Option<String>,
    /// Why no issuer can match, when the tenant is the reason (for `debug`).
    tenant_problem: Option<String>,
}

impl Expected {
    fn for_token(claims: &Claims<'_>, rules: &Rules, signer: Signer<'_>) -> Expected {
        let mut tenant_problem = None;
        let tenant: Option<&str> = match &rules.tenancy {
            Tenancy::Multi { allowed } => match claims.tid.filter(|t| is_guid(t)) {
                None => {
                    tenant_problem = Some(
                        "tid is missing or not a tenant id; multi-tenant tokens must name their tenant"
                            .to_owned(),
                    );
                    None
                }
                Some(t) => match allowed {
                    Some(list) if !list.iter().any(|a| a.eq_ignore_ascii_case(t)) => {
                        tenant_problem = Some(format!("tenant {} is not allowed", quoted(t)));
                        None
                    }
                    _ => Some(t),
                },
            },
            // The tenant comes from settings only: a token naming itself must not fill a
            // templated issuer (`{tenantid}`) and so pick which tenant is trusted.
            Tenancy::Single => {
                let configured =
                    tenant_in_issuer(signer.metadata_issuer).or(rules.tenant.as_deref());
                if configured.is_none() && signer.metadata_issuer.contains(TENANT_PLACEHOLDER) {
                    tenant_problem = Some("the discovery issuer is templated ({tenantid}) but no tenant is configured: set AUTH_TENANT_ID to the tenant id (GUID), or use multi-tenant settings".to_owned());
                } else if let (Some(t), Some(want)) = (claims.tid, configured)
                    && !t.eq_ignore_ascii_case(want)
                {
                    tenant_problem = Some(format!("tenant {} is not allowed", quoted(t)));
                }
                configured
            }
        };
        // `None` when a template needs a tenant and none is known: such an issuer never matches.
        let fill = |template: &str| -> Option<String> {
            if template.contains(TENANT_PLACEHOLDER) {
                Some(template.replace(TENANT_PLACEHOLDER, tenant?))
            } else {
                Some(template.to_owned())
            }
        };
        let v2_issuer = fill(signer.metadata_issuer);
        let v1_issuer = rules.v1_issuer.as_deref().and_then(fill);
        let issuers: Vec<String> = match &rules.issuers {
            Some(list) => list.iter().filter_map(|i| fill(i)).collect(),
            None => v2_issuer.iter().chain(&v1_issuer).cloned().collect(),
        };
        Expected {
            tenant: tenant.map(str::to_owned),
            issuers,
            v2_issuer,
            v1_issuer,
            tenant_problem,
        }
    }
}

impl Rules {
    /// The crate's settings for a token expecting `issuers`: RS256 only, `exp` and `nbf` with
    /// the skew as leeway, the accepted audiences and issuers, `exp`/`iss`/`aud` required.
    /// Reused while the issuer set stays the same, so a request rarely builds one.
    fn validation_for(&self, issuers: &[String]) -> std::sync::Arc<Validation> {
        let mut last = self.validation.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((built_for, validation)) = last.as_ref()
            && built_for.as_slice() == issuers
        {
            return std::sync::Arc::clone(validation);
        }
        let mut v = Validation::new(Algorithm::RS256);
        v.leeway = self.clock_skew.max(0) as u64;
        v.validate_exp = true;
        v.validate_nbf = true;
        v.set_audience(&self.audiences);
        v.set_issuer(issuers);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let v = std::sync::Arc::new(v);
        *last = Some((issuers.to_vec(), std::sync::Arc::clone(&v)));
        v
    }
}

/// Entra's rules once the crate has accepted signature, times, issuer and audience.
fn conclude(
    claims: &Claims<'_>,
    expected: &Expected,
    rules: &Rules,
    signer: Signer<'_>,
    now: i64,
) -> Result<Identity, ApiError> {
    if let Some(problem) = &expected.tenant_problem {
        return Err(invalid(problem.clone()));
    }
    let (Some(exp), Some(iss)) = (claims.exp, claims.iss) else {
        return Err(invalid("exp or iss is missing"));
    };
    // RFC 7519: expired once the time reaches `exp`; the crate still accepts that second.
    if now >= exp.saturating_add(rules.clock_skew) {
        return Err(ApiError::new(ErrorKind::TokenExpired).because(format!(
            "token expired {} seconds ago",
            now.saturating_sub(exp)
        )));
    }
    if let Some(iat) = claims.iat
        && iat.saturating_sub(rules.clock_skew) > now
    {
        return Err(invalid("token was issued in the future"));
    }
    if claims.id_token_claims {
        return Err(invalid(
            "an ID token was sent instead of an access token; request an access token for this API",
        ));
    }
    let version = match &rules.issuers {
        Some(_) => {
            if claims.ver == Some("1.0") {
                TokenVersion::V1
            } else {
                TokenVersion::V2
            }
        }
        None => {
            let version = if expected.v2_issuer.as_deref() == Some(iss) {
                TokenVersion::V2
            } else if expected.v1_issuer.as_deref() == Some(iss) {
                TokenVersion::V1
            } else {
                return Err(invalid(format!("issuer not accepted: {}", quoted(iss))));
            };
            if rules.v1_issuer.is_some() {
                match (claims.ver, version) {
                    (None, _)
                    | (Some("1.0"), TokenVersion::V1)
                    | (Some("2.0"), TokenVersion::V2) => {}
                    (Some(v), _) => {
                        return Err(invalid(format!(
                            "token version {} does not match its issuer {} (v1/v2 issuer mix)",
                            quoted(v),
                            quoted(iss)
                        )));
                    }
                }
            }
            version
        }
    };
    if (version == TokenVersion::V1 && !rules.accept_v1)
        || (version == TokenVersion::V2 && !rules.accept_v2)
    {
        let v = if version == TokenVersion::V1 {
            "1.0"
        } else {
            "2.0"
        };
        return Err(invalid(format!(
            "{v} tokens are not accepted (AUTH_TOKEN_VERSIONS)"
        )));
    }
    if let Some(key_issuer) = signer.key_issuer {
        let wanted = if key_issuer.contains(TENANT_PLACEHOLDER) {
            expected
                .tenant
                .as_deref()
                .map(|t| key_issuer.replace(TENANT_PLACEHOLDER, t))
        } else {
            Some(key_issuer.to_owned())
        };
        if wanted.as_deref() != Some(iss) && wanted != expected.v2_issuer {
            return Err(invalid("the signing key belongs to another issuer"));
        }
    }
    // Entra access tokens always name the client that asked for them (`appid` in v1, `azp`
    // in v2); ID tokens never do, even without `nonce`. Other providers' formats are not
    // known, so there either claim will do.
    let client_app = if rules.v1_issuer.is_some() {
        match version {
            TokenVersion::V2 => claims.azp,
            TokenVersion::V1 => claims.appid,
        }
    } else {
        claims.azp.or(claims.appid)
    };
    if client_app.is_none() {
        return Err(invalid(match version {
            TokenVersion::V1 if rules.v1_issuer.is_some() => {
                "appid is missing: v1 access tokens name their client application, so this is an ID token or not an access token; request an access token for this API"
            }
            TokenVersion::V2 if rules.v1_issuer.is_some() => {
                "azp is missing: v2 access tokens name their client application, so this is an ID token or not an access token; request an access token for this API"
            }
            _ => {
                "azp and appid are missing: access tokens name their client application, so this is an ID token or not an access token"
            }
        }));
    }
    if let Some(list) = &rules.allowed_clients
        && !client_app.is_some_and(|c| list.iter().any(|a| a.eq_ignore_ascii_case(c)))
    {
        return Err(invalid(format!(
            "client application {} is not allowed",
            quoted(client_app.unwrap_or("(none)"))
        )));
    }
    Ok(Identity {
        version,
        tenant_id: claims
            .tid
            .map(str::to_owned)
            .or_else(|| expected.tenant.clone()),
        object_id: claims.oid.map(str::to_owned),
        subject: claims.sub.map(str::to_owned),
        client_app: client_app.map(str::to_owned),
        roles: claims.roles.clone(),
        scopes: claims
            .scp
            .map(|s| s.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        expires_at: exp,
        not_before: claims.nbf,
    })
}

/// Entra's own rules for a token whose signature, times, issuer and audience were accepted:
/// for property tests and the fuzz target, which cannot sign their inputs.
pub fn check_entra_rules(
    claims: &Map<String, Value>,
    rules: &Rules,
    signer: Signer<'_>,
    now: i64,
) -> Result<Identity, ApiError> {
    let claims = Claims::read(claims)?;
    let expected = Expected::for_token(&claims, rules, signer);
    conclude(&claims, &expected, rules, signer, now)
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::auth::bearer::token_from_header;
    use proptest::prelude::*;

    const CODES: [&str; 5] = [
        "AuthorizationHeaderMissing",
        "InvalidAuthorizationHeader",
        "AuthorizationTokenNotFound",
        "InvalidAuthorizationHeaderFormat",
        "InvalidAuthorizationClaims",
    ];

    fn rules() -> Rules {
        Rules::single(vec!["api://app".into()], 300)
    }

    /// A 2048-bit key no input is signed with.
    fn key() -> VerifyingKey {
        crate::auth::keys::rs256_key(&[0xC5; 256], &[1, 0, 1]).unwrap()
    }

    /// The whole path without the network: header → token → parse → validate.
    fn judge(header: &str) -> &'static str {
        let token = match token_from_header(Some(header)) {
            Ok(t) => t,
            Err(kind) => return kind.code(),
        };
        match parse(token) {
            Err(e) => e.kind.code(),
            Ok(p) => {
                let signer = Signer {
                    metadata_issuer: "https://login.example/11111111-2222-4333-8444-555555555555/v2.0",
                    key_issuer: None,
                };
                match p.validate(&key(), &rules(), signer, 1_800_000_000) {
                    Ok(_) => "accepted-without-signature",
                    Err(e) => e.kind.code(),
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn random_headers_map_to_a_catalogue_code(header in ".{0,300}") {
            let code = judge(&header);
            prop_assert!(CODES.contains(&code) || code == "AuthorizationTokenExpired", "{code}");
        }

        #[test]
        fn random_bytes_as_tokens_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let text = String::from_utf8_lossy(&bytes);
            let code = judge(&format!("Bearer {text}"));
            prop_assert!(CODES.contains(&code) || code == "AuthorizationTokenExpired", "{code}");
        }

        #[test]
        fn random_json_segments_never_panic(
            header in "\\{.{0,80}\\}",
            payload in "\\{.{0,200}\\}",
            sig in "[A-Za-z0-9_-]{0,40}",
        ) {
            let token = format!(
                "{}.{}.{sig}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload)
            );
            let code = judge(&format!("Bearer {token}"));
            prop_assert!(CODES.contains(&code) || code == "AuthorizationTokenExpired", "{code}");
        }

        #[test]
        fn random_claims_never_validate_into_a_panic(
            exp in proptest::option::of(any::<f64>()),
            nbf in proptest::option::of(any::<i64>()),
            aud in proptest::option::of(".{0,20}"),
            roles in proptest::option::of(proptest::collection::vec(".{0,8}", 0..3)),
            tid in proptest::option::of(".{0,40}"),
        ) {
            let mut claims = Map::new();
            if let Some(exp) = exp { claims.insert("exp".into(), serde_json::json!(exp)); }
            if let Some(nbf) = nbf { claims.insert("nbf".into(), serde_json::json!(nbf)); }
            if let Some(aud) = aud { claims.insert("aud".into(), serde_json::json!(aud)); }
            if let Some(roles) = roles { claims.insert("roles".into(), serde_json::json!(roles)); }
            if let Some(tid) = tid { claims.insert("tid".into(), serde_json::json!(tid)); }
            claims.insert("iss".into(), serde_json::json!("https://login.example/11111111-2222-4333-8444-555555555555/v2.0"));
            let signer = Signer {
                metadata_issuer: "https://login.example/11111111-2222-4333-8444-555555555555/v2.0",
                key_issuer: None,
            };
            let _ = check_entra_rules(&claims, &rules(), signer, 1_800_000_000);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use std::sync::LazyLock;

    /// Real time: jsonwebtoken checks `exp` and `nbf` against the clock.
    static NOW: LazyLock<i64> = LazyLock::new(crate::auth::unix_now);

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// The fixture key pair `key1`: signing key, and the verifying key its JWK describes.
    static KEYS: LazyLock<(EncodingKey, VerifyingKey)> = LazyLock::new(|| {
        let jwk: Value = serde_json::from_slice(&fixture("key1.jwk.json")).unwrap();
        let b64 = |f: &str| URL_SAFE_NO_PAD.decode(jwk[f].as_str().unwrap()).unwrap();
        (
            EncodingKey::from_rsa_pem(&fixture("key1.pem")).unwrap(),
            crate::auth::keys::rs256_key(&b64("n"), &b64("e")).unwrap(),
        )
    });

    /// Signs `claims` with the fixture key as kid `k`.
    fn sign(claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("k".into());
        jsonwebtoken::encode(&header, claims, &KEYS.0).unwrap()
    }
    const TID: &str = "11111111-2222-4333-8444-555555555555";
    const OTHER: &str = "99999999-2222-4333-8444-555555555555";
    const META: &str = "https://login.example/11111111-2222-4333-8444-555555555555/v2.0";
    const META_MULTI: &str = "https://login.example/{tenantid}/v2.0";

    fn rules() -> Rules {
        Rules::single(vec!["api://app".into(), "app".into()], 300)
    }

    fn signer(meta: &str) -> Signer<'_> {
        Signer {
            metadata_issuer: meta,
            key_issuer: None,
        }
    }

    /// Signs `claims` and validates the token: signature, times, issuer and audience by
    /// jsonwebtoken, the rest here.
    fn check_with(claims: Value, rules: &Rules, signer: Signer<'_>) -> Result<Identity, ApiError> {
        let token = sign(&claims);
        parse(&token)?.validate(&KEYS.1, rules, signer, *NOW)
    }

    fn check(claims: Value) -> Result<Identity, ApiError> {
        check_with(claims, &rules(), signer(META))
    }

    fn v2(tid: &str) -> Value {
        json!({"iss": format!("https://login.example/{tid}/v2.0"), "aud": "api://app",
               "exp": *NOW + 60, "tid": tid, "roles": ["GetSecret"], "ver": "2.0", "azp": "client-a"})
    }

    fn v1(tid: &str) -> Value {
        json!({"iss": format!("https://sts.windows.net/{tid}/"), "aud": "app",
               "exp": *NOW + 60, "tid": tid, "ver": "1.0", "appid": "client-b"})
    }

    fn base() -> Value {
        v2(TID)
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    fn reason(r: Result<Identity, ApiError>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidClaims, "{e:?}");
        e.reason.unwrap()
    }

    fn kind(r: Result<Identity, ApiError>) -> ErrorKind {
        r.unwrap_err().kind
    }

    #[test]
    fn accepts_v1_and_v2() {
        let id = check(base()).unwrap();
        assert_eq!(id.version, TokenVersion::V2);
        assert_eq!(id.client_app.as_deref(), Some("client-a"));
        let id = check(v1(TID)).unwrap();
        assert_eq!(id.version, TokenVersion::V1);
        assert_eq!(id.client_app.as_deref(), Some("client-b"));
        assert_eq!(id.tenant_id.as_deref(), Some(TID));
    }

    #[test]
    fn time_rules_with_skew() {
        use ErrorKind::*;
        // A few seconds of margin around the 300 s leeway: the crate reads the clock itself.
        let now = *NOW;
        assert!(check(with("exp", json!(now - 290))).is_ok());
        assert_eq!(kind(check(with("exp", json!(now - 310)))), TokenExpired);
        // The second the token expires, it is expired (the crate alone would still accept it).
        let zero_skew = Rules {
            clock_skew: 0,
            ..rules()
        };
        let at_exp = sign(&with("exp", json!(now)));
        let err = parse(&at_exp)
            .unwrap()
            .validate(&KEYS.1, &zero_skew, signer(META), now)
            .unwrap_err();
        assert_eq!(err.kind, TokenExpired);
        let e = check(with("exp", json!(now - 1000))).unwrap_err();
        assert_eq!(e.reason.as_deref(), Some("token expired 1000 seconds ago"));
        assert_eq!(
            kind(check(with("exp", json!(now.to_string())))),
            InvalidClaims
        );
        assert_eq!(kind(check(with("exp", json!(null)))), InvalidClaims);
        assert_eq!(kind(check(with("exp", json!(1e300)))), InvalidClaims);
        assert!(check(with("exp", json!((now + 60) as f64 + 0.5))).is_ok());
        // Before 1970: valid NumericDates the crate cannot parse, judged here.
        assert_eq!(kind(check(with("exp", json!(-1)))), TokenExpired);
        assert!(check(with("nbf", json!(-5))).is_ok());
        assert!(check(with("nbf", json!(now + 290))).is_ok());
        assert_eq!(kind(check(with("nbf", json!(now + 310)))), InvalidClaims);
        assert_eq!(kind(check(with("iat", json!(now + 310)))), InvalidClaims);
        let mut no_exp = base();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(kind(check(no_exp)), InvalidClaims);
    }

    #[test]
    fn the_signature_is_checked_by_the_crate_before_the_claims() {
        let token = sign(&base());
        let mut tampered = token.clone();
        tampered.truncate(token.len() - 4);
        tampered.push_str("AAAA");
        let err = parse(&tampered)
            .unwrap()
            .validate(&KEYS.1, &rules(), signer(META), *NOW)
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidClaims);
        assert_eq!(err.reason.as_deref(), Some("signature does not verify"));
        // Expired and forged: the signature answers first.
        let mut expired = base();
        expired["exp"] = json!(*NOW - 4000);
        let forged = format!(
            "{}.{}",
            &sign(&expired)[..sign(&expired).rfind('.').unwrap()],
            "AAAA"
        );
        let err = parse(&forged)
            .unwrap()
            .validate(&KEYS.1, &rules(), signer(META), *NOW)
            .unwrap_err();
        assert_eq!(err.reason.as_deref(), Some("signature does not verify"));
    }

    #[test]
    fn issuer_audience_tenant_and_types() {
        use ErrorKind::*;
        assert!(reason(check(with("iss", json!("https://evil/")))).contains("issuer not accepted"));
        assert!(reason(check(with("ver", json!("1.0")))).contains("v1/v2 issuer mix"));
        assert_eq!(
            kind(check(with("aud", json!("api://other")))),
            InvalidClaims
        );
        assert!(check(with("aud", json!(["x", "app"]))).is_ok());
        assert_eq!(kind(check(with("aud", json!(["x", "y"])))), InvalidClaims);
        assert!(reason(check(with("tid", json!(OTHER)))).contains("not allowed"));
        assert_eq!(
            kind(check(with("roles", json!("GetSecret")))),
            InvalidClaims
        );
        assert_eq!(kind(check(with("scp", json!(["a"])))), InvalidClaims);
        assert_eq!(
            reason(check(with("aud", json!("api://other")))),
            "audience mismatch: got \"api://other\""
        );
    }

    #[test]
    fn graph_and_id_tokens_are_named() {
        let graph = reason(check(with("aud", json!("https://graph.microsoft.com"))));
        assert!(graph.contains("Microsoft Graph"), "{graph}");
        let graph = reason(check(with(
            "aud",
            json!("00000003-0000-0000-c000-000000000000"),
        )));
        assert!(graph.contains("Microsoft Graph"), "{graph}");
        let id = reason(check(with("nonce", json!("abc"))));
        assert!(id.contains("ID token"), "{id}");
    }

    #[test]
    fn multi_tenant_matrix() {
        let allow = |list: Option<Vec<&str>>| Rules {
            tenancy: Tenancy::Multi {
                allowed: list.map(|l| l.into_iter().map(String::from).collect()),
            },
            ..rules()
        };
        let listed = allow(Some(vec![TID]));
        let any = allow(None);
        let s = signer(META_MULTI);
        // (rules, claims, accepted)
        let cases = [
            (&listed, v2(TID), true),
            (&listed, v1(TID), true),
            (&listed, v2(OTHER), false),
            (&any, v2(OTHER), true),
            (&any, v1(OTHER), true),
        ];
        for (rules, claims, ok) in cases {
            assert_eq!(check_with(claims.clone(), rules, s).is_ok(), ok, "{claims}");
        }
        // tid must be present and agree with iss.
        let mut no_tid = v2(TID);
        no_tid.as_object_mut().unwrap().remove("tid");
        assert!(reason(check_with(no_tid, &any, s)).contains("tid is missing"));
        let mut mixed = v2(TID);
        mixed["tid"] = json!(OTHER);
        assert!(reason(check_with(mixed, &any, s)).contains("issuer not accepted"));
    }

    #[test]
    fn issuer_overrides_versions_and_clients() {
        let pinned = Rules {
            accept_v1: false,
            ..rules()
        };
        assert!(check_with(base(), &pinned, signer(META)).is_ok());
        assert!(reason(check_with(v1(TID), &pinned, signer(META))).contains("AUTH_TOKEN_VERSIONS"));

        let custom = Rules {
            issuers: Some(vec!["https://b2c.example/tfp/x/v2.0/".into()]),
            v1_issuer: None,
            ..rules()
        };
        let mut b2c = base();
        b2c["iss"] = json!("https://b2c.example/tfp/x/v2.0/");
        b2c["ver"] = json!("1.0");
        b2c.as_object_mut().unwrap().remove("tid");
        assert!(check_with(b2c, &custom, signer("https://b2c.example/meta")).is_ok());
        assert!(check_with(base(), &custom, signer(META)).is_err());

        let clients = Rules {
            allowed_clients: Some(vec!["client-a".into()]),
            ..rules()
        };
        assert!(check_with(base(), &clients, signer(META)).is_ok());
        assert!(reason(check_with(v1(TID), &clients, signer(META))).contains("client application"));
    }

    #[test]
    fn key_issuer_must_match_the_token() {
        let any = Rules {
            tenancy: Tenancy::Multi { allowed: None },
            ..rules()
        };
        let templated = Signer {
            metadata_issuer: META_MULTI,
            key_issuer: Some(META_MULTI),
        };
        assert!(check_with(v2(OTHER), &any, templated).is_ok());
        assert!(check_with(v1(OTHER), &any, templated).is_ok());
        let pinned = Signer {
            metadata_issuer: META_MULTI,
            key_issuer: Some(META),
        };
        assert!(check_with(v2(TID), &any, pinned).is_ok());
        assert!(reason(check_with(v2(OTHER), &any, pinned)).contains("another issuer"));
    }

    #[test]
    fn access_tokens_must_name_their_client() {
        // An authorization-code ID token asked for without a nonce: no nonce, no azp.
        let mut id_token = base();
        id_token.as_object_mut().unwrap().remove("azp");
        assert!(reason(check(id_token.clone())).contains("azp is missing"));
        // v2 must carry azp, v1 appid: the other one does not stand in for it.
        id_token["appid"] = json!("client-a");
        assert!(reason(check(id_token)).contains("azp is missing"));
        let mut v1_id = v1(TID);
        v1_id.as_object_mut().unwrap().remove("appid");
        assert!(reason(check(v1_id.clone())).contains("appid is missing"));
        // Another provider's format: either claim will do, none will not.
        let custom = Rules {
            issuers: Some(vec![format!("https://login.example/{TID}/v2.0")]),
            v1_issuer: None,
            ..rules()
        };
        let mut appid_only = base();
        appid_only.as_object_mut().unwrap().remove("azp");
        appid_only["appid"] = json!("client-c");
        assert!(check_with(appid_only.clone(), &custom, signer(META)).is_ok());
        appid_only.as_object_mut().unwrap().remove("appid");
        assert!(reason(check_with(appid_only, &custom, signer(META))).contains("missing"));
    }

    #[test]
    fn a_templated_issuer_takes_its_tenant_from_settings_only() {
        let templated = signer(META_MULTI);
        // No tenant configured: nothing passes, whatever tid the token claims.
        for claims in [v2(TID), v2(OTHER), v1(OTHER)] {
            assert!(reason(check_with(claims, &rules(), templated)).contains("templated"));
        }
        // AUTH_TENANT_ID fills the template; other tenants are refused.
        let pinned = Rules {
            tenant: Some(TID.into()),
            ..rules()
        };
        assert!(check_with(v2(TID), &pinned, templated).is_ok());
        assert!(check_with(v1(TID), &pinned, templated).is_ok());
        assert!(reason(check_with(v2(OTHER), &pinned, templated)).contains("not allowed"));
        let mut no_tid = v2(OTHER);
        no_tid.as_object_mut().unwrap().remove("tid");
        assert!(reason(check_with(no_tid, &pinned, templated)).contains("issuer not accepted"));
        // AUTH_ISSUERS with {tenantid} is filled from settings too.
        let listed = Rules {
            issuers: Some(vec![META_MULTI.into()]),
            ..pinned.clone()
        };
        assert!(check_with(v2(TID), &listed, signer(META)).is_ok());
        let mut foreign = v2(OTHER);
        foreign.as_object_mut().unwrap().remove("tid");
        assert!(reason(check_with(foreign, &listed, signer(META))).contains("issuer not accepted"));
    }

    #[test]
    fn thumbprint_names_the_key_when_there_is_no_kid() {
        let p = URL_SAFE_NO_PAD.encode(br#"{"a":1}"#);
        let token = |header: &str| format!("{}.{p}.c2ln", URL_SAFE_NO_PAD.encode(header));
        let x5t_only = token(r#"{"alg":"RS256","x5t":"nOo3ZDrODXEK1jKWhXslHR_KXEg"}"#);
        assert_eq!(
            parse(&x5t_only).unwrap().key,
            KeyRef::Thumbprint("nOo3ZDrODXEK1jKWhXslHR_KXEg".into())
        );
        let both = token(r#"{"alg":"RS256","kid":"k","x5t":"t"}"#);
        assert_eq!(parse(&both).unwrap().key, KeyRef::Kid("k".into()));
        let empty_both = token(r#"{"alg":"RS256","kid":"","x5t":""}"#);
        assert_eq!(parse(&empty_both).unwrap_err().kind, ErrorKind::KeyNotFound);
        let long = token(&format!(r#"{{"alg":"RS256","x5t":"{}"}}"#, "t".repeat(257)));
        assert_eq!(parse(&long).unwrap_err().kind, ErrorKind::KeyNotFound);
        let numeric = token(r#"{"alg":"RS256","x5t":5}"#);
        assert_eq!(
            parse(&numeric).unwrap_err().kind,
            ErrorKind::TokenUnparsable
        );
    }

    #[test]
    fn parse_rejects_malformed_structure() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"a":1}"#);
        let ok = format!("{h}.{p}.c2ln");
        assert_eq!(parse(&ok).unwrap().key, KeyRef::Kid("k".into()));
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
        let long_kid = format!(
            "{}.{p}.c2ln",
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(257)))
        );
        assert_eq!(parse(&long_kid).unwrap_err().kind, ErrorKind::KeyNotFound);
        let dup = format!(
            "{h}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"aud":"x","aud":"api://app"}"#)
        );
        let err = parse(&dup).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TokenUnparsable);
        assert_eq!(err.reason.as_deref(), Some("token payload repeats a name"));
        let dup_header = format!(
            "{}.{p}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","alg":"RS256","kid":"k"}"#)
        );
        assert_eq!(
            parse(&dup_header).unwrap_err().kind,
            ErrorKind::TokenUnparsable
        );
        assert!(is_guid(TID));
        assert!(!is_guid("contoso.onmicrosoft.com"));
        assert!(!is_guid("11111111-2222-4333-8444-555555555555-1"));
        assert_eq!(tenant_in_issuer(META), Some(TID));
    }
}
