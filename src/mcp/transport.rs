//! One MCP request through the gate: the checks funcgate makes before the SDK sees the
//! request (its `Origin`, the 2026-07-28 routing headers, the called tool's rule), then the
//! SDK's stateless Streamable HTTP service, its reply turned into a [`Reply`].
//!
//! The SDK's transport is used whole (its validation of versions, `_meta` and headers, its
//! JSON-or-event-stream choice) because the protocol is its job; funcgate keeps the
//! decisions an authorization gateway makes, in the order the spec gives them: routing
//! headers are checked against the body before any per-tool decision.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;

use super::{Caller, Server, ToolOutcome};
use crate::errors::{ApiError, Detail, ErrorKind};
use crate::functions::{Outcome, Request};
use crate::reply::Reply;

/// The first revision whose requests carry `Mcp-Method` / `Mcp-Name`.
const STANDARD_HEADERS_VERSION: &str = "2026-07-28";

/// The JSON-RPC methods the call line names as they are; anything else is `other` (the
/// method is the caller's text).
const KNOWN_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "subscriptions/listen",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
];

/// The SDK's service for one server, shared by every request.
pub(crate) struct Transport<H: ServerHandler> {
    server: Arc<Server<H>>,
    service: StreamableHttpService<Arc<Server<H>>, NeverSessionManager>,
}

impl<H: ServerHandler> Clone for Transport<H> {
    fn clone(&self) -> Self {
        Transport {
            server: Arc::clone(&self.server),
            service: self.service.clone(),
        }
    }
}

impl<H: ServerHandler> Transport<H> {
    pub(crate) fn new(server: Arc<Server<H>>) -> Transport<H> {
        let config = StreamableHttpServerConfig::default()
            // Stateless: every POST stands alone, as the Functions profile runs it (any
            // instance may take any request).
            .with_legacy_session_mode(false)
            // JSON for a plain answer; an event stream once a tool reports progress.
            .with_json_response(true)
            .with_sse_keep_alive(None)
            // funcgate checks `Origin` itself, before the gate's other decisions, against
            // its own allow-list; behind the Functions host `Host` is the app's public name,
            // which the SDK's loopback default would refuse.
            .disable_allowed_hosts()
            .disable_allowed_origins();
        let factory = {
            let server = Arc::clone(&server);
            // The SDK asks for a handler per request: a clone of one `Arc`.
            move || Ok(Arc::clone(&server))
        };
        Transport {
            server,
            service: StreamableHttpService::new(
                factory,
                Arc::new(NeverSessionManager::default()),
                config,
            ),
        }
    }

    /// Answers one request that passed the endpoint's rule.
    pub(crate) async fn serve(&self, req: Request) -> Outcome {
        let services = req.services_arc();
        if let Some(origin) = req.header("origin")
            && !services.mcp_origins.allows(&origin)
        {
            return Ok(Reply::refusal(
                ApiError::new(ErrorKind::OriginNotAllowed)
                    .because("the Origin is not in MCP_ALLOWED_ORIGINS"),
            )
            .noted(&Notes::default(), "refused"));
        }
        let body = req.body_bytes();
        let message: Option<Message> = serde_json::from_slice(&body).ok();
        let mut notes = Notes::default();
        if let Some(m) = &message {
            notes.method = Some(
                KNOWN_METHODS
                    .iter()
                    .find(|k| **k == m.method)
                    .copied()
                    .unwrap_or("other"),
            );
            if m.method == "tools/call" {
                notes.tool = m
                    .name()
                    .filter(|name| self.server.knows(name))
                    .map(str::to_owned)
                    .or(Some("-".to_owned()));
            }
            if let Err(reason) = routing_headers(&req, m) {
                return Ok(mismatch(m, &reason).noted(&notes, "protocol_error"));
            }
        }
        // Who is calling: the gate's identity, or (under an `anonymous` server rule) a token
        // that came anyway, which must then be valid.
        let mut identity = req.identity_arc().cloned();
        let authorization = req.header("authorization");
        if identity.is_none() && authorization.is_some() {
            match services.guard.authenticate(authorization.as_deref()).await {
                Ok(who) => identity = Some(who),
                Err(err) => return Ok(Reply::refusal(err).noted(&notes, "refused")),
            }
        }
        if let Some(name) = message
            .as_ref()
            .filter(|m| m.method == "tools/call")
            .and_then(Message::name)
            && let Some((policy, scopes)) = self.server.rule(name)
        {
            let decision = match identity.as_deref() {
                Some(who) => policy.check(who),
                None if self.server.tool_needs_token(name) => {
                    services.guard.authenticate(None).await.map(|_| ())
                }
                None => Ok(()),
            };
            if let Err(err) = decision {
                let err = with_tool_scopes(err, scopes, services);
                return Ok(Reply::refusal(err).noted(&notes, "refused"));
            }
        }
        let mut headers = req.headers().clone();
        headers.remove("authorization");
        let caller = Arc::new(Caller {
            identity,
            services: Arc::clone(services),
            headers,
            outcome: Mutex::new(None),
        });
        let request = match to_http(&req, body, Arc::clone(&caller)) {
            Ok(request) => request,
            Err(reason) => {
                return Err(ApiError::new(ErrorKind::InvalidRequestBody).because(reason));
            }
        };
        let response = self.service.handle(request).await;
        let reply = from_http(response).await;
        let outcome = match caller.outcome.lock().ok().and_then(|slot| *slot) {
            Some(ToolOutcome::Ok) => "ok",
            Some(ToolOutcome::ToolError) => "tool_error",
            None if reply.status >= 400 || is_jsonrpc_error(&reply.body) => "protocol_error",
            None => "ok",
        };
        Ok(reply.noted(&notes, outcome))
    }
}

/// The request line of a JSON-RPC message: what the gate decides on.
#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    method: String,
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    params: Option<Params>,
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    uri: Option<String>,
}

impl Message {
    /// The tool or prompt name (`params.name`), or the resource (`params.uri`) it names.
    fn name(&self) -> Option<&str> {
        let params = self.params.as_ref()?;
        match self.method.as_str() {
            "tools/call" | "prompts/get" => params.name.as_deref(),
            "resources/read" => params.uri.as_deref(),
            _ => None,
        }
    }
}

/// The 2026-07-28 routing headers against the body: `Mcp-Method` must be the body's method
/// and, for a call that names a tool, prompt or resource, `Mcp-Name` its name (a gateway may
/// route on either without reading the body). Earlier revisions do not send them.
fn routing_headers(req: &Request, m: &Message) -> Result<(), String> {
    let version = req.header("mcp-protocol-version").unwrap_or_default();
    if version.trim() < STANDARD_HEADERS_VERSION || m.method.is_empty() {
        return Ok(());
    }
    let single = |name: &str| -> Result<Option<&str>, String> {
        let mut values = req
            .headers()
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = values.next().map(|(_, v)| v);
        if values.next().is_some() {
            return Err(format!("{name} appears more than once"));
        }
        Ok(first)
    };
    match single("mcp-method")? {
        None => return Err("missing required Mcp-Method header".to_owned()),
        Some(value) if value != m.method => {
            return Err("Mcp-Method header does not match the body's method".to_owned());
        }
        Some(_) => {}
    }
    if let Some(expected) = m.name() {
        let Some(raw) = single("mcp-name")? else {
            return Err("missing required Mcp-Name header".to_owned());
        };
        let decoded = match raw
            .strip_prefix("=?base64?")
            .and_then(|inner| inner.strip_suffix("?="))
        {
            Some(inner) => base64::engine::general_purpose::STANDARD
                .decode(inner)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| "Mcp-Name header is not valid Base64".to_owned())?,
            None => raw.to_owned(),
        };
        if decoded != expected {
            return Err("Mcp-Name header does not match the body".to_owned());
        }
    }
    Ok(())
}

/// The SDK's answer to a routing header that disagrees with the body: JSON-RPC
/// `-32020 HeaderMismatch` in a 400, with the request's id.
fn mismatch(m: &Message, reason: &str) -> Reply {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": m.id,
        "error": {"code": -32020, "message": reason},
    });
    Reply::json(400, &body)
}

/// A tool's refusal as the MCP authorization spec asks: the `scope` of a 403 names every
/// scope the tool accepts, as full values a client can request.
fn with_tool_scopes(
    err: ApiError,
    scopes: &[String],
    services: &crate::services::Services,
) -> ApiError {
    if !matches!(err.detail, Detail::Scope(_)) {
        return err;
    }
    if scopes.is_empty() {
        // A rule of roles only: a role is not a scope a client can request (Entra would read
        // a bare name as a Microsoft Graph scope), so the challenge names none.
        return ApiError {
            detail: Detail::None,
            ..err
        };
    }
    let full: Vec<String> = scopes.iter().map(|s| services.full_scope(s)).collect();
    err.with(Detail::Scope(full.join(" ")))
}

/// The request as the SDK's service takes it: the method, the headers (never
/// `Authorization`), the body already read, and the caller in its extensions.
fn to_http(
    req: &Request,
    body: actix_web::web::Bytes,
    caller: Arc<Caller>,
) -> Result<http::Request<http_body_util::Full<bytes::Bytes>>, String> {
    let mut builder = http::Request::builder().method(http::Method::POST).uri("/");
    for (name, value) in caller.headers.iter() {
        builder = builder.header(name, value);
    }
    let mut request = builder.body(http_body_util::Full::new(body)).map_err(|_| {
        format!(
            "a header of the {} request cannot be passed on",
            req.method()
        )
    })?;
    request.extensions_mut().insert(caller);
    Ok(request)
}

/// The SDK's reply as a [`Reply`]: a JSON body read whole; an event stream passed on as it
/// is produced.
async fn from_http(
    response: http::Response<
        http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>,
    >,
) -> Reply {
    let (parts, body) = response.into_parts();
    let status = parts.status.as_u16();
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut reply = if content_type.starts_with("text/event-stream") {
        let frames = body
            .into_data_stream()
            .filter_map(|frame| async move { frame.ok() });
        Reply::stream(status, "text/event-stream", frames)
    } else {
        let bytes = body
            .collect()
            .await
            .map(|collected| collected.to_bytes().to_vec())
            .unwrap_or_default();
        let mut reply = Reply::with_json_body(status, bytes);
        if content_type.is_empty() {
            reply.headers.retain(|(name, _)| *name != "Content-Type");
        } else {
            reply.header("Content-Type", content_type);
        }
        reply
    };
    for (name, kept) in [
        (http::header::ALLOW, "Allow"),
        (http::header::RETRY_AFTER, "Retry-After"),
    ] {
        if let Some(value) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
            reply.header(kept, value.to_owned());
        }
    }
    reply
}

/// Whether a JSON body is a JSON-RPC error.
fn is_jsonrpc_error(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Shape {
        error: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Shape>(body).is_ok_and(|s| s.error.is_some())
}

/// What the call line says of an MCP request.
#[derive(Default)]
struct Notes {
    method: Option<&'static str>,
    tool: Option<String>,
}

trait Noted {
    fn noted(self, notes: &Notes, outcome: &'static str) -> Reply;
}

impl Noted for Reply {
    fn noted(mut self, notes: &Notes, outcome: &'static str) -> Reply {
        self.note("mcp_method", notes.method.unwrap_or("-").to_owned());
        if let Some(tool) = &notes.tool {
            self.note("mcp_tool", tool.clone());
        }
        self.note("mcp_outcome", outcome.to_owned());
        self
    }
}
