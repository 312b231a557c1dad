//! Calls to downstream APIs: as the signed-in caller (Entra's on-behalf-of flow) or as the
//! app itself (its managed identity).
//!
//! A team declares each API once, next to its functions
//! (`App::downstream("graph", Downstream::on_behalf_of(["https://graph.microsoft.com/User.Read"]))`),
//! and a function asks for a token (`req.downstream("graph").await?`) or calls it
//! (`req.downstream_api("graph")?.get("/v1.0/me").await?`). The caller's token leaves the
//! process only as the `assertion` of the token request; functions never see it.
//!
//! Tokens are cached by a SHA-256 of the inbound token, the tenant, the scopes and any
//! claims, never by the token itself, until `expires_in` minus a margin; one token request
//! per key however many calls wait for it; at most [`CACHE_ENTRIES`] entries.

mod exchange;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use serde::de::DeserializeOwned;

use crate::auth::token::Identity;
use crate::errors::{ApiError, ErrorKind};
use crate::telemetry::Telemetry;

pub(crate) use exchange::{ClientCredential, Exchange, ExchangeConfig};

/// Cached downstream tokens at most (each a few KB): the bound on the cache's memory.
pub(crate) const CACHE_ENTRIES: usize = 10_000;

/// How long a downstream call may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest downstream answer read into memory.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// A downstream API as the app's code declares it: how its tokens are got, and its base URL
/// unless the setting `DOWNSTREAM_<NAME>_URL` gives one.
#[derive(Clone, Debug)]
pub struct Downstream {
    pub(crate) kind: Kind,
    pub(crate) url: Option<String>,
}

/// How a downstream API's tokens are got.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// On behalf of the caller, for these scopes.
    OnBehalfOf(Vec<String>),
    /// As the app, with its managed identity, for this scope.
    AsApp(String),
}

impl Downstream {
    /// Tokens for `scopes` (full values: `https://graph.microsoft.com/User.Read`,
    /// `api://<other api>/Orders.Read`) on behalf of the signed-in caller.
    /// `DOWNSTREAM_<NAME>_SCOPES` (space-separated) replaces them.
    pub fn on_behalf_of<I, S>(scopes: I) -> Downstream
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Downstream {
            kind: Kind::OnBehalfOf(scopes.into_iter().map(|s| s.as_ref().to_owned()).collect()),
            url: None,
        }
    }

    /// Tokens for `scope` (`https://graph.microsoft.com/.default`) as the app itself, from
    /// its managed identity: for calls that are not the caller's.
    pub fn as_app(scope: &str) -> Downstream {
        Downstream {
            kind: Kind::AsApp(scope.to_owned()),
            url: None,
        }
    }

    /// The API's base URL (`https://graph.microsoft.com`); the setting
    /// `DOWNSTREAM_<NAME>_URL` replaces it. Needed only for [`DownstreamApi`] calls.
    pub fn url(mut self, base: &str) -> Downstream {
        self.url = Some(base.to_owned());
        self
    }
}

/// A bearer token for a downstream API: for that API only, never the caller's own.
#[derive(Clone)]
pub struct DownstreamToken {
    secret: Arc<str>,
}

impl DownstreamToken {
    /// The token, for an `Authorization: Bearer` header of your own.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `Bearer <token>`.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.secret)
    }
}

impl std::fmt::Debug for DownstreamToken {
    /// Never the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DownstreamToken(..)")
    }
}

/// A downstream API's answer.
#[derive(Clone, Debug)]
pub struct DownstreamResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Bytes,
}

impl DownstreamResponse {
    /// The body as JSON of type `T`: `502 DownstreamUnavailable` when it is not.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|_| {
            ApiError::new(ErrorKind::DownstreamUnavailable)
                .because("the downstream answer is not the JSON expected")
        })
    }
}

/// One declared API, its settings applied.
pub(crate) struct Api {
    /// The name as declared.
    pub(crate) name: String,
    /// Its base URL, checked and parsed at start-up.
    pub(crate) url: Option<reqwest::Url>,
    pub(crate) kind: Kind,
}

/// Every declared API and the means to get their tokens; built once at start-up.
pub(crate) struct Downstreams {
    apis: HashMap<String, Api>,
    exchange: Arc<Exchange>,
}

impl Downstreams {
    /// The APIs `apis` (settings applied), their tokens from `exchange`.
    pub(crate) fn new(apis: Vec<Api>, exchange: Exchange) -> Downstreams {
        Downstreams {
            apis: apis
                .into_iter()
                .map(|a| (a.name.to_ascii_lowercase(), a))
                .collect(),
            exchange: Arc::new(exchange),
        }
    }

    /// No API declared.
    pub(crate) fn none(telemetry: &Telemetry) -> Downstreams {
        Downstreams::new(Vec::new(), Exchange::unconfigured(telemetry))
    }

    fn api(&self, name: &str) -> Result<&Api, ApiError> {
        self.apis.get(&name.to_ascii_lowercase()).ok_or_else(|| {
            ApiError::new(ErrorKind::DownstreamNotDeclared)
                .because("the app declares no downstream API of that name (App::downstream)")
        })
    }

    /// A token for API `name` for this caller (`assertion` is the caller's validated token).
    pub(crate) async fn token(
        &self,
        name: &str,
        who: Option<&Identity>,
        assertion: Option<&str>,
    ) -> Result<DownstreamToken, ApiError> {
        let api = self.api(name)?;
        let secret = match &api.kind {
            Kind::OnBehalfOf(scopes) => {
                let (Some(who), Some(assertion)) = (who, assertion) else {
                    return Err(ApiError::new(ErrorKind::UserTokenRequired)
                        .because("this call has no caller's token to exchange"));
                };
                if !who.is_delegated() {
                    return Err(ApiError::new(ErrorKind::UserTokenRequired).because(
                        "an app-only token (no scp) cannot be exchanged on behalf of a user",
                    ));
                }
                self.exchange.on_behalf_of(who, assertion, scopes).await?
            }
            Kind::AsApp(scope) => self.exchange.as_app(scope).await?,
        };
        Ok(DownstreamToken { secret })
    }

    /// Sends a request to API `name` at `path` with a token for it.
    pub(crate) async fn call(
        &self,
        name: &str,
        who: Option<&Identity>,
        assertion: Option<&str>,
        request: Outgoing<'_>,
    ) -> Result<DownstreamResponse, ApiError> {
        let api = self.api(name)?;
        let Some(base) = &api.url else {
            return Err(
                ApiError::new(ErrorKind::DownstreamNotConfigured).because(format!(
                    "no base URL: set DOWNSTREAM_{}_URL",
                    setting_name(&api.name)
                )),
            );
        };
        let url = under_base(base, request.path).ok_or_else(|| {
            ApiError::new(ErrorKind::DownstreamNotConfigured)
                .because("a downstream path starts with one /, stays under the API's base URL and has no . or .. segment")
        })?;
        let token = self.token(name, who, assertion).await?;
        self.exchange
            .send(url, &token, request, CALL_TIMEOUT, MAX_ANSWER_BYTES)
            .await
    }
}

/// `base` + `path` when the result stays under the base URL: same origin, the base's path as
/// a prefix, no `.` or `..` segment (encoded or not), no backslash. A path is often built from
/// a caller's value, and a token for the API must not reach another of its paths.
fn under_base(base_url: &reqwest::Url, path: &str) -> Option<reqwest::Url> {
    let route = path.split(['?', '#']).next().unwrap_or("");
    let dotted = route.split('/').any(|segment| {
        let plain = segment.to_ascii_lowercase().replace("%2e", ".");
        plain == "." || plain == ".."
    });
    if !path.starts_with('/') || path.starts_with("//") || path.contains('\\') || dotted {
        return None;
    }
    let base = base_url.as_str().trim_end_matches('/');
    let url = reqwest::Url::parse(&format!("{base}{path}")).ok()?;
    let prefix = format!("{}/", base_url.path().trim_end_matches('/'));
    (url.origin() == base_url.origin()
        && (url.path().starts_with(&prefix) || url.path() == base_url.path()))
    .then_some(url)
}

/// A request to a downstream API.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: reqwest::Method,
    pub(crate) path: &'a str,
    pub(crate) body: Option<(&'a str, Vec<u8>)>,
}

/// The cached-token path, for the benchmark: a warm cache and the lookup a call makes.
#[doc(hidden)]
pub struct CachedTokenBench {
    exchange: Exchange,
}

impl CachedTokenBench {
    /// A cache holding one token for `assertion`'s exchange.
    pub fn new(assertion: &str) -> CachedTokenBench {
        let exchange = Exchange::unconfigured(&Telemetry::off());
        exchange.prime(
            exchange::obo_key(assertion, "tenant", "https://graph.microsoft.com/User.Read"),
            "cached-token",
            Duration::from_secs(3600),
        );
        CachedTokenBench { exchange }
    }

    /// What a call costs once its token is cached: the key (SHA-256 of the inbound token,
    /// tenant and scopes) and the lookup.
    pub fn lookup(&self, assertion: &str) -> bool {
        let key = exchange::obo_key(assertion, "tenant", "https://graph.microsoft.com/User.Read");
        self.exchange.peek(&key).is_some()
    }
}

/// `DOWNSTREAM_<NAME>_*`'s `<NAME>`: upper case, `-` and `.` as `_`.
pub(crate) fn setting_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// Calls to one downstream API from a function, with tokens for it (see
/// [`Request::downstream_api`](crate::Request::downstream_api)).
pub struct DownstreamApi<'a> {
    pub(crate) name: String,
    pub(crate) downstreams: &'a Downstreams,
    pub(crate) who: Option<&'a Identity>,
    pub(crate) assertion: Option<&'a str>,
}

impl DownstreamApi<'_> {
    /// `GET {base}{path}` (`path` starts with `/`).
    pub async fn get(&self, path: &str) -> Result<DownstreamResponse, ApiError> {
        self.send("GET", path, None).await
    }

    /// `method {base}{path}` with an optional body and its content type.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<DownstreamResponse, ApiError> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| {
            ApiError::new(ErrorKind::DownstreamNotConfigured).because("not an HTTP method")
        })?;
        self.downstreams
            .call(
                &self.name,
                self.who,
                self.assertion,
                Outgoing { method, path, body },
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_base_url() {
        let base = &reqwest::Url::parse("http://127.0.0.1:9/tenant-a/api").unwrap();
        assert_eq!(
            under_base(base, "/v1/me?x=1")
                .map(|u| u.to_string())
                .as_deref(),
            Some("http://127.0.0.1:9/tenant-a/api/v1/me?x=1")
        );
        for bad in [
            "/../../admin",
            "/%2e%2e/%2E%2e/admin",
            "/.%2e/other",
            "/./x",
            "//evil.example/x",
            "/\\evil",
            "v1/me",
            "",
        ] {
            assert!(under_base(base, bad).is_none(), "{bad}");
        }
        let graph = reqwest::Url::parse("https://graph.microsoft.com").unwrap();
        assert!(under_base(&graph, "/v1.0/me").is_some());
        // A name with dots is not a dot segment.
        assert!(under_base(base, "/files/a..b").is_some());
    }
}
