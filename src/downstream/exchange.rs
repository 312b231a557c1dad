//! Getting downstream tokens from Entra: the on-behalf-of exchange at the token endpoint with
//! the app's client credential, the managed identity's own tokens, and their cache.
//!
//! The flow follows Entra's `v2-oauth2-on-behalf-of-flow`: `POST {instance}/{tenant}/oauth2/
//! v2.0/token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, the caller's
//! token as `assertion`, `requested_token_use=on_behalf_of`, the scopes, and the app's
//! credential. `azure_identity` has no on-behalf-of credential, so the form is built here;
//! the managed identity's token (the recommended credential, with a federated identity
//! credential on the app registration) comes from `azure_identity`, as for Key Vault.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use azure_core::credentials::TokenCredential;
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
use serde::Deserialize;

use super::{DownstreamResponse, DownstreamToken, Outgoing};
use crate::auth::token::Identity;
use crate::errors::{ApiError, Detail, ErrorKind};
use crate::net;
use crate::telemetry::Telemetry;

/// A token is used until this long before it expires (or half its life, if shorter).
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// How long a token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The app's proof of identity at the token endpoint (`AUTH_CLIENT_CREDENTIAL`).
pub(crate) enum ClientCredential {
    /// `managed_identity`: a managed identity token for Entra's token-exchange audience,
    /// trusted by a federated identity credential on the app registration. No secret.
    ManagedIdentity,
    /// `certificate`: an assertion signed with the certificate's key, naming the
    /// certificate by its SHA-256 thumbprint (`x5t#S256`).
    Certificate {
        key: jsonwebtoken::EncodingKey,
        thumbprint: String,
    },
    /// `secret`: a client secret, for local development only.
    Secret(String),
}

impl ClientCredential {
    /// A name for logs (never the secret).
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            ClientCredential::ManagedIdentity => "managed identity federated credential",
            ClientCredential::Certificate { .. } => "certificate",
            ClientCredential::Secret(_) => "client secret",
        }
    }
}

/// Where tokens come from, from the settings.
pub(crate) struct ExchangeConfig {
    /// `AUTH_CLIENT_ID`: this API's app registration.
    pub(crate) client_id: String,
    /// `AUTH_INSTANCE`, without a trailing slash.
    pub(crate) instance: String,
    /// The tenant the token endpoint is asked in; `None` for a multi-tenant API (the
    /// caller's `tid`).
    pub(crate) tenant: Option<String>,
    /// `AUTH_METADATA_URL`: its discovery document names the token endpoint.
    pub(crate) metadata_url: Option<String>,
    /// `AUTH_CLIENT_CREDENTIAL`, when set.
    pub(crate) credential: Option<ClientCredential>,
    /// `AUTH_MANAGED_IDENTITY_CLIENT_ID`: a user-assigned managed identity.
    pub(crate) managed_identity_client_id: Option<String>,
}

/// A cached token, or a failure remembered briefly, and when it stops being used.
struct Cached {
    outcome: Result<Arc<str>, ApiError>,
    until: Instant,
}

/// How long a call waits for a token in all (others' fetches for its key included): a token
/// source that hangs must not queue callers one fetch after another.
const WAIT_BUDGET: Duration = Duration::from_secs(20);

/// How long a failed fetch is answered from memory, so callers waiting on a failing source
/// share one failure rather than each trying again.
const FAILURE_HOLD: Duration = Duration::from_secs(5);

/// The longest lifetime believed (a day): `expires_in` is the token service's number.
const MAX_LIFETIME: Duration = Duration::from_secs(86_400);

/// The largest token-endpoint answer read, and the largest `claims` passed on.
const MAX_TOKEN_ANSWER_BYTES: usize = 64 * 1024;
const MAX_CLAIMS_BYTES: usize = 8 * 1024;

/// Tokens for downstream APIs, cached.
pub(crate) struct Exchange {
    config: Option<ExchangeConfig>,
    http: net::Http,
    telemetry: Telemetry,
    cache: quick_cache::sync::Cache<[u8; 32], Arc<Cached>>,
    /// The managed identity's credential, built on first use.
    managed_identity: std::sync::OnceLock<Result<Arc<ManagedIdentityCredential>, String>>,
    /// The token endpoint found in `AUTH_METADATA_URL`'s document.
    discovered_endpoint: tokio::sync::OnceCell<String>,
    /// Whether the credential's refusal was logged (once: it is a setting to fix).
    warned: AtomicBool,
}

/// Entra's answer to a token request.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    error: Option<String>,
    #[serde(default)]
    error_codes: Vec<i64>,
    claims: Option<String>,
}

impl Exchange {
    /// Tokens from `config`, through `http`.
    pub(crate) fn new(config: ExchangeConfig, http: net::Http, telemetry: &Telemetry) -> Exchange {
        Exchange {
            config: Some(config),
            http,
            telemetry: telemetry.clone(),
            cache: quick_cache::sync::Cache::new(super::CACHE_ENTRIES),
            managed_identity: std::sync::OnceLock::new(),
            discovered_endpoint: tokio::sync::OnceCell::new(),
            warned: AtomicBool::new(false),
        }
    }

    /// No token source (no API declared).
    pub(crate) fn unconfigured(telemetry: &Telemetry) -> Exchange {
        Exchange {
            config: None,
            ..Exchange::new(
                ExchangeConfig {
                    client_id: String::new(),
                    instance: String::new(),
                    tenant: None,
                    metadata_url: None,
                    credential: None,
                    managed_identity_client_id: None,
                },
                net::Http::new(),
                telemetry,
            )
        }
    }

    fn config(&self) -> Result<&ExchangeConfig, ApiError> {
        self.config.as_ref().ok_or_else(|| {
            ApiError::new(ErrorKind::DownstreamNotConfigured)
                .because("no downstream API is declared")
        })
    }

    /// A token for `scopes` on behalf of `who`, whose validated token is `assertion`.
    pub(crate) async fn on_behalf_of(
        &self,
        who: &Identity,
        assertion: &str,
        scopes: &[String],
    ) -> Result<Arc<str>, ApiError> {
        let config = self.config()?;
        let Some(credential) = &config.credential else {
            return Err(ApiError::new(ErrorKind::DownstreamNotConfigured)
                .because("AUTH_CLIENT_CREDENTIAL is not set"));
        };
        let tenant = match (&config.tenant, &who.tenant_id) {
            (Some(tenant), _) => tenant.clone(),
            (None, Some(tid)) => tid.clone(),
            (None, None) => {
                return Err(ApiError::new(ErrorKind::UserTokenRequired)
                    .because("the caller's token names no tenant (tid)"));
            }
        };
        let scope = scopes.join(" ");
        let key = obo_key(assertion, &tenant, &scope);
        self.cached(key, async {
            let endpoint = self.token_endpoint(config, &tenant).await?;
            // The credential's proof first: the form is built after the last await, so the
            // future stays `Send` (MCP tools run on the SDK's tasks).
            let proof = match credential {
                ClientCredential::Secret(_) => None,
                ClientCredential::ManagedIdentity => Some(
                    self.managed_identity_token(&exchange_audience(config))
                        .await?,
                ),
                ClientCredential::Certificate { key, thumbprint } => Some(Arc::from(
                    signed_assertion(key, thumbprint, &config.client_id, &endpoint)?,
                )),
            };
            let form = {
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
                    .append_pair("client_id", &config.client_id)
                    .append_pair("assertion", assertion)
                    .append_pair("scope", &scope)
                    .append_pair("requested_token_use", "on_behalf_of");
                match (credential, &proof) {
                    (ClientCredential::Secret(secret), _) => {
                        form.append_pair("client_secret", secret);
                    }
                    (_, Some(proof)) => {
                        form.append_pair("client_assertion_type", ASSERTION_TYPE)
                            .append_pair("client_assertion", proof);
                    }
                    (_, None) => {}
                }
                form.finish()
            };
            self.request_token(&endpoint, form, credential).await
        })
        .await
    }

    /// A token for `scope` as the app, from its managed identity.
    pub(crate) async fn as_app(&self, scope: &str) -> Result<Arc<str>, ApiError> {
        self.config()?;
        let key = cache_key(&[b"app", scope.as_bytes()]);
        self.cached(key, async {
            let credential = self.managed_identity()?;
            let started = Instant::now();
            let item = self
                .telemetry
                .dependency("managed-identity", "IDENTITY_ENDPOINT");
            // The SDK's own read timeout is a minute, retried: too long for a caller.
            let answer =
                tokio::time::timeout(TOKEN_TIMEOUT, credential.get_token(&[scope], None)).await;
            item.finish(matches!(answer, Ok(Ok(_))), None);
            let answer = match answer {
                Ok(answer) => answer.map_err(|e| e.kind().to_string()),
                Err(_) => Err("timed out".to_owned()),
            };
            let token = answer.map_err(|why| {
                log::warn!(
                    "downstream: the managed identity gave no token for {scope:?} in {} ms: {why}",
                    started.elapsed().as_millis(),
                );
                ApiError::new(ErrorKind::DownstreamTokenUnavailable)
                    .because("the managed identity gave no token")
            })?;
            let lifetime = (token.expires_on - azure_core::time::OffsetDateTime::now_utc())
                .whole_seconds()
                .max(0) as u64;
            Ok((Arc::from(token.token.secret()), lifetime))
        })
        .await
    }

    /// The cached value for `key`, or the one `fetch` gets (one fetch per key at a time;
    /// the others wait for it).
    async fn cached(
        &self,
        key: [u8; 32],
        fetch: impl std::future::Future<Output = Result<(Arc<str>, u64), ApiError>>,
    ) -> Result<Arc<str>, ApiError> {
        if let Some(hit) = self.peek(&key) {
            return hit;
        }
        let wait = async {
            loop {
                match self.cache.get_value_or_guard_async(&key).await {
                    Ok(hit) if hit.until > Instant::now() => {
                        self.telemetry.count_downstream_token(true);
                        return hit.outcome.clone();
                    }
                    Ok(_) => {
                        // Expired: gone, and fetched again by whoever gets the guard.
                        self.cache.remove(&key);
                    }
                    Err(guard) => {
                        self.telemetry.count_downstream_token(false);
                        let (outcome, until) = match fetch.await {
                            Ok((secret, lifetime)) => {
                                let lifetime = Duration::from_secs(lifetime).min(MAX_LIFETIME);
                                let margin = EXPIRY_MARGIN.min(lifetime / 2);
                                (Ok(secret), Instant::now() + (lifetime - margin))
                            }
                            Err(e) => (Err(e), Instant::now() + FAILURE_HOLD),
                        };
                        let _ = guard.insert(Arc::new(Cached {
                            outcome: outcome.clone(),
                            until,
                        }));
                        return outcome;
                    }
                }
            }
        };
        tokio::time::timeout(WAIT_BUDGET, wait)
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::new(ErrorKind::DownstreamTokenUnavailable)
                    .because("no token within the wait budget"))
            })
    }

    /// A live cached token for `key`, without waiting on anything: the common case.
    pub(crate) fn peek(&self, key: &[u8; 32]) -> Option<Result<Arc<str>, ApiError>> {
        let hit = self
            .cache
            .get(key)
            .filter(|hit| hit.until > Instant::now())?;
        self.telemetry.count_downstream_token(true);
        Some(hit.outcome.clone())
    }

    /// Caches `secret` for `key` for `lifetime` (the benchmark's warm cache).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn prime(&self, key: [u8; 32], secret: &str, lifetime: Duration) {
        self.cache.insert(
            key,
            Arc::new(Cached {
                outcome: Ok(Arc::from(secret)),
                until: Instant::now() + lifetime,
            }),
        );
    }

    /// The token endpoint for `tenant`: Entra's, or the one `AUTH_METADATA_URL`'s document
    /// names.
    async fn token_endpoint(
        &self,
        config: &ExchangeConfig,
        tenant: &str,
    ) -> Result<String, ApiError> {
        let Some(metadata) = &config.metadata_url else {
            return Ok(format!("{}/{tenant}/oauth2/v2.0/token", config.instance));
        };
        self.discovered_endpoint
            .get_or_try_init(|| async {
                let document = self.http.get_json(metadata).await.map_err(|e| {
                    log::warn!("downstream: cannot read AUTH_METADATA_URL's document: {e}");
                    ApiError::new(ErrorKind::DownstreamTokenUnavailable)
                        .because("the discovery document could not be read")
                })?;
                document["token_endpoint"]
                    .as_str()
                    .and_then(|url| net::check_url(url).ok())
                    .map(|url| url.to_string())
                    .ok_or_else(|| {
                        log::warn!(
                            "downstream: AUTH_METADATA_URL's document names no https token_endpoint"
                        );
                        ApiError::new(ErrorKind::DownstreamTokenUnavailable)
                            .because("the discovery document names no usable token endpoint")
                    })
            })
            .await
            .cloned()
    }

    /// POSTs `form` to `endpoint` and reads Entra's answer.
    async fn request_token(
        &self,
        endpoint: &str,
        form: String,
        credential: &ClientCredential,
    ) -> Result<(Arc<str>, u64), ApiError> {
        let unavailable = || ApiError::new(ErrorKind::DownstreamTokenUnavailable);
        let client = self
            .http
            .client_ref()
            .map_err(|e| unavailable().because(e.to_string()))?;
        let host = reqwest::Url::parse(endpoint)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        let item = self.telemetry.dependency("token", &host);
        let sent = client
            .post(endpoint)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .timeout(TOKEN_TIMEOUT)
            .body(form)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                item.finish(false, None);
                log::warn!(
                    "downstream: the token endpoint {host} did not answer: {}",
                    transport(&e)
                );
                return Err(unavailable().because("the token endpoint did not answer"));
            }
        };
        let status = response.status().as_u16();
        let mut response = response;
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            if body.len() + chunk.len() > MAX_TOKEN_ANSWER_BYTES {
                item.finish(false, Some(status));
                return Err(unavailable().because("the token endpoint's answer is too large"));
            }
            body.extend_from_slice(&chunk);
        }
        item.finish((200..300).contains(&status), Some(status));
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            log::warn!("downstream: the token endpoint {host} answered {status} without JSON");
            unavailable().because("the token endpoint's answer is not JSON")
        })?;
        if let (Some(token), true) = (answer.access_token.as_deref(), (200..300).contains(&status))
        {
            // Seconds, as a number or a string; Entra sends whole numbers, others fractions.
            let seconds = match &answer.expires_in {
                Some(serde_json::Value::Number(n)) => n.as_f64(),
                Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            let lifetime = seconds
                .filter(|s| s.is_finite() && *s > 0.0)
                .map_or(0, |s| s.min(MAX_LIFETIME.as_secs_f64()) as u64);
            return Ok((Arc::from(token), lifetime));
        }
        Err(self.refusal(&answer, status, credential))
    }

    /// What a refused token request means for the caller (module docs of the error kinds).
    fn refusal(
        &self,
        answer: &TokenAnswer,
        status: u16,
        credential: &ClientCredential,
    ) -> ApiError {
        // Entra's text never reaches the caller: its `error` code (a fixed vocabulary) and
        // AADSTS numbers go to the log only, quoted.
        let code: String = answer
            .error
            .as_deref()
            .unwrap_or("none")
            .chars()
            .filter(|c| c.is_ascii_lowercase() || *c == '_')
            .take(40)
            .collect();
        let claims = answer
            .claims
            .as_deref()
            .filter(|c| !c.trim().is_empty() && c.len() <= MAX_CLAIMS_BYTES);
        match (code.as_str(), claims) {
            ("interaction_required" | "consent_required" | "invalid_grant", Some(claims)) => {
                log::info!(
                    "downstream: the token endpoint asks the caller to step up ({code:?}, AADSTS {:?})",
                    answer.error_codes
                );
                ApiError::new(ErrorKind::InsufficientClaims)
                    .because(format!("the token endpoint answered {code} with claims"))
                    .with(Detail::Claims(claims.to_owned()))
            }
            ("invalid_client", _) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "downstream: AUTH_CLIENT_CREDENTIAL ({}) was refused by the token endpoint ({code:?}, AADSTS {:?}): check the credential on the app registration",
                        credential.describe(),
                        answer.error_codes
                    );
                }
                ApiError::new(ErrorKind::DownstreamCredentialRejected)
                    .because(format!("the token endpoint answered {code}"))
            }
            ("consent_required" | "invalid_grant", None)
                if code == "consent_required" || answer.error_codes.contains(&65001) =>
            {
                ApiError::new(ErrorKind::DownstreamConsentRequired)
                    .because(format!("the token endpoint answered {code}"))
            }
            _ => {
                log::warn!(
                    "downstream: the token endpoint refused an exchange: {status} {code:?} (AADSTS {:?})",
                    answer.error_codes
                );
                ApiError::new(ErrorKind::DownstreamTokenUnavailable)
                    .because(format!("the token endpoint answered {status} {code}"))
            }
        }
    }

    /// The managed identity's credential.
    fn managed_identity(&self) -> Result<&Arc<ManagedIdentityCredential>, ApiError> {
        let client_id = self
            .config
            .as_ref()
            .and_then(|c| c.managed_identity_client_id.clone());
        self.managed_identity
            .get_or_init(|| {
                ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.map(UserAssignedId::ClientId),
                    ..Default::default()
                }))
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|why| {
                ApiError::new(ErrorKind::DownstreamNotConfigured)
                    .because(format!("no managed identity: {why}"))
            })
    }

    /// The managed identity's token for `audience` (the token-exchange audience), cached
    /// like any other token.
    async fn managed_identity_token(&self, audience: &str) -> Result<Arc<str>, ApiError> {
        self.as_app(&format!("{audience}/.default")).await
    }

    /// Sends `request` to the API at `base` with `token`.
    pub(crate) async fn send(
        &self,
        url: reqwest::Url,
        token: &DownstreamToken,
        request: Outgoing<'_>,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<DownstreamResponse, ApiError> {
        let unavailable = || ApiError::new(ErrorKind::DownstreamUnavailable);
        let client = self
            .http
            .client_ref()
            .map_err(|e| unavailable().because(e.to_string()))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let mut builder = client
            .request(request.method, url)
            .header("Authorization", token.authorization())
            .timeout(timeout);
        if let Some((content_type, body)) = request.body {
            builder = builder.header("Content-Type", content_type).body(body);
        }
        let item = self.telemetry.dependency("downstream", &host);
        let mut response = match builder.send().await {
            Ok(response) => response,
            Err(e) => {
                item.finish(false, None);
                log::warn!("downstream: {host} did not answer: {}", transport(&e));
                return Err(unavailable().because("the downstream API did not answer"));
            }
        };
        let status = response.status().as_u16();
        item.finish(status < 500, Some(status));
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() <= max_bytes => {
                    body.extend_from_slice(&chunk);
                }
                Ok(Some(_)) => {
                    return Err(unavailable().because("the downstream answer is too large"));
                }
                Ok(None) => break,
                Err(_) => return Err(unavailable().because("the downstream answer broke off")),
            }
        }
        Ok(DownstreamResponse {
            status,
            content_type,
            body: body.into(),
        })
    }
}

/// RFC 7523's client assertion type.
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The audience a managed identity's token must have to be a federated credential's proof,
/// per cloud (Entra's workload identity federation docs).
fn exchange_audience(config: &ExchangeConfig) -> String {
    let host = reqwest::Url::parse(&config.instance)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    match host.as_str() {
        "login.microsoftonline.us" => "api://AzureADTokenExchangeUSGov",
        "login.chinacloudapi.cn" | "login.partner.microsoftonline.cn" => {
            "api://AzureADTokenExchangeChina"
        }
        _ => "api://AzureADTokenExchange",
    }
    .to_owned()
}

/// A client assertion signed with the certificate's key (RFC 7523, Entra's certificate
/// credentials): `aud` the token endpoint, `iss` = `sub` the client id, ten minutes.
fn signed_assertion(
    key: &jsonwebtoken::EncodingKey,
    thumbprint: &str,
    client_id: &str,
    endpoint: &str,
) -> Result<String, ApiError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut jti = [0u8; 16];
    aws_lc_rs::rand::fill(&mut jti).map_err(|_| {
        ApiError::new(ErrorKind::DownstreamTokenUnavailable).because("no randomness for jti")
    })?;
    let jti: String = jti.iter().map(|b| format!("{b:02x}")).collect();
    // Entra pairs the SHA-256 thumbprint with PS256 (RS256 goes with the SHA-1 `x5t`).
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
    header.x5t_s256 = Some(thumbprint.to_owned());
    let claims = serde_json::json!({
        "aud": endpoint,
        "iss": client_id,
        "sub": client_id,
        "jti": jti,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    });
    jsonwebtoken::encode(&header, &claims, key).map_err(|_| {
        ApiError::new(ErrorKind::DownstreamCredentialRejected)
            .because("the certificate's key cannot sign")
    })
}

/// The cache key of an on-behalf-of token: the inbound token, tenant and scopes, hashed.
pub(crate) fn obo_key(assertion: &str, tenant: &str, scope: &str) -> [u8; 32] {
    cache_key(&[
        b"obo",
        assertion.as_bytes(),
        tenant.as_bytes(),
        scope.as_bytes(),
    ])
}

/// The cache key: SHA-256 over the parts, each length-prefixed (no two part lists collide).
fn cache_key(parts: &[&[u8]]) -> [u8; 32] {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(context.finish().as_ref());
    key
}

fn transport(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_keys_differ_by_every_part() {
        let a = cache_key(&[b"obo", b"token", b"tenant", b"scope"]);
        assert_ne!(a, cache_key(&[b"obo", b"token2", b"tenant", b"scope"]));
        assert_ne!(a, cache_key(&[b"obo", b"token", b"tenant2", b"scope"]));
        assert_ne!(a, cache_key(&[b"obo", b"token", b"tenant", b"scope2"]));
        // Boundaries count: ("ab", "c") is not ("a", "bc").
        assert_ne!(cache_key(&[b"ab", b"c"]), cache_key(&[b"a", b"bc"]));
    }

    #[test]
    fn the_exchange_audience_follows_the_cloud() {
        let config = |instance: &str| ExchangeConfig {
            client_id: String::new(),
            instance: instance.into(),
            tenant: None,
            metadata_url: None,
            credential: None,
            managed_identity_client_id: None,
        };
        assert_eq!(
            exchange_audience(&config("https://login.microsoftonline.com")),
            "api://AzureADTokenExchange"
        );
        assert_eq!(
            exchange_audience(&config("https://login.microsoftonline.us")),
            "api://AzureADTokenExchangeUSGov"
        );
        assert_eq!(
            exchange_audience(&config("https://login.chinacloudapi.cn")),
            "api://AzureADTokenExchangeChina"
        );
    }
}
