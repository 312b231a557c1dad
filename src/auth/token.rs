//! Raw token → validated [`Identity`]: structure, signature (via jsonwebtoken) and claim rules.
//!
//! The structure and the claims are checked here rather than by `jsonwebtoken::decode` so that
//! every claim has one exact JSON type (an `exp` sent as a string is refused, not coerced) and
//! every failure maps to its catalogue code in a fixed order.

use crate::auth::keys::{KeyRef, VerifyingKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
    signing_input: &'a str,
    signature: Vec<u8>,
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

/// Splits a compact JWS and decodes header and payload; checks `alg`, `crit` and `kid`.
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
    let head = decode_json_object(header, "token header")?;
    let claims = decode_json_object(payload, "token payload")?;
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
        return Err(unparsable("token signature is not base64url"));
    };
    match head.get("alg") {
        Some(Value::String(alg)) if alg == "RS256" => {}
        Some(Value::String(_)) => return Err(unparsable("token algorithm is not allowed")),
        _ => return Err(unparsable("token header has no algorithm")),
    }
    if head.contains_key("crit") {
        return Err(unparsable("token header has critical extensions"));
    }
    let key = match (head.get("kid"), head.get("x5t")) {
        (Some(Value::String(kid)), _) if !kid.is_empty() => KeyRef::Kid(key_name(kid, "kid")?),
        (Some(Value::String(_)) | None, Some(Value::String(x5t))) if !x5t.is_empty() => {
            // The older Entra format names its key by certificate thumbprint only.
            KeyRef::Thumbprint(key_name(x5t, "x5t")?)
        }
        (Some(Value::String(_)) | None, None | Some(Value::String(_))) => {
            return Err(ApiError::new(ErrorKind::KeyNotFound).because("token header has no kid"));
        }
        (None | Some(Value::String(_)), Some(_)) => {
            return Err(unparsable("token x5t is not a string"));
        }
        (Some(_), _) => return Err(unparsable("token kid is not a string")),
    };
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(Parsed {
        key,
        signing_input,
        signature,
        header_nonce: head.contains_key("nonce"),
        claims,
    })
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

    /// Checks the RS256 signature against `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), ApiError> {
        match key.verify_sig(self.signing_input.as_bytes(), &self.signature) {
            Ok(()) => Ok(()),
            Err(_) if self.looks_like_graph() => Err(invalid(GRAPH_HINT)),
            Err(_) => Err(invalid("signature does not verify")),
        }
    }

    /// Applies the claim rules; call only after [`Parsed::verify`].
    pub fn validate(
        &self,
        rules: &Rules,
        signer: Signer<'_>,
        now: i64,
    ) -> Result<Identity, ApiError> {
        validate_claims(&self.claims, rules, signer, now)
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

fn validate_claims(
    claims: &Map<String, Value>,
    rules: &Rules,
    signer: Signer<'_>,
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
            nbf.saturating_sub(now)
        )));
    }
    if let Some(iat) = iat
        && iat.saturating_sub(skew) > now
    {
        return Err(invalid("token was issued in the future"));
    }
    if claims.contains_key("nonce")
        || claims.contains_key("at_hash")
        || claims.contains_key("c_hash")
    {
        return Err(invalid(
            "an ID token was sent instead of an access token; request an access token for this API",
        ));
    }

    // The tenant: the token's own in multi-tenant mode, else the one the metadata names.
    let tenant: Option<&str> = match &rules.tenancy {
        Tenancy::Multi { allowed } => {
            let Some(t) = tid.filter(|t| is_guid(t)) else {
                return Err(invalid(
                    "tid is missing or not a tenant id; multi-tenant tokens must name their tenant",
                ));
            };
            if let Some(list) = allowed
                && !list.iter().any(|a| a.eq_ignore_ascii_case(t))
            {
                return Err(invalid(format!("tenant {} is not allowed", quoted(t))));
            }
            Some(t)
        }
        Tenancy::Single => {
            // The tenant comes from settings only: a token naming itself must not fill a
            // templated issuer (`{tenantid}`) and so pick which tenant is trusted.
            let configured = tenant_in_issuer(signer.metadata_issuer).or(rules.tenant.as_deref());
            if configured.is_none() && signer.metadata_issuer.contains(TENANT_PLACEHOLDER) {
                return Err(invalid(
                    "the discovery issuer is templated ({tenantid}) but no tenant is configured: set AUTH_TENANT_ID to the tenant id (GUID), or use multi-tenant settings",
                ));
            }
            if let (Some(t), Some(want)) = (tid, configured)
                && !t.eq_ignore_ascii_case(want)
            {
                return Err(invalid(format!("tenant {} is not allowed", quoted(t))));
            }
            configured
        }
    };
    let fill = |template: &str| -> Option<String> {
        // `None` when a template needs a tenant and none is known: such an issuer never matches.
        if template.contains(TENANT_PLACEHOLDER) {
            Some(template.replace(TENANT_PLACEHOLDER, tenant?))
        } else {
            Some(template.to_owned())
        }
    };

    let Some(iss) = iss else {
        return Err(invalid("iss is missing"));
    };
    let v2_issuer = fill(signer.metadata_issuer);
    let version = match &rules.issuers {
        Some(list) => {
            if !list.iter().filter_map(|i| fill(i)).any(|i| i == iss) {
                return Err(invalid(format!("issuer not accepted: {}", quoted(iss))));
            }
            if ver == Some("1.0") {
                TokenVersion::V1
            } else {
                TokenVersion::V2
            }
        }
        None => {
            let v1_issuer = rules.v1_issuer.as_deref().and_then(fill);
            let version = if v2_issuer.as_deref() == Some(iss) {
                TokenVersion::V2
            } else if v1_issuer.as_deref() == Some(iss) {
                TokenVersion::V1
            } else {
                return Err(invalid(format!("issuer not accepted: {}", quoted(iss))));
            };
            if rules.v1_issuer.is_some() {
                match (ver, version) {
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
        let wanted = fill(key_issuer);
        if wanted.as_deref() != Some(iss) && wanted != v2_issuer {
            return Err(invalid("the signing key belongs to another issuer"));
        }
    }
    if !aud
        .iter()
        .any(|a| rules.audiences.iter().any(|want| want == a))
    {
        if aud.iter().any(|a| is_graph_audience(a)) {
            return Err(invalid(GRAPH_HINT));
        }
        return Err(invalid(format!(
            "audience mismatch: got {}",
            quoted(&aud.join(", "))
        )));
    }
    // Entra access tokens always name the client that asked for them (`appid` in v1, `azp`
    // in v2); ID tokens never do, even without `nonce`. Other providers' formats are not
    // known, so there either claim will do.
    let client_app = if rules.v1_issuer.is_some() {
        match version {
            TokenVersion::V2 => azp,
            TokenVersion::V1 => appid,
        }
    } else {
        azp.or(appid)
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
        tenant_id: tid.or(tenant).map(str::to_owned),
        object_id: oid.map(str::to_owned),
        subject: sub.map(str::to_owned),
        client_app: client_app.map(str::to_owned),
        roles,
        scopes: scp
            .map(|s| s.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        expires_at: exp,
        not_before: nbf,
    })
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

    /// The whole pre-network path: header → token → parse → claims (no signature check).
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
                match p.validate(&rules(), signer, 1_800_000_000) {
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
            let _ = validate_claims(&claims, &rules(), signer, 1_800_000_000);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
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

    fn check_with(claims: Value, rules: &Rules, signer: Signer<'_>) -> Result<Identity, ApiError> {
        let Value::Object(map) = claims else { panic!() };
        validate_claims(&map, rules, signer, NOW)
    }

    fn check(claims: Value) -> Result<Identity, ApiError> {
        check_with(claims, &rules(), signer(META))
    }

    fn v2(tid: &str) -> Value {
        json!({"iss": format!("https://login.example/{tid}/v2.0"), "aud": "api://app",
               "exp": NOW + 60, "tid": tid, "roles": ["GetSecret"], "ver": "2.0", "azp": "client-a"})
    }

    fn v1(tid: &str) -> Value {
        json!({"iss": format!("https://sts.windows.net/{tid}/"), "aud": "app",
               "exp": NOW + 60, "tid": tid, "ver": "1.0", "appid": "client-b"})
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
        assert!(check(with("exp", json!(NOW - 299))).is_ok());
        assert_eq!(kind(check(with("exp", json!(NOW - 300)))), TokenExpired);
        let e = check(with("exp", json!(NOW - 1000))).unwrap_err();
        assert_eq!(e.reason.as_deref(), Some("token expired 1000 seconds ago"));
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
