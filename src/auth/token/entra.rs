//! Entra's rules: which issuers a token may carry (v1/v2, `{tenantid}`, `AUTH_ISSUERS`), the
//! tenant, v1/v2 mixes, a signing key bound to its issuer, ID and Graph tokens, the client
//! application.

use jsonwebtoken::{Algorithm, Validation};
#[cfg(test)]
use serde_json::{Map, Value};

use super::claims::Claims;
use super::identity::{Identity, TokenVersion};
use super::{invalid, quoted};
use crate::errors::{ApiError, ErrorKind};

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
    /// `AUTH_ALLOWED_CLIENT_APPS`: accepted `azp`/`appid` values (and `client_id` from a
    /// provider other than Entra).
    pub allowed_clients: Option<Vec<String>>,
    /// The last `Validation` built from these rules, with the issuer set it was built for:
    /// in single-tenant mode every token expects the same issuers, so it is built once.
    pub validation: LastValidation,
    /// Single-tenant: what a token must carry and its `Validation` for the last discovery
    /// issuer, for the one-pass path, so a fresh token rebuilds neither.
    pub settled: Settled,
}

/// What a token must carry and its `Validation`, with the discovery issuer they follow from.
/// A clone starts empty, like [`LastValidation`].
#[derive(Debug, Default)]
pub struct Settled(std::sync::Mutex<Option<SettledFor>>);

type SettledFor = (String, std::sync::Arc<Expected>, std::sync::Arc<Validation>);

impl Clone for Settled {
    fn clone(&self) -> Self {
        Settled::default()
    }
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
            settled: Default::default(),
        }
    }
}

/// Entra's v1 issuer outside China.
pub const V1_ISSUER_PUBLIC: &str = "https://sts.windows.net/{tenantid}/";
/// Entra's v1 issuer in Azure operated by 21Vianet.
pub const V1_ISSUER_CHINA: &str = "https://sts.chinacloudapi.cn/{tenantid}/";
pub(super) const TENANT_PLACEHOLDER: &str = "{tenantid}";

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

pub(super) fn is_graph_audience(aud: &str) -> bool {
    GRAPH_AUDIENCES
        .iter()
        .any(|g| aud.trim_end_matches('/').eq_ignore_ascii_case(g))
}

pub(super) const GRAPH_HINT: &str = "this is a Microsoft Graph token, which only Graph can verify; request a token for this API's audience instead";

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

/// What a token must carry, worked out from the rules before the crate checks it.
#[derive(Debug)]
pub(super) struct Expected {
    /// The tenant: from settings in single-tenant mode, the token's allowed `tid` otherwise.
    pub(super) tenant: Option<String>,
    /// Accepted `iss` values, templates filled in.
    pub(super) issuers: Vec<String>,
    /// The v2 issuer (the discovery document's), filled in.
    pub(super) v2_issuer: Option<String>,
    /// The v1 issuer, filled in; `None` when the metadata is not Entra's.
    pub(super) v1_issuer: Option<String>,
    /// Why no issuer can match, when the tenant is the reason (for `debug`).
    pub(super) tenant_problem: Option<String>,
}

impl Expected {
    pub(super) fn for_token(claims: &Claims<'_>, rules: &Rules, signer: Signer<'_>) -> Expected {
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
                } else {
                    tenant_problem = Expected::foreign_tenant(claims.tid, configured);
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

    /// Single-tenant: why a token naming tenant `tid` is refused when `configured` is the
    /// tenant, or `None`. The one part of what a token must carry that depends on the token.
    pub(super) fn foreign_tenant(tid: Option<&str>, configured: Option<&str>) -> Option<String> {
        match (tid, configured) {
            (Some(t), Some(want)) if !t.eq_ignore_ascii_case(want) => {
                Some(format!("tenant {} is not allowed", quoted(t)))
            }
            _ => None,
        }
    }
}

impl Rules {
    /// What every token must carry and its `Validation` when they do not depend on the token
    /// (single-tenant: the tenant comes from settings; only the `tid` check,
    /// [`Expected::foreign_tenant`], is left per token), computed once per discovery issuer;
    /// `None` when they depend on the token.
    pub(super) fn settled_validation(
        &self,
        signer: Signer<'_>,
    ) -> Option<(std::sync::Arc<Expected>, std::sync::Arc<Validation>)> {
        if !matches!(self.tenancy, Tenancy::Single) {
            return None;
        }
        let mut settled = self.settled.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((issuer, expected, validation)) = settled.as_ref()
            && issuer == signer.metadata_issuer
        {
            return Some((
                std::sync::Arc::clone(expected),
                std::sync::Arc::clone(validation),
            ));
        }
        // In single-tenant mode the issuers come from the rules and the discovery issuer alone:
        // a token with no claims expects the same ones as any other.
        let no_claims = serde_json::Map::new();
        let claims = Claims::read(&no_claims).ok()?;
        let expected = std::sync::Arc::new(Expected::for_token(&claims, self, signer));
        let validation = self.validation_for(&expected.issuers);
        *settled = Some((
            signer.metadata_issuer.to_owned(),
            std::sync::Arc::clone(&expected),
            std::sync::Arc::clone(&validation),
        ));
        Some((expected, validation))
    }

    /// The crate's settings for a token expecting `issuers`: RS256 only, `exp` and `nbf` with
    /// the skew as leeway, the accepted audiences and issuers, `exp`/`iss`/`aud` required.
    /// Reused while the issuer set stays the same, so a request rarely builds one.
    pub(super) fn validation_for(&self, issuers: &[String]) -> std::sync::Arc<Validation> {
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
pub(super) fn conclude(
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
    // known, so there either claim will do, or RFC 9068's `client_id` in a token whose header
    // says it is one of that profile's access tokens (`typ` `at+jwt`: RFC 9068 §4 has the
    // resource server check it, since an ID token may carry the same claims).
    let entra = rules.v1_issuer.is_some();
    let mut from_client_id = false;
    let client_app = if entra {
        match version {
            TokenVersion::V2 => claims.azp,
            TokenVersion::V1 => claims.appid,
        }
    } else {
        match (claims.azp.or(claims.appid), claims.rfc9068_client()?) {
            (Some(client), _) => Some(client),
            (None, Some(_)) if !claims.at_jwt => {
                return Err(invalid(
                    "azp and appid are missing, and client_id names the client of an access token only when its header's typ is at+jwt (RFC 9068): this is an ID token or not an access token",
                ));
            }
            (None, client) => {
                from_client_id = client.is_some();
                client
            }
        }
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
                "azp, appid and client_id are missing: access tokens name their client application, so this is an ID token or not an access token"
            }
        }));
    }
    // Entra's client ids are GUIDs, compared without case; another provider's `client_id` is
    // the string it registered, compared as it is.
    let same_client = |allowed: &str, client: &str| {
        if from_client_id {
            allowed == client
        } else {
            allowed.eq_ignore_ascii_case(client)
        }
    };
    if let Some(list) = &rules.allowed_clients
        && !client_app.is_some_and(|c| list.iter().any(|a| same_client(a, c)))
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
        // Entra's delegated scopes are `scp`; other providers may name them `scope`, as RFC 9068
        // does (the same space-separated string), and `scp` wins where both are given.
        scopes: match claims.scp {
            Some(scp) => scp.split_ascii_whitespace().map(str::to_owned).collect(),
            None if !entra => claims.rfc9068_scopes()?,
            None => Vec::new(),
        },
        // RFC 9068 §2.2: a token no user took part in (the client-credentials grant) names
        // the client as its subject. Its scopes are the client's, not a user's delegation.
        // (`from_client_id` means `client_app` is `Some`, so a missing `sub` never matches.)
        app_only: from_client_id && claims.sub == client_app,
        expires_at: exp,
        not_before: claims.nbf,
        ..Identity::empty(version)
    })
}

#[cfg(test)]
/// Entra's own rules for a token whose signature, times, issuer and audience were accepted:
/// for property tests and the fuzz target, which cannot sign their inputs.
pub(crate) fn check_entra_rules(
    claims: &Map<String, Value>,
    rules: &Rules,
    signer: Signer<'_>,
    now: i64,
) -> Result<Identity, ApiError> {
    let claims = Claims::read(claims)?;
    let expected = Expected::for_token(&claims, rules, signer);
    conclude(&claims, &expected, rules, signer, now)
}
