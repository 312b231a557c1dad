//! One MCP request through the gate: the checks funcgate makes before the SDK sees the
//! request (its `Origin`, the 2026-07-28 routing headers, the called tool's rule), then the
//! SDK's stateless Streamable HTTP service, its reply turned into a [`Reply`].
//!
//! The SDK's transport is used whole (its validation of versions, `_meta` and headers, its
//! JSON-or-event-stream choice) because the protocol is its job; funcgate keeps the
//! decisions an authorization gateway makes, in the order the spec gives them: routing
//! headers are checked against the body before any per-tool decision.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Answered, Caller, Server, ToolArguments, ToolInput, ToolOutcome};
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

impl<H: ServerHandler> Transport<H> {
    pub(crate) fn new(server: Arc<Server<H>>) -> Transport<H> {
        let mut config = StreamableHttpServerConfig::default()
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
        // The body reaches the SDK whole, already held to the app's MAX_REQUEST_BODY_BYTES by
        // the gateway; the SDK's own 4 MiB limit would refuse, on its path only, what the
        // team's setting allows and the direct path answers.
        config.max_request_body_bytes = usize::MAX;
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
    ///
    /// A plain function returning an `async move` block rather than an `async fn`: an async
    /// fn's future holds its arguments twice (as captured and as locals), and this future is
    /// allocated for every request, where one under a kilobyte stays in the allocator's
    /// per-thread cache.
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    pub(crate) fn serve(
        self: Arc<Self>,
        mut req: Request,
    ) -> impl Future<Output = Outcome> + 'static {
        async move {
            let services = &Arc::clone(req.services_arc());
            if let Some(origin) = req.header("origin")
                && !services.mcp_origins.allows(&origin)
            {
                return Ok(Reply::refusal(
                    ApiError::new(ErrorKind::OriginNotAllowed)
                        .because("the Origin is not in MCP_ALLOWED_ORIGINS"),
                )
                .noted(Notes::default(), "refused"));
            }
            if req.method() != "POST" {
                // A folder whose function.json allows more methods still serves POST only.
                return Err(ApiError::new(ErrorKind::MethodNotAllowed)
                    .with(Detail::Allow("POST".to_owned())));
            }
            let body = req.body_bytes();
            // The gate decides on what it reads here and nothing else: a body it cannot read is
            // answered here, never passed on for the SDK to read differently.
            let m = match read_message(&body) {
                Ok(m) => m,
                Err(refusal) => return Ok(refusal),
            };
            let mut notes = Notes {
                method: Some(
                    KNOWN_METHODS
                        .iter()
                        .find(|k| Some(**k) == m.method())
                        .copied()
                        .unwrap_or("other"),
                ),
                tool: None,
            };
            let id = m.id.clone();
            if let Some(serde_json::Value::String(text)) = &id
                && text.chars().any(char::is_control)
            {
                // Ids come back in answers and in the SDK's own messages: no line breaks.
                return Ok(jsonrpc_error(
                    None,
                    -32600,
                    "Invalid request: the id holds a control character",
                )
                .noted(notes, "protocol_error"));
            }
            // An id the SDK cannot read (a fraction, beyond an i64, null, an object) would get
            // its plain-text 415: answered here as JSON-RPC, with the SDK's own reading.
            let readable = match &id {
                None | Some(serde_json::Value::String(_)) => true,
                Some(other) => rmcp::model::NumberOrString::deserialize(other).is_ok(),
            };
            if !readable {
                return Ok(jsonrpc_error(
                    None,
                    -32600,
                    "Invalid request: the id must be a string or an integer",
                )
                .noted(notes, "protocol_error"));
            }
            let tool_call = m.method() == Some("tools/call");
            let params = match m.params() {
                Ok(params) => params,
                Err(reason) => {
                    return Ok(jsonrpc_error(id, -32602, reason).noted(notes, "protocol_error"));
                }
            };
            let name = params.name.as_deref();
            // The called tool, if it is one of the server's: its name is then safe to log.
            let tool = name
                .filter(|_| tool_call)
                .and_then(|name| self.server.tool(name));
            if tool_call {
                notes.tool =
                    Some(tool.map_or_else(|| "-".to_owned(), |t| t.definition.name.to_string()));
            }
            // The headers the transport decides on, found in one pass.
            let seen = Seen::read(&req);
            if let Err(reason) = seen.routing(&req, m.method(), name) {
                return Ok(jsonrpc_error(id, -32020, &reason).noted(notes, "protocol_error"));
            }
            let json_in = seen.json_in();
            let plain_headers = seen.plain_call(json_in);
            // Who is calling: the gate's identity, or (under an `anonymous` server rule) a token
            // that came anyway, which must then be valid.
            let mut identity = req.identity_arc().cloned();
            let authorization = req.take_authorization();
            if identity.is_none() && authorization.is_some() {
                // Boxed, as this is the rare path (a token under an `anonymous` server rule) and
                // validation's future would otherwise enlarge every request's.
                match Box::pin(services.guard.authenticate(authorization.as_deref())).await {
                    Ok(who) => identity = Some(who),
                    Err(err) => return Ok(Reply::refusal(err).noted(notes, "refused")),
                }
            }
            if let Some(tool) = tool {
                let decision = match identity.as_deref() {
                    Some(who) => tool.policy.check(who),
                    // No identity and a token would have been validated above: none came.
                    None if !tool.policy.is_anonymous() => {
                        Err(ApiError::new(ErrorKind::AuthorizationHeaderMissing))
                    }
                    None => Ok(()),
                };
                if let Err(err) = decision {
                    let err = services.as_mcp_refusal(err, tool.scopes.iter().map(String::as_str));
                    return Ok(Reply::refusal(err).noted(notes, "refused"));
                }
            }
            let plain = tool.is_some_and(|t| t.plain)
                && m.jsonrpc.as_ref().is_some_and(|v| v.0 == "2.0")
                // An id the SDK reads as it came: a string, or an integer an i64 holds (it
                // refuses larger ones and rewrites `1e3` as `1000`).
                && match &id {
                    Some(serde_json::Value::Number(n)) => n.is_i64(),
                    Some(serde_json::Value::String(_)) => true,
                    _ => false,
                }
                && plain_headers
                && !params.sdk_only
                && !m.result
                && !m.error;
            // The request's own headers, moved: the tool's request is the last to need them.
            let mut headers = req.take_headers();
            // Credentials are the gate's, not the tools': the caller's token, cookies (App Service
            // Authentication's session), the platform's token store, function keys.
            headers.retain(|name| {
                !matches!(
                    name,
                    "authorization" | "proxy-authorization" | "cookie" | "x-functions-key"
                ) && !name.starts_with("x-ms-token-")
            });
            if plain && let Some(tool) = tool {
                // Read straight into the tool's type; an absent `arguments` is the empty object,
                // anything but an object is the SDK's to answer.
                let arguments = params.arguments.map_or("{}", RawValue::get);
                if arguments.starts_with('{') {
                    let request =
                        Request::for_tool(headers, identity, authorization, Arc::clone(services));
                    // The rule was checked above; the SDK's service is not needed.
                    let result =
                        (tool.run)(ToolArguments::text(arguments), ToolInput::Plain(request))
                            .await
                            .0;
                    let outcome = match &result {
                        Ok(answer) if answer.is_error() => "tool_error",
                        Ok(Answered::Sdk(rmcp::model::CallToolResponse::Complete(_)))
                        | Ok(Answered::Object(_) | Answered::ObjectText(_)) => "ok",
                        _ => "protocol_error",
                    };
                    return Ok(plain_answer(id, result).noted(notes, outcome));
                }
            }
            let caller = Arc::new(Caller {
                authorization,
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
            // Boxed: the SDK's service future is kilobytes large, and held inline it made every
            // request's future that large, the direct path's included (allocated outside the
            // allocator's small-object cache, then copied, on every call).
            let (reply, outcome) = Box::pin(self.through_sdk(request, &caller)).await;
            Ok(as_jsonrpc(reply, id, json_in).noted(notes, outcome))
        }
    }

    /// The SDK's answer to `request`, and the outcome the call line gives it.
    async fn through_sdk(
        &self,
        request: http::Request<http_body_util::Full<bytes::Bytes>>,
        caller: &Caller,
    ) -> (Reply, &'static str) {
        let response = self.service.handle(request).await;
        let reply = from_http(response).await;
        let outcome = match caller.outcome.lock().ok().and_then(|slot| *slot) {
            Some(ToolOutcome::Ok) => "ok",
            Some(ToolOutcome::ToolError) => "tool_error",
            None if reply.status >= 400 || is_jsonrpc_error(&reply.body) => "protocol_error",
            None => "ok",
        };
        (reply, outcome)
    }
}

/// The nesting serde_json refuses (its recursion limit: 127 levels are read, a 128th is
/// not), which the SDK's reader of the whole body applies.
const SDK_NESTING: usize = 128;

/// Whether serde_json, reading all of `body`, might refuse what the gate's reader (which
/// skips members unread) accepts: a `\u` escape (a lone surrogate is refused once decoded),
/// a number with an exponent or a long run of digits (beyond an `f64`: "number out of
/// range"), or as many opening brackets as the nesting it refuses. Necessary conditions only,
/// found with byte searches: serde_json itself decides, and only for bodies that meet one.
fn may_be_refused_whole(body: &[u8]) -> bool {
    /// An integer needs this many digits to be beyond an `f64` (not all of them are).
    const OVERFLOWING_DIGITS: usize = 309;
    let escape = memchr::memchr_iter(b'\\', body).any(|at| body.get(at + 1) == Some(&b'u'));
    let exponent = memchr::memchr2_iter(b'e', b'E', body).any(|at| {
        at.checked_sub(1)
            .and_then(|before| body.get(before))
            .is_some_and(u8::is_ascii_digit)
    });
    if escape || exponent {
        return true;
    }
    // Deep nesting and long numbers both take more bytes than most messages have.
    if body.len() >= SDK_NESTING
        && body.iter().filter(|b| matches!(b, b'[' | b'{')).count() >= SDK_NESTING
    {
        return true;
    }
    body.len() >= OVERFLOWING_DIGITS
        && body
            .split(|b| !b.is_ascii_digit())
            .any(|run| run.len() >= OVERFLOWING_DIGITS)
}

/// The body as one JSON-RPC message, or the JSON-RPC error that answers it.
fn read_message(body: &[u8]) -> Result<Message<'_>, Reply> {
    // One object: a derived reader would also take an array, by position.
    let object = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    // UTF-8 checked whole first: JSON text is UTF-8, and the reader skips the members the
    // gate does not read without checking them (the SDK would refuse the body).
    let not_json = || {
        jsonrpc_error(None, -32700, "Parse error: the body is not JSON")
            .noted(Notes::default(), "protocol_error")
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(not_json());
    };
    // The SDK reads the whole body, with a plain-text 415 for what serde_json refuses there;
    // the gate's reader skips what it does not read, unchecked. A body serde_json might
    // refuse whole is read whole once, so that the gate refuses what the SDK would, as
    // JSON-RPC, before the tool's rule or the tool sees it.
    if may_be_refused_whole(body) && serde_json::from_str::<serde_json::Value>(text).is_err() {
        return Err(not_json());
    }
    let read = if object {
        serde_json::from_str::<Message>(text)
    } else {
        serde_json::from_str::<serde::de::IgnoredAny>(text).and_then(|_| {
            Err(serde::de::Error::custom(
                "not one JSON-RPC request or notification",
            ))
        })
    };
    read.map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            return not_json();
        }
        jsonrpc_error(
            None,
            -32600,
            "Invalid request: not one JSON-RPC request or notification",
        )
        .noted(Notes::default(), "protocol_error")
    })
}

/// A JSON-RPC message as the gate reads it: one object (never a batch), its method and id,
/// and of its params only what the gate decides on, read in the same pass. Fields are typed
/// loosely so that a wrong type is refused here with a reason rather than skipped, and a
/// key given twice is refused rather than read as one of its values.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(default, borrow)]
    jsonrpc: Option<Text<'a>>,
    #[serde(default, borrow)]
    method: Option<Text<'a>>,
    // `null` kept apart from absent: a request's id must not be null (nor read as a
    // notification's missing one).
    #[serde(default, deserialize_with = "present_id")]
    id: Option<serde_json::Value>,
    // `null` is kept apart from absent (`Option`'s own reader takes it for absent, and a
    // call's `null` params must be refused, not skipped).
    #[serde(default, borrow, deserialize_with = "present")]
    params: Option<RawParams<'a>>,
    /// A response's members beside a request's: the SDK refuses such a message, so the
    /// call is left to it (any value, `null` included, counts).
    #[serde(default, deserialize_with = "there")]
    result: bool,
    #[serde(default, deserialize_with = "there")]
    error: bool,
}

/// A string of the message, borrowed unless it has escapes to decode (serde borrows a `Cow`
/// only as a field of its own, not inside an `Option`).
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

fn present_id<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// Whether a member is there, whatever its value (`null` too), read without keeping it.
fn there<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<RawParams<'de>>, D::Error> {
    RawParams::deserialize(d).map(Some)
}

/// The params as read with the message: for an object, its `name`, `uri` and `arguments`
/// (as text) and which of them came twice; anything else only as not an object (what they
/// mean is the method's, known only once the whole message is read).
#[derive(Default)]
struct RawParams<'a> {
    object: bool,
    /// The members given more than once, in [`Key`]'s bits: the SDK refuses a member its
    /// method reads given twice and skips any other.
    twice: u8,
    /// A member only the SDK reads was there, or a `_meta` it would refuse (not an object,
    /// or given twice): the SDK answers the call.
    sdk_only: bool,
    meta: Option<&'a RawValue>,
    name: Option<&'a RawValue>,
    uri: Option<&'a RawValue>,
    arguments: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for RawParams<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Reader;
        impl<'de> serde::de::Visitor<'de> for Reader {
            type Value = RawParams<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON-RPC params")
            }

            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<RawParams<'de>, M::Error> {
                let mut params = RawParams {
                    object: true,
                    ..RawParams::default()
                };
                while let Some(key) = map.next_key::<Key>()? {
                    let bit = key.bit();
                    let slot = match key {
                        Key::Name => &mut params.name,
                        Key::Uri => &mut params.uri,
                        Key::Arguments => &mut params.arguments,
                        Key::Meta => &mut params.meta,
                        Key::SdkOnly => {
                            params.sdk_only = true;
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                        Key::Other => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    let value = map.next_value::<&'de RawValue>()?;
                    if slot.replace(value).is_some() {
                        params.twice |= bit;
                    }
                }
                // The SDK reads `_meta` as an object, and refuses the message otherwise; and it
                // acts on the protocol's own keys (a per-request protocol version, checked
                // against the header), which may also be written with escapes.
                params.sdk_only |= params.meta.is_some_and(|meta| {
                    let text = meta.get();
                    !text.starts_with('{')
                        || text.contains("io.modelcontextprotocol/")
                        || text.contains('\\')
                });
                Ok(params)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawParams<'de>, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(RawParams::default())
            }

            fn visit_unit<E>(self) -> Result<RawParams<'de>, E> {
                Ok(RawParams::default())
            }

            fn visit_bool<E>(self, _: bool) -> Result<RawParams<'de>, E> {
                Ok(RawParams::default())
            }

            fn visit_i64<E>(self, _: i64) -> Result<RawParams<'de>, E> {
                Ok(RawParams::default())
            }

            fn visit_u64<E>(self, _: u64) -> Result<RawParams<'de>, E> {
                Ok(RawParams::default())
            }

            fn visit_f64<E>(self, _: f64) -> Result<RawParams<'de>, E> {
                Ok(RawParams::default())
            }

            fn visit_str<E>(self, _: &str) -> Result<RawParams<'de>, E> {
                Ok(RawParams::default())
            }
        }
        d.deserialize_any(Reader)
    }
}

/// A key of the params, told apart without copying it (as derived readers do).
enum Key {
    Name,
    Uri,
    Arguments,
    /// `_meta`, which the SDK reads as an object.
    Meta,
    /// A member of a later round of a multi-round call (`inputResponses`, `requestState`),
    /// which only the SDK's service reads.
    SdkOnly,
    Other,
}

impl Key {
    /// The key's bit in [`RawParams::twice`].
    fn bit(&self) -> u8 {
        match self {
            Key::Name => 1,
            Key::Uri => 2,
            Key::Arguments => 4,
            Key::Meta => 8,
            Key::SdkOnly | Key::Other => 0,
        }
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Reader;
        impl serde::de::Visitor<'_> for Reader {
            type Value = Key;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key")
            }

            fn visit_str<E>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "name" => Key::Name,
                    "uri" => Key::Uri,
                    "arguments" => Key::Arguments,
                    "_meta" => Key::Meta,
                    "inputResponses" | "requestState" => Key::SdkOnly,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(Reader)
    }
}

/// What the gate reads of a call's params: the name its decisions are about and, for a
/// tool, the arguments (as text, for the tool's own type to read).
#[derive(Default)]
struct Params<'a> {
    name: Option<Cow<'a, str>>,
    arguments: Option<&'a RawValue>,
    /// The call must go through the SDK's service (see [`RawParams`]).
    sdk_only: bool,
}

impl<'a> Message<'a> {
    /// The JSON-RPC method.
    fn method(&self) -> Option<&str> {
        self.method.as_ref().map(|text| text.0.as_ref())
    }

    /// The tool or prompt name (`params.name`) or the resource (`params.uri`) the method
    /// names, and a tool's arguments; `Err` when the method names one and the params are
    /// not an object with a string there (each key once).
    fn params(&self) -> Result<Params<'a>, &'static str> {
        let uri = match self.method() {
            Some("tools/call" | "prompts/get") => false,
            Some("resources/read") => true,
            _ => return Ok(Params::default()),
        };
        let Some(params) = &self.params else {
            return Ok(Params::default());
        };
        // What the method's params hold, which the SDK then refuses given twice: `_meta`
        // always.
        let read = Key::Meta.bit()
            | if uri {
                Key::Uri.bit()
            } else {
                Key::Name.bit() | Key::Arguments.bit()
            };
        if !params.object || params.twice & read != 0 {
            return Err("Invalid params: not an object with each key once");
        }
        let name = match if uri { params.uri } else { params.name } {
            None => None,
            // Borrowed unless it has escapes to decode.
            Some(raw) => Some(match serde_json::from_str::<&'a str>(raw.get()) {
                Ok(name) => Cow::Borrowed(name),
                Err(_) => Cow::Owned(
                    serde_json::from_str::<String>(raw.get())
                        .map_err(|_| "Invalid params: the name must be a string")?,
                ),
            }),
        };
        Ok(Params {
            name,
            arguments: if uri { None } else { params.arguments },
            sdk_only: params.sdk_only,
        })
    }
}

/// A header as the transport reads it: absent, sent once, or sent more than once.
#[derive(Clone, Copy, Default)]
enum Once<'r> {
    #[default]
    Absent,
    One(&'r str),
    Repeated,
}

impl<'r> Once<'r> {
    fn add(&mut self, value: &'r str) {
        *self = match self {
            Once::Absent => Once::One(value),
            _ => Once::Repeated,
        };
    }

    /// The value, when it came exactly once.
    fn single(self) -> Option<&'r str> {
        match self {
            Once::One(value) => Some(value),
            _ => None,
        }
    }
}

/// The headers the transport decides on, read in one pass over the request's (every
/// request passes here, and each lookup would be its own pass).
#[derive(Default)]
struct Seen<'r> {
    version: Once<'r>,
    method: Once<'r>,
    name: Once<'r>,
    content_type: Once<'r>,
    accept: Once<'r>,
}

impl<'r> Seen<'r> {
    fn read(req: &'r Request) -> Seen<'r> {
        let mut seen = Seen::default();
        // Names are stored lower-case.
        for (name, value) in req.headers().iter() {
            let slot = match name {
                "mcp-protocol-version" => &mut seen.version,
                "mcp-method" => &mut seen.method,
                "mcp-name" => &mut seen.name,
                "content-type" => &mut seen.content_type,
                "accept" => &mut seen.accept,
                _ => continue,
            };
            slot.add(value);
        }
        seen
    }

    /// The 2026-07-28 routing headers against the body: `Mcp-Method` must be the body's
    /// method and, for a call that names a tool, prompt or resource, `Mcp-Name` its name (a
    /// gateway may route on either without reading the body). Earlier revisions do not send
    /// them.
    fn routing(
        &self,
        req: &Request,
        method: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), String> {
        let Some(method) = method else {
            return Ok(());
        };
        // Values sent more than once are read joined, as HTTP reads them (the rare case).
        let version = match self.version {
            Once::Absent => Cow::Borrowed(""),
            Once::One(version) => Cow::Borrowed(version),
            Once::Repeated => Cow::Owned(req.header("mcp-protocol-version").unwrap_or_default()),
        };
        if version.trim() < STANDARD_HEADERS_VERSION {
            return Ok(());
        }
        let single = |name: &str, value: Once<'r>| -> Result<Option<&'r str>, String> {
            match value {
                Once::Repeated => Err(format!("{name} appears more than once")),
                value => Ok(value.single()),
            }
        };
        match single("mcp-method", self.method)? {
            None => return Err("missing required Mcp-Method header".to_owned()),
            Some(value) if value != method => {
                return Err("Mcp-Method header does not match the body's method".to_owned());
            }
            Some(_) => {}
        }
        if let Some(expected) = name {
            let Some(raw) = single("mcp-name", self.name)? else {
                return Err("missing required Mcp-Name header".to_owned());
            };
            let decoded = match raw
                .strip_prefix("=?base64?")
                .and_then(|inner| inner.strip_suffix("?="))
            {
                Some(inner) => Cow::Owned(
                    base64::engine::general_purpose::STANDARD
                        .decode(inner)
                        .ok()
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .ok_or_else(|| "Mcp-Name header is not valid Base64".to_owned())?,
                ),
                None => Cow::Borrowed(raw),
            };
            if decoded != expected {
                return Err("Mcp-Name header does not match the body".to_owned());
            }
        }
        Ok(())
    }

    /// Whether a `tools/call` of a plain tool may be answered without the SDK's service: a
    /// revision before 2026-07-28 named once in `MCP-Protocol-Version` (the later one carries
    /// per-request `_meta` the SDK validates), JSON in, and both answer types accepted, as the
    /// SDK's transport requires. Anything else goes through the SDK, which answers it as the
    /// spec says.
    fn plain_call(&self, json_in: bool) -> bool {
        // ASCII whitespace only, as HTTP has: a value with other spaces is the SDK's to read.
        let version_ok = matches!(
            self.version.single().map(str::trim_ascii),
            Some("2025-03-26" | "2025-06-18" | "2025-11-25")
        );
        version_ok && json_in && self.accept.single().is_some_and(accepts_both_plainly)
    }

    /// Whether the body is declared JSON, once (`application/json`, any parameters).
    fn json_in(&self) -> bool {
        self.content_type.single().is_some_and(|t| {
            t.split(';').next().is_some_and(|essence| {
                essence
                    .trim_ascii()
                    .eq_ignore_ascii_case("application/json")
            })
        })
    }
}

/// Whether an `Accept` value lists both `application/json` and `text/event-stream` as bare
/// media types. Parameters (a `q=0` weight excludes a type) and quoted strings are left to
/// the SDK's full reading, so the direct path never answers what the SDK would refuse with
/// 406; and a type is matched whole, never as a substring (`application/json-seq`).
fn accepts_both_plainly(accept: &str) -> bool {
    let (mut json, mut sse) = (false, false);
    // Byte-wise, in one pass: every byte but the commas is in some part, so a `;` or `"`
    // anywhere refuses the whole value.
    for essence in accept.as_bytes().split(|b| *b == b',') {
        if essence.iter().any(|b| matches!(b, b';' | b'"')) {
            return false;
        }
        let essence = essence.trim_ascii();
        json |= essence.eq_ignore_ascii_case(b"application/json");
        sse |= essence.eq_ignore_ascii_case(b"text/event-stream");
    }
    json && sse
}

/// A plain tool's answer as the SDK's transport would send it for these revisions: the
/// JSON-RPC response in a 200 (a tool's `ErrorData` is a JSON-RPC error, still a 200).
fn plain_answer(id: Option<serde_json::Value>, result: Result<Answered, rmcp::ErrorData>) -> Reply {
    /// A JSON-RPC response, serialised without building a tree of it.
    #[derive(serde::Serialize)]
    struct Answer<'a, R: serde::Serialize> {
        jsonrpc: &'static str,
        id: &'a Option<serde_json::Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<&'a R>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a rmcp::ErrorData>,
    }
    let result = match result {
        Ok(Answered::ObjectText(text)) => return typed_answer(&id, &text),
        Ok(Answered::Object(value)) => {
            // The text `CallToolResult::structured` makes with `Display`, written without a
            // formatter in between; `structuredContent` is the same bytes.
            let Ok(raw) = serde_json::value::to_raw_value(&value) else {
                // A map of values always serialises; answered as the SDK would a failure.
                let failed =
                    rmcp::ErrorData::internal_error("the result could not be written", None);
                return plain_answer(id, Err(failed));
            };
            return typed_answer(&id, raw.get());
        }
        Ok(Answered::Sdk(response)) => Ok(response),
        Err(error) => Err(error),
    };
    // As the SDK's handler answers a peer on a revision before 2026-07-28, which is all the
    // direct path answers.
    // Built only for the rare answer that needs it, not on every call.
    let needs_newer;
    let mut result = result;
    if let Ok(rmcp::model::CallToolResponse::Complete(complete)) = &mut result {
        // The SDK's own treatment: `resultType` and non-object structured content are
        // 2026-07-28's. Moved in and out of its enum (an empty result holds no allocation).
        let mut legacy = rmcp::model::ServerResult::CallToolResult(std::mem::replace(
            complete,
            rmcp::model::CallToolResult::success(Vec::new()),
        ));
        legacy.strip_result_type_for_legacy_peer();
        legacy.strip_non_object_output_for_legacy_peer();
        if let rmcp::model::ServerResult::CallToolResult(stripped) = legacy {
            *complete = stripped;
        }
    }
    let (result, error) = match &result {
        Ok(rmcp::model::CallToolResponse::Complete(result)) => (Some(result), None),
        // A plain tool's handler answers with a complete result only; anything else is a
        // 2026-07-28 result.
        Ok(_) => {
            needs_newer = rmcp::ErrorData::invalid_request(
                "InputRequiredResult requires negotiated protocol version 2026-07-28 or newer",
                None,
            );
            (None, Some(&needs_newer))
        }
        Err(error) => (None, Some(error)),
    };
    write_answer(&Answer {
        jsonrpc: "2.0",
        id: &id,
        result,
        error,
    })
}

/// A typed result's answer as the SDK writes a structured one for these revisions, `object`
/// being the result's JSON: `object` as the text block, then as `structuredContent`, in the
/// members' order of the SDK's types (`{"jsonrpc","id","result":{"content":[{"type","text"}],
/// "structuredContent","isError"}}`), written straight into the body.
fn typed_answer(id: &Option<serde_json::Value>, object: &str) -> Reply {
    let mut body = Vec::with_capacity(2 * object.len() + 128);
    body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    let written = serde_json::to_writer(&mut body, id).and_then(|()| {
        body.extend_from_slice(br#","result":{"content":[{"type":"text","text":"#);
        serde_json::to_writer(&mut body, object)
    });
    if written.is_err() {
        // An id read from JSON and a string always serialise; answered as the SDK would a
        // failure.
        let failed = rmcp::ErrorData::internal_error("the result could not be written", None);
        return plain_answer(id.clone(), Err(failed));
    }
    body.extend_from_slice(br#"}],"structuredContent":"#);
    body.extend_from_slice(object.as_bytes());
    body.extend_from_slice(br#","isError":false}}"#);
    Reply::with_json_body(200, body)
}

/// A JSON-RPC response in a 200.
fn write_answer(answer: &impl serde::Serialize) -> Reply {
    // Room for a small answer up front rather than growing to it.
    let mut body = Vec::with_capacity(512);
    if serde_json::to_writer(&mut body, answer).is_err() {
        body = b"{}".to_vec();
    }
    Reply::with_json_body(200, body)
}

/// A JSON-RPC error in a 400, with the request's id when it has one: a routing header that
/// disagrees with the body (`-32020 HeaderMismatch`, as the SDK answers it), or a body the
/// gate cannot read (`-32700`, `-32600`, `-32602`).
fn jsonrpc_error(id: Option<serde_json::Value>, code: i64, message: &str) -> Reply {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message},
    });
    Reply::json(400, &body)
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

/// The SDK's refusals in plain text (`Accept` without both types: 406; a `Content-Type` other
/// than JSON: 415; an unsupported `MCP-Protocol-Version`: 400; a JSON body it cannot read as a
/// message: 415) as JSON-RPC errors, as the TypeScript SDK answers them: the SDK's status and
/// words with code `-32000`, and a JSON body it could not read as a message a `400` with
/// `-32600` (a body that is not JSON never reaches it: [`read_message`] answers that); its own
/// failures (5xx) `-32603` without its words. Every other answer is the SDK's as it came.
fn as_jsonrpc(reply: Reply, id: Option<serde_json::Value>, json_in: bool) -> Reply {
    let plain = reply.status >= 400
        && !reply.header_value("Content-Type").is_some_and(|t| {
            t.starts_with("application/json") || t.starts_with("text/event-stream")
        });
    if !plain {
        return reply;
    }
    let mut refusal = if reply.status == 415 && json_in {
        // A 400, as a JSON body that is no message is a bad request, not a bad media type.
        jsonrpc_error(
            id,
            -32600,
            "Invalid request: not a JSON-RPC message this server reads",
        )
    } else {
        let mut refusal = if reply.status >= 500 {
            // The SDK's own failure: its words are about its insides, not the request.
            jsonrpc_error(id, -32603, "Internal error")
        } else {
            // The SDK's words say what to change (they hold no value the caller sent but the
            // protocol version it asked for, checked to be printable by the HTTP layer).
            jsonrpc_error(id, -32000, String::from_utf8_lossy(&reply.body).trim())
        };
        refusal.status = reply.status;
        refusal
    };
    for (name, value) in &reply.headers {
        if !name.eq_ignore_ascii_case("Content-Type")
            && !name.eq_ignore_ascii_case("Content-Length")
        {
            refusal.header(name, value.clone());
        }
    }
    refusal.meta = reply.meta;
    refusal
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
    /// The call line's fields, `notes` moved in (each answer is noted once).
    fn noted(self, notes: Notes, outcome: &'static str) -> Reply;
}

impl Noted for Reply {
    fn noted(mut self, notes: Notes, outcome: &'static str) -> Reply {
        self.note("mcp_method", notes.method.unwrap_or("-"));
        if let Some(tool) = notes.tool {
            self.note("mcp_tool", tool);
        }
        self.note("mcp_outcome", outcome);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::accepts_both_plainly;

    #[test]
    fn accept_lists_both_types_plainly_or_goes_to_the_sdk() {
        for plain in [
            "application/json, text/event-stream",
            "text/event-stream,application/json",
            " APPLICATION/JSON ,\ttext/Event-Stream ",
            "application/json, text/event-stream, */*",
        ] {
            assert!(accepts_both_plainly(plain), "{plain}");
        }
        for other in [
            "application/json",
            "text/event-stream",
            "application/json-seq, text/event-stream",
            "application/json, text/event-streams",
            "application/json;q=0, text/event-stream",
            "application/json, text/event-stream;q=1",
            r#"application/json, text/event-stream, x/y;p="a,b""#,
            r#"application/json, "text/event-stream""#,
            "",
            ",",
        ] {
            assert!(!accepts_both_plainly(other), "{other}");
        }
    }
}
