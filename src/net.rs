//! Outbound HTTP for metadata: one client, short timeouts, bounded bodies, https only.
//!
//! Proxies: the standard `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` variables are
//! honoured (reqwest reads them when the client is built), exactly as the Azure SDK honours
//! them for Key Vault, so both outbound paths go the same way. Start-up logs which variable is
//! in effect (never its value, which may hold credentials). There is no other discovery: no
//! PAC files, no system settings.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

/// Largest metadata body accepted.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Budget for one metadata request, connect to last byte.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a metadata document could not be fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// The HTTP client could not be built.
    Client(String),
    /// No answer: connection refused, timeout, TLS failure.
    Transport { url: String, reason: String },
    /// An answer other than 2xx.
    Status { url: String, status: u16 },
    /// A body over [`MAX_BODY_BYTES`].
    TooLarge { url: String },
    /// The body stopped arriving.
    Body { url: String, reason: String },
    /// The body is not JSON.
    NotJson { url: String, reason: String },
}

/// URLs are quoted: a `jwks_uri` comes from a discovery document, and URL parsing drops tabs
/// and line breaks, so a URL that fetches fine may still hold a line break that would forge a
/// log line when the failure is logged.
impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Client(why) => write!(f, "cannot build the HTTP client: {why}"),
            FetchError::Transport { url, reason } => write!(f, "GET {url:?} failed: {reason}"),
            FetchError::Status { url, status } => write!(f, "GET {url:?} answered {status}"),
            FetchError::TooLarge { url } => {
                write!(f, "GET {url:?}: body larger than {MAX_BODY_BYTES} bytes")
            }
            FetchError::Body { url, reason } => {
                write!(f, "GET {url:?}: reading the body failed: {reason}")
            }
            FetchError::NotJson { url, reason } => {
                write!(f, "GET {url:?}: invalid JSON: {reason}")
            }
        }
    }
}

/// Why a URL setting or document field is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum UrlError {
    /// It does not parse as a URL.
    NotAUrl { text: String, reason: String },
    /// Plain http to a host that is not loopback.
    PlainHttp(String),
    /// Another scheme, or no host.
    NotHttps(String),
    /// A base URL with a query, fragment or user (not echoed: it may hold a password).
    NotABase,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::NotAUrl { text, reason } => write!(f, "is not a URL ({reason}): {text:?}"),
            UrlError::PlainHttp(text) => write!(
                f,
                "must use https (http is allowed only for loopback hosts): {text:?}"
            ),
            UrlError::NotHttps(text) => write!(f, "must be an https URL: {text:?}"),
            UrlError::NotABase => f.write_str("must be a base URL: no query, fragment or user"),
        }
    }
}

/// A shared outbound client, built on first use: loading the TLS roots costs milliseconds
/// that start-up (and the host's readiness probe) should not wait for.
#[derive(Clone, Default)]
pub(crate) struct Http {
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
}

impl Http {
    /// A client that will use rustls, no redirects, and the proxy variables (module docs).
    pub(crate) fn new() -> Http {
        Http::default()
    }

    /// The client itself, for requests other than [`Http::get_json`] (downstream calls).
    pub(crate) fn client_ref(&self) -> Result<&reqwest::Client, FetchError> {
        self.client()
    }

    fn client(&self) -> Result<&reqwest::Client, FetchError> {
        self.client
            .get_or_init(|| {
                reqwest::Client::builder()
                    .timeout(REQUEST_TIMEOUT)
                    .connect_timeout(REQUEST_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("funcgate/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|why| FetchError::Client(why.clone()))
    }

    /// GETs a JSON document, refusing non-2xx answers and bodies over [`MAX_BODY_BYTES`].
    pub(crate) async fn get_json(&self, url: &str) -> Result<Value, FetchError> {
        let mut resp = self
            .client()?
            .get(url)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| FetchError::Transport {
                url: url.to_owned(),
                reason: describe(&e),
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
        };
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| FetchError::Body {
            url: url.to_owned(),
            reason: describe(&e),
        })? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| FetchError::NotJson {
            url: url.to_owned(),
            reason: e.to_string(),
        })
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        e.to_string()
    }
}

/// The proxy variables reqwest and the Azure SDK honour, in the order they look at them.
pub(crate) const PROXY_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// True for 127.0.0.0/8, ::1 and `localhost`.
pub(crate) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// Accepts `https` URLs, and plain `http` only for loopback hosts (test providers).
pub(crate) fn check_url(text: &str) -> Result<Url, UrlError> {
    let url = Url::parse(text).map_err(|e| UrlError::NotAUrl {
        text: text.to_owned(),
        reason: e.to_string(),
    })?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback_host(&url) => Ok(url),
        "http" => Err(UrlError::PlainHttp(text.to_owned())),
        _ => Err(UrlError::NotHttps(text.to_owned())),
    }
}

/// A base URL other paths are appended to: [`check_url`]'s rules, and no query, fragment or
/// user, which would ride along on every call (or carry a credential).
pub(crate) fn check_base_url(text: &str) -> Result<Url, UrlError> {
    let url = check_url(text)?;
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(UrlError::NotABase);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_carry_nothing_along() {
        assert!(check_base_url("https://graph.microsoft.com/v1.0").is_ok());
        for bad in [
            "https://graph.microsoft.com/?x=1",
            "https://graph.microsoft.com/#f",
            "https://user:secret@graph.microsoft.com",
            "http://graph.microsoft.com",
        ] {
            let err = check_base_url(bad).unwrap_err().to_string();
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn only_https_or_loopback_http() {
        assert!(check_url("https://login.microsoftonline.com").is_ok());
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert!(check_url("http://[::1]:8080").is_ok());
        assert!(check_url("http://localhost").is_ok());
        assert!(check_url("http://login.microsoftonline.com").is_err());
        assert!(check_url("http://10.0.0.1").is_err());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn fetch_errors_keep_a_urls_line_breaks_escaped() {
        let url = "https://127.0.0.1/keys\nforged line";
        // It parses: URL parsing drops line breaks, so only the message can keep it harmless.
        assert!(check_url(url).is_ok());
        let url = url.to_owned();
        for e in [
            FetchError::Transport {
                url: url.clone(),
                reason: "timed out".into(),
            },
            FetchError::Status {
                url: url.clone(),
                status: 404,
            },
            FetchError::TooLarge { url: url.clone() },
            FetchError::Body {
                url: url.clone(),
                reason: "reset".into(),
            },
            FetchError::NotJson {
                url: url.clone(),
                reason: "expected value".into(),
            },
        ] {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(
                text.contains(r#""https://127.0.0.1/keys\nforged line""#),
                "{text}"
            );
        }
    }
}

/// Browser origins allowed to call an MCP server (`MCP_ALLOWED_ORIGINS`): the transport's
/// defence against DNS rebinding, where a page on an attacker's name reaches a server by its
/// address. Requests without `Origin` (every non-browser client) are not affected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OriginList(Vec<AllowedOrigin>);

/// One entry: scheme, host (lower-case, IPv6 without brackets), and a port (`None`: any).
#[derive(Clone, Debug, PartialEq, Eq)]
struct AllowedOrigin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl OriginList {
    /// Parses `scheme://host[:port]` entries; `:*` allows any port. `Err` names the entry.
    pub(crate) fn parse<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<OriginList, String> {
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let (text, any_port) = match entry.strip_suffix(":*") {
                Some(head) => (head, true),
                None => (entry, false),
            };
            let url = url::Url::parse(text)
                .ok()
                .filter(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && u.host_str().is_some()
                        && matches!(u.path(), "" | "/")
                        && u.query().is_none()
                        && u.fragment().is_none()
                        && u.username().is_empty()
                })
                .ok_or_else(|| {
                    format!("{entry:?} is not an origin (scheme://host[:port], or :* for any port)")
                })?;
            out.push(AllowedOrigin {
                scheme: url.scheme().to_owned(),
                host: url
                    .host_str()
                    .unwrap_or_default()
                    .trim_matches(['[', ']'])
                    .to_owned(),
                port: if any_port {
                    None
                } else {
                    url.port_or_known_default()
                },
            });
        }
        Ok(OriginList(out))
    }

    /// Whether the `Origin` header value `origin` is allowed (`null` and anything that is
    /// not an origin never are).
    pub(crate) fn allows(&self, origin: &str) -> bool {
        let Ok(url) = url::Url::parse(origin.trim()) else {
            return false;
        };
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.trim_matches(['[', ']']);
        let port = url.port_or_known_default();
        self.0.iter().any(|a| {
            a.scheme == url.scheme()
                && a.host.eq_ignore_ascii_case(host)
                && (a.port.is_none() || a.port == port)
        })
    }
}
