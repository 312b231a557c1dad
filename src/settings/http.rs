//! `CORS_ALLOWED_ORIGINS`, `MAX_REQUEST_BODY_BYTES`, `REQUEST_BODY_TIMEOUT_SECONDS`,
//! `PUBLIC_BASE_URL`, `WEBSITE_AUTH_ENABLED`.

use std::time::Duration;

use super::source::Source;
use super::values::{number_in, seconds_in};
use super::{SettingError, fail};
use crate::cors::CorsOrigins;
use crate::net::OriginList;

/// Default `MAX_REQUEST_BODY_BYTES`: 1 MiB.
pub(crate) const DEFAULT_MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;
/// Largest `MAX_REQUEST_BODY_BYTES` accepted: 64 MiB (bodies are held in memory).
const MAX_MAX_REQUEST_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Default `REQUEST_BODY_TIMEOUT_SECONDS`.
pub(crate) const DEFAULT_REQUEST_BODY_TIMEOUT_SECONDS: u64 = 30;
/// Largest `REQUEST_BODY_TIMEOUT_SECONDS` accepted.
const MAX_REQUEST_BODY_TIMEOUT_SECONDS: u64 = 600;

/// How much of a request body funcgate reads, and how long it waits for it.
#[derive(Clone, Debug)]
pub(crate) struct BodyLimits {
    /// `MAX_REQUEST_BODY_BYTES` (default 1 MiB): larger bodies get `413 PayloadTooLarge`.
    pub(crate) max_bytes: usize,
    /// `REQUEST_BODY_TIMEOUT_SECONDS` (default 30): a body still arriving then is cut off.
    pub(crate) timeout: Duration,
}

/// Room in an invocation payload for everything but the body (headers, query, metadata).
const INVOCATION_OVERHEAD_BYTES: usize = 256 * 1024;

impl BodyLimits {
    /// Largest invocation payload read; larger ones get `413 PayloadTooLarge`. The body inside
    /// is JSON-escaped, which can take several bytes per byte, so the payload may be a few
    /// times the body limit; the gateway then applies `MAX_REQUEST_BODY_BYTES` to the body.
    pub(crate) fn max_invocation_bytes(&self) -> usize {
        self.max_bytes
            .saturating_mul(4)
            .saturating_add(INVOCATION_OVERHEAD_BYTES)
    }
}

pub(super) fn body_limits(source: &Source) -> Result<BodyLimits, SettingError> {
    Ok(BodyLimits {
        max_bytes: number_in(
            source,
            "MAX_REQUEST_BODY_BYTES",
            DEFAULT_MAX_REQUEST_BODY_BYTES,
            0..=MAX_MAX_REQUEST_BODY_BYTES,
            "bytes",
        )?,
        timeout: seconds_in(
            source,
            "REQUEST_BODY_TIMEOUT_SECONDS",
            DEFAULT_REQUEST_BODY_TIMEOUT_SECONDS,
            1..=MAX_REQUEST_BODY_TIMEOUT_SECONDS,
        )?,
    })
}

/// `CORS_ALLOWED_ORIGINS`: `*`, or origins like `https://app.example.com`; unset: none.
pub(super) fn cors_origins(source: &Source) -> Result<CorsOrigins, SettingError> {
    const NAME: &str = "CORS_ALLOWED_ORIGINS";
    let Some(text) = source.get(NAME) else {
        return Ok(CorsOrigins::List(Vec::new()));
    };
    let mut list = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry == "*" {
            return Ok(CorsOrigins::Any);
        }
        let url = reqwest::Url::parse(entry)
            .or_else(|_| fail(NAME, format!("{entry:?} is not an origin")))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host_str().is_none()
            || url.path() != "/"
            || url.query().is_some()
        {
            return fail(
                NAME,
                format!("{entry:?} is not an origin like https://app.example.com"),
            );
        }
        list.push(url.origin().ascii_serialization());
    }
    Ok(CorsOrigins::List(list))
}

/// `PUBLIC_BASE_URL`: the app's public https base URL (the OAuth resource identifier of RFC
/// 9728), never derived from `Host` (a Function App sits behind a front end). Plain http only
/// for a loopback host (tests). `None` when unset.
pub(super) fn public_base_url(source: &Source) -> Result<Option<String>, SettingError> {
    const NAME: &str = "PUBLIC_BASE_URL";
    let Some(text) = source.get(NAME) else {
        return Ok(None);
    };
    let shape = "must be the app's public https URL, like https://my-app.azurewebsites.net";
    let Ok(url) = url::Url::parse(text) else {
        return fail(NAME, shape);
    };
    let allowed =
        url.scheme() == "https" || (url.scheme() == "http" && crate::net::is_loopback_host(&url));
    // The host goes into WWW-Authenticate's quoted resource_metadata: letters, digits, dots,
    // dashes (and an IPv6 literal's brackets and colons) only. The document is served at the
    // root (RFC 9728 puts a resource's path after the well-known segment), so no path either.
    let plain_host = url.host_str().is_some_and(|h| {
        h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
    });
    if !allowed
        || !plain_host
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return fail(NAME, shape);
    }
    Ok(Some(url.as_str().trim_end_matches('/').to_owned()))
}

/// `MCP_ALLOWED_ORIGINS`: comma-separated origins (`https://app.contoso.com`,
/// `http://localhost:*`) a browser may call the app's MCP servers from. Unset: the origin of
/// `PUBLIC_BASE_URL` and loopback origins on any port (local tools and inspectors).
pub(super) fn mcp_origins(
    source: &Source,
    public_base_url: Option<&str>,
) -> Result<OriginList, SettingError> {
    const NAME: &str = "MCP_ALLOWED_ORIGINS";
    if let Some(text) = source.get(NAME) {
        return OriginList::parse(text.split(',')).or_else(|problem| fail(NAME, problem));
    }
    let mut defaults = vec![
        "http://localhost:*".to_owned(),
        "http://127.0.0.1:*".to_owned(),
        "http://[::1]:*".to_owned(),
    ];
    if let Some(base) = public_base_url
        && let Ok(url) = url::Url::parse(base)
    {
        defaults.push(url.origin().ascii_serialization());
    }
    OriginList::parse(defaults.iter().map(String::as_str)).or_else(|problem| fail(NAME, problem))
}
