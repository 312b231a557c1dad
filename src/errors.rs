//! Every error funcgate answers with: one table of kinds (code, description, status,
//! challenge). Rendering them is `reply`'s job (`Reply::error`), so this module knows no reply.
//!
//! The `code` and `description` strings are a public contract (clients match on them); they
//! come from the original Python decorator and must not change.

use std::sync::LazyLock;

/// Every kind of error response, each with one row in `ErrorKind::spec`: its public `code`,
/// `description` and HTTP status (listed in the README's error catalogue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `401 AuthorizationHeaderMissing`: no `Authorization` header.
    AuthorizationHeaderMissing,
    /// `401 InvalidAuthorizationHeader`: the header does not start with `Bearer`.
    HeaderNotBearer,
    /// `401 AuthorizationTokenNotFound`: `Bearer` with no token after it.
    TokenNotFound,
    /// `401 InvalidAuthorizationHeaderFormat`: more than `Bearer <token>`.
    HeaderFormat,
    /// `401 InvalidAuthorizationHeader`: the token cannot be parsed or its signature is wrong.
    TokenUnparsable,
    /// `401 AuthorizationTokenExpired`: past `exp` (with the clock-skew leeway).
    TokenExpired,
    /// `401 InvalidAuthorizationClaims`: issuer, audience, tenant or another claim refused.
    InvalidClaims,
    /// `401 InvalidAuthorizationHeader`: no signing key matches the token's `kid`.
    KeyNotFound,
    /// `502 AzureKeyVaultFatalError`: the secret store failed.
    VaultError,
    /// `404 SecretNotFound`: no such secret (or not allowed by `VAULT_ALLOWED_SECRETS`).
    SecretNotFound,
    /// `503 ServiceHealthCheckDown`: a health check failed.
    HealthCheckFailed,
    /// `415 InvalidContentType`: the body's content type is not one the function accepts.
    UnsupportedContentType,
    /// `403 AuthorizationRolesMissing`: the rule needs a role and the token has none.
    RolesMissing,
    /// `403 AuthorizationRoleForbidden`: the token lacks the role the rule needs.
    RoleForbidden,
    /// `403 AuthorizationScopeForbidden`: the token lacks the scope the rule needs.
    ScopeForbidden,
    /// `400 SecretNameMissing`: `vault` without a secret name.
    SecretNameMissing,
    /// `400 InvalidSecretName`: a name Key Vault would refuse.
    InvalidSecretName,
    /// `503 SigningKeysUnavailable`: no signing keys have ever been loaded.
    SigningKeysUnavailable,
    /// `404 NotFound`: no function matches the route.
    NotFound,
    /// `405 MethodNotAllowed`: the function does not accept the method.
    MethodNotAllowed,
    /// `413 PayloadTooLarge`: the body is over `MAX_REQUEST_BODY_BYTES`.
    PayloadTooLarge,
    /// `400 InvalidRequestBody`: the body is not what the function accepts.
    InvalidRequestBody,
    /// `401 InsufficientClaims`: the rule needs an authentication context (step-up) the token
    /// lacks, and its client can answer a claims challenge (`xms_cc` holds `cp1`).
    InsufficientClaims,
    /// `403 AuthenticationContextRequired`: the rule needs an authentication context the token
    /// lacks, and its client cannot answer a claims challenge.
    AuthenticationContextRequired,
    /// `503 ServiceBusy`: invocation payloads already fill their memory budget; retry.
    ServiceBusy,
    /// `502 ReplyTooLarge`: a streamed reply could not be collected for a mode that buffers.
    ReplyTooLarge,
    /// `500 InvalidReplyHeader`: the function's reply has a header name or value HTTP cannot
    /// carry (a CR, LF, NUL or other control character, often from a caller's input).
    InvalidReplyHeader,
    /// `403 OriginNotAllowed`: a browser's `Origin` that the MCP server's allow-list
    /// (`MCP_ALLOWED_ORIGINS`) does not name; the MCP transport's DNS-rebinding defence.
    OriginNotAllowed,
    /// `403 OnBehalfOfUserRequired`: a downstream call on behalf of the caller, with an
    /// app-only token (no user) or none: only a user's token can be exchanged.
    UserTokenRequired,
    /// `500 DownstreamNotDeclared`: the function asked for a downstream API the app does not
    /// declare (`App::downstream`).
    DownstreamNotDeclared,
    /// `500 DownstreamNotConfigured`: a downstream API without its settings (its URL, or
    /// `AUTH_CLIENT_CREDENTIAL`).
    DownstreamNotConfigured,
    /// `500 DownstreamCredentialRejected`: the token endpoint refused the app's client
    /// credential (`invalid_client`); logged once, naming `AUTH_CLIENT_CREDENTIAL`.
    DownstreamCredentialRejected,
    /// `403 DownstreamConsentRequired`: the user or an administrator has not consented to
    /// the downstream API's permissions.
    DownstreamConsentRequired,
    /// `502 DownstreamTokenUnavailable`: no token for the downstream API (the token endpoint
    /// or the managed identity did not answer, or refused for another reason).
    DownstreamTokenUnavailable,
    /// `502 DownstreamUnavailable`: the downstream API did not answer, or not readably.
    DownstreamUnavailable,
    /// A function's own error: its status, `code` and `description`
    /// (see [`ApiError::custom`]).
    Custom {
        /// The HTTP status, 400 to 599.
        status: u16,
        /// The public `code`.
        code: &'static str,
        /// The public `description`.
        description: &'static str,
    },
}

/// How an error relates to RFC 6750's `WWW-Authenticate` challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// Not an authentication error: no challenge.
    None,
    /// No bearer credentials were presented: a bare `Bearer` challenge.
    NoToken,
    /// A token was presented and rejected: `error="invalid_token"`.
    InvalidToken,
    /// The token is valid but lacks a permission: `error="insufficient_scope"`.
    InsufficientScope,
    /// The token lacks claims a step-up asks for: `error="insufficient_claims"` with the
    /// claims request, as Entra's claims-challenge guide shows.
    InsufficientClaims,
}

impl ErrorKind {
    /// The table: (code, description, HTTP status, challenge).
    pub(crate) const fn spec(self) -> (&'static str, &'static str, u16, Challenge) {
        use Challenge as C;
        use ErrorKind as K;
        match self {
            K::AuthorizationHeaderMissing => (
                "AuthorizationHeaderMissing",
                "Authorization header is missing from the request",
                401,
                C::NoToken,
            ),
            K::HeaderNotBearer => (
                "InvalidAuthorizationHeader",
                "Authorization header must start with Bearer",
                401,
                C::NoToken,
            ),
            K::TokenNotFound => (
                "AuthorizationTokenNotFound",
                "Authorization does not contain Token",
                401,
                C::NoToken,
            ),
            K::HeaderFormat => (
                "InvalidAuthorizationHeaderFormat",
                "Authorization header must be Bearer token",
                401,
                C::InvalidToken,
            ),
            K::TokenUnparsable => (
                "InvalidAuthorizationHeader",
                "Unable to parse authentication token",
                401,
                C::InvalidToken,
            ),
            K::TokenExpired => (
                "AuthorizationTokenExpired",
                "Authorization bearer token is expired.",
                401,
                C::InvalidToken,
            ),
            K::InvalidClaims => (
                "InvalidAuthorizationClaims",
                "Failed to validate authorization claims.",
                401,
                C::InvalidToken,
            ),
            K::KeyNotFound => (
                "InvalidAuthorizationHeader",
                "Unable to find appropriate key",
                401,
                C::InvalidToken,
            ),
            K::VaultError => (
                "AzureKeyVaultFatalError",
                "Error getting response from Azure Key Vault.",
                502,
                C::None,
            ),
            K::SecretNotFound => (
                "SecretNotFound",
                "Requested secret not found in Key Vault.",
                404,
                C::None,
            ),
            K::HealthCheckFailed => (
                "ServiceHealthCheckDown",
                "Function App health Check failed.",
                503,
                C::None,
            ),
            K::UnsupportedContentType => (
                "InvalidContentType",
                "Content-Type is not supported",
                415,
                C::None,
            ),
            K::RolesMissing => (
                "AuthorizationRolesMissing",
                "Access token does not contain any roles.",
                403,
                C::InsufficientScope,
            ),
            K::RoleForbidden => (
                "AuthorizationRoleForbidden",
                "Access token is missing the role required for this path.",
                403,
                C::InsufficientScope,
            ),
            K::ScopeForbidden => (
                "AuthorizationScopeForbidden",
                "Access token is missing the scope required for this path.",
                403,
                C::InsufficientScope,
            ),
            K::SecretNameMissing => (
                "SecretNameMissing",
                "Secret name is missing. Please use QP secret=<secret_name>",
                400,
                C::None,
            ),
            K::InvalidSecretName => (
                "InvalidSecretName",
                "Secret name must be 1-127 characters of letters, digits and dashes.",
                400,
                C::None,
            ),
            K::SigningKeysUnavailable => (
                "SigningKeysUnavailable",
                "Unable to retrieve token signing keys.",
                503,
                C::None,
            ),
            K::NotFound => ("NotFound", "No function matches this route.", 404, C::None),
            K::MethodNotAllowed => (
                "MethodNotAllowed",
                "This function does not accept this HTTP method.",
                405,
                C::None,
            ),
            K::PayloadTooLarge => (
                "PayloadTooLarge",
                "Request body is larger than this function accepts.",
                413,
                C::None,
            ),
            K::InvalidRequestBody => (
                "InvalidRequestBody",
                "Request body is not what this function accepts.",
                400,
                C::None,
            ),
            K::InsufficientClaims => (
                "InsufficientClaims",
                "Access token lacks claims this operation requires; answer the claims challenge.",
                401,
                C::InsufficientClaims,
            ),
            K::AuthenticationContextRequired => (
                "AuthenticationContextRequired",
                "Access token lacks the authentication context this operation requires.",
                403,
                C::InsufficientScope,
            ),
            K::ServiceBusy => (
                "ServiceBusy",
                "The service is busy; retry shortly.",
                503,
                C::None,
            ),
            K::ReplyTooLarge => (
                "ReplyTooLarge",
                "The function's streamed reply is too large to send in this host mode.",
                502,
                C::None,
            ),
            K::InvalidReplyHeader => (
                "InvalidReplyHeader",
                "The function's reply has a header that cannot be sent.",
                500,
                C::None,
            ),
            K::OriginNotAllowed => (
                "OriginNotAllowed",
                "The request's Origin is not allowed to call this server.",
                403,
                C::None,
            ),
            K::UserTokenRequired => (
                "OnBehalfOfUserRequired",
                "This call needs a user's token: an application's own token cannot be exchanged on a user's behalf.",
                403,
                C::None,
            ),
            K::DownstreamNotDeclared => (
                "DownstreamNotDeclared",
                "The function asked for a downstream API the app does not declare.",
                500,
                C::None,
            ),
            K::DownstreamNotConfigured => (
                "DownstreamNotConfigured",
                "The downstream API or the app's client credential is not configured.",
                500,
                C::None,
            ),
            K::DownstreamCredentialRejected => (
                "DownstreamCredentialRejected",
                "The token service refused the app's client credential.",
                500,
                C::None,
            ),
            K::DownstreamConsentRequired => (
                "DownstreamConsentRequired",
                "Consent to the downstream API's permissions is missing.",
                403,
                C::None,
            ),
            K::DownstreamTokenUnavailable => (
                "DownstreamTokenUnavailable",
                "Unable to get a token for the downstream API.",
                502,
                C::None,
            ),
            K::DownstreamUnavailable => (
                "DownstreamUnavailable",
                "The downstream API did not answer.",
                502,
                C::None,
            ),
            K::Custom {
                status,
                code,
                description,
            } => (code, description, status, C::None),
        }
    }

    /// The public `code` string.
    pub const fn code(self) -> &'static str {
        self.spec().0
    }

    /// The public `description` string.
    pub const fn description(self) -> &'static str {
        self.spec().1
    }

    /// The HTTP status.
    pub const fn status(self) -> u16 {
        self.spec().2
    }
}

/// An error on its way to the caller: its kind, a reason for `debug`, and extra headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// Which catalogue entry this is.
    pub kind: ErrorKind,
    /// The real reason in plain words; shown only when `AUTH_DEBUG_ERRORS=true`.
    pub reason: Option<String>,
    /// `Allow` for 405, `scope` for 403, `Retry-After` for 503.
    pub detail: Detail,
}

/// Extra data some kinds carry into their headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Detail {
    /// No extra header.
    #[default]
    None,
    /// Methods for the `Allow` header.
    Allow(String),
    /// Space-separated permissions for `WWW-Authenticate: ... scope="..."`.
    Scope(String),
    /// Seconds for `Retry-After`.
    RetryAfter(u64),
    /// The OpenID Connect claims request (JSON) of a claims challenge.
    Claims(String),
}

impl ApiError {
    /// An error of this kind with no reason attached.
    pub fn new(kind: ErrorKind) -> Self {
        ApiError {
            kind,
            reason: None,
            detail: Detail::None,
        }
    }

    /// A function's own error, rendered like the catalogue's (`{"code", "description"}`, with
    /// `debug` when enabled) and named by `code` in the call line and telemetry. A `status`
    /// outside 400–599 becomes 500.
    ///
    /// ```
    /// use funcgate::ApiError;
    ///
    /// let err = ApiError::custom(404, "ItemNotFound", "No item has this id.");
    /// assert_eq!((err.status(), err.code()), (404, "ItemNotFound"));
    /// ```
    pub fn custom(status: u16, code: &'static str, description: &'static str) -> Self {
        let status = if (400..=599).contains(&status) {
            status
        } else {
            500
        };
        ApiError::new(ErrorKind::Custom {
            status,
            code,
            description,
        })
    }

    /// The public `code`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// Attaches the plain-words reason shown in `debug`. Never pass token or secret material.
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Attaches header data.
    pub fn with(mut self, detail: Detail) -> Self {
        self.detail = detail;
        self
    }
}

/// Every kind, for building per-kind tables.
const ALL_KINDS: [ErrorKind; 35] = [
    ErrorKind::AuthorizationHeaderMissing,
    ErrorKind::HeaderNotBearer,
    ErrorKind::TokenNotFound,
    ErrorKind::HeaderFormat,
    ErrorKind::TokenUnparsable,
    ErrorKind::TokenExpired,
    ErrorKind::InvalidClaims,
    ErrorKind::KeyNotFound,
    ErrorKind::VaultError,
    ErrorKind::SecretNotFound,
    ErrorKind::HealthCheckFailed,
    ErrorKind::UnsupportedContentType,
    ErrorKind::RolesMissing,
    ErrorKind::RoleForbidden,
    ErrorKind::ScopeForbidden,
    ErrorKind::SecretNameMissing,
    ErrorKind::InvalidSecretName,
    ErrorKind::SigningKeysUnavailable,
    ErrorKind::NotFound,
    ErrorKind::MethodNotAllowed,
    ErrorKind::PayloadTooLarge,
    ErrorKind::InvalidRequestBody,
    ErrorKind::InsufficientClaims,
    ErrorKind::AuthenticationContextRequired,
    ErrorKind::ServiceBusy,
    ErrorKind::ReplyTooLarge,
    ErrorKind::InvalidReplyHeader,
    ErrorKind::OriginNotAllowed,
    ErrorKind::UserTokenRequired,
    ErrorKind::DownstreamNotDeclared,
    ErrorKind::DownstreamNotConfigured,
    ErrorKind::DownstreamCredentialRejected,
    ErrorKind::DownstreamConsentRequired,
    ErrorKind::DownstreamTokenUnavailable,
    ErrorKind::DownstreamUnavailable,
];

/// The `{"code","description"}` body of each kind, serialised once.
pub(crate) fn plain_body(kind: ErrorKind) -> &'static [u8] {
    static BODIES: LazyLock<Vec<(ErrorKind, Vec<u8>)>> = LazyLock::new(|| {
        ALL_KINDS
            .iter()
            .map(|k| {
                let body = serde_json::json!({"code": k.code(), "description": k.description()});
                (*k, body.to_string().into_bytes())
            })
            .collect()
    });
    BODIES
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(b"{}".as_slice(), |(_, body)| body.as_slice())
}

impl std::fmt::Display for ApiError {
    /// `code: description` (never the `debug` reason, which may name settings).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.kind.description())
    }
}

impl std::error::Error for ApiError {}

impl From<ErrorKind> for ApiError {
    fn from(kind: ErrorKind) -> Self {
        ApiError::new(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_prerendered_body() {
        // Every catalogue kind once (`Custom` is rendered per error): a kind added to the enum
        // and not here fails `spec`'s exhaustive match review and this count.
        assert_eq!(ALL_KINDS.len(), 35);
        for (i, kind) in ALL_KINDS.iter().enumerate() {
            assert!(!ALL_KINDS[..i].contains(kind), "{kind:?} listed twice");
            let v: serde_json::Value = serde_json::from_slice(plain_body(*kind)).unwrap();
            assert_eq!(v["code"], kind.code());
            assert_eq!(v["description"], kind.description());
        }
    }
}
