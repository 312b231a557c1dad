//! Functions behind the gate: what a team writes ([`Function`], a handler that is an ordinary
//! `async fn`), what it receives ([`Request`], [`State`]), and funcgate's built-in functions
//! (`health`, `vault`, `whoami`), which an app registers like its own.
//!
//! A function is registered with its default rules per method (the `AUTH_POLICY_<NAME>`
//! grammar) next to its code; the setting overrides them without a rebuild. It sees one
//! [`Request`] whichever host protocol carried the call, and answers with a [`Reply`] or an
//! [`ApiError`] (a catalogue error, or one of its own codes from [`ApiError::custom`]), whose
//! code reaches the call line and telemetry like the gate's.

pub(crate) mod health;
pub(crate) mod protected_resource;
pub(crate) mod vault;
pub(crate) mod whoami;

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use actix_web::web::Bytes;
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::auth::policy::{MethodRules, PolicyError};
use crate::auth::token::Identity;
use crate::call::{Call, Headers};
use crate::errors::{ApiError, ErrorKind};
use crate::reply::Reply;
use crate::services::Services;

/// What a handler answers: a reply, or an error rendered from the catalogue's table.
pub type Outcome = Result<Reply, ApiError>;

/// Shared state registered once at start-up ([`App::with_state`](crate::App::with_state)) and
/// handed to every call of a handler that asks for it, like axum's `State` or actix's
/// `web::Data`: a cheap clone of one `Arc`, never a `static`.
///
/// ```
/// use funcgate::{Request, Reply, State, Outcome};
///
/// struct Config { greeting: String }
///
/// async fn hello(State(config): State<Config>, _req: Request) -> Outcome {
///     Ok(Reply::json(200, &config.greeting))
/// }
/// # let _: funcgate::Function<Config> = funcgate::Function::new("hello", hello);
/// ```
pub struct State<S>(pub Arc<S>);

impl<S> Clone for State<S> {
    fn clone(&self) -> Self {
        State(Arc::clone(&self.0))
    }
}

impl<S> std::ops::Deref for State<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.0
    }
}

/// An `async fn` that answers calls: `async fn(Request) -> Outcome` or
/// `async fn(State<S>, Request) -> Outcome`. `Args` tells the two shapes apart; it is never
/// named by hand.
pub trait Handler<Args, S>: Send + Sync + 'static {
    /// Answers one call.
    fn call(&self, state: &State<S>, req: Request) -> LocalBoxFuture<'static, Outcome>;
}

impl<F, Fut, S> Handler<(Request,), S> for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + 'static,
{
    fn call(&self, _state: &State<S>, req: Request) -> LocalBoxFuture<'static, Outcome> {
        Box::pin(self(req))
    }
}

impl<F, Fut, S> Handler<(State<S>, Request), S> for F
where
    F: Fn(State<S>, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + 'static,
{
    fn call(&self, state: &State<S>, req: Request) -> LocalBoxFuture<'static, Outcome> {
        Box::pin(self(state.clone(), req))
    }
}

/// The handler with its argument shape forgotten.
type Erased<S> = Arc<dyn Fn(&State<S>, Request) -> LocalBoxFuture<'static, Outcome> + Send + Sync>;

/// One function: the name of its folder (the one holding its `function.json`), its default
/// rules per method, and its handler.
///
/// ```
/// use funcgate::{Function, Outcome, Reply, Request};
///
/// async fn ping(_req: Request) -> Outcome {
///     Ok(Reply::json(200, &"pong"))
/// }
///
/// let ping = Function::new("ping", ping).rules("GET,HEAD=authenticated");
/// # let _: Function = ping;
/// ```
pub struct Function<S = ()> {
    name: String,
    rules: String,
    route: Option<String>,
    methods: Option<Vec<String>>,
    handler: Erased<S>,
}

impl<S: Send + Sync + 'static> Function<S> {
    /// The function whose folder is `name`, answered by `handler`. Its rules are `deny` until
    /// [`Function::rules`] says otherwise: nothing is open by accident.
    pub fn new<Args, H: Handler<Args, S>>(name: &str, handler: H) -> Function<S> {
        Function {
            name: name.to_owned(),
            rules: "deny".to_owned(),
            route: None,
            methods: None,
            handler: Arc::new(move |state: &State<S>, req| handler.call(state, req)),
        }
    }

    /// Its default rules per method, in the `AUTH_POLICY_<NAME>` grammar (checked at
    /// start-up), e.g. `GET,HEAD=scopes:Api.Read;POST,PUT,PATCH,DELETE=scopes:Api.Write`.
    pub fn rules(mut self, rules: &str) -> Function<S> {
        self.rules = rules.to_owned();
        self
    }

    /// The route and methods the function is served at when the app has no folder for it
    /// and `host.json` passes folder-less routes to the handler (`customHandler.http.routes`,
    /// `{*route}` under the `mcp-custom-handler` profile): a route template as in
    /// `function.json` (`items/{id?}`), and upper-case methods (empty: any). Without it such
    /// a function is served at its name, any method. A folder's `function.json` wins.
    pub fn route(mut self, template: &str, methods: &[&str]) -> Function<S> {
        self.route = Some(template.trim_start_matches('/').to_owned());
        self.methods =
            (!methods.is_empty()).then(|| methods.iter().map(|m| m.to_ascii_uppercase()).collect());
        self
    }

    /// The folder name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Binds the app's state, leaving a function the gateway can call.
    pub(crate) fn bind(self, state: &State<S>) -> Registered {
        let (handler, state) = (self.handler, state.clone());
        Registered {
            route: self.route.unwrap_or_else(|| self.name.clone()),
            methods: self.methods,
            name: self.name,
            rules: self.rules,
            mcp: None,
            call: Box::new(move |req| handler(&state, req)),
        }
    }
}

/// Where an MCP server is mounted and what it asks of tokens, for start-up (the folder-less
/// route, the metadata document, the 401's `scope`).
#[derive(Clone, Debug)]
pub(crate) struct McpMount {
    /// The path under the route prefix, without slashes.
    pub(crate) path: String,
    /// Every short scope name its tools' rules accept (the server's own rule is read once
    /// settings may have replaced it).
    pub(crate) tool_scopes: Vec<String>,
    /// Every role and authentication context its tools' rules name, for what
    /// `--funcgate-check` says the app registration needs.
    pub(crate) tool_roles: Vec<String>,
    /// See `tool_roles`.
    pub(crate) tool_contexts: Vec<String>,
}

/// A registered function's call, its state bound.
pub(crate) type BoundCall = Box<dyn Fn(Request) -> LocalBoxFuture<'static, Outcome> + Send + Sync>;

/// A registered function, its state bound.
pub(crate) struct Registered {
    /// The folder name.
    pub(crate) name: String,
    /// Default rules, as written.
    pub(crate) rules: String,
    /// The route without a folder (see [`Function::route`]).
    pub(crate) route: String,
    /// The methods without a folder; `None` for any.
    pub(crate) methods: Option<Vec<String>>,
    /// An MCP server's mount, when this is one.
    pub(crate) mcp: Option<McpMount>,
    call: BoundCall,
}

impl Registered {
    /// An MCP server's endpoint: `POST` at its path.
    pub(crate) fn mcp(name: String, rules: String, mount: McpMount, call: BoundCall) -> Registered {
        Registered {
            name,
            rules,
            route: mount.path.clone(),
            methods: Some(vec!["POST".to_owned()]),
            mcp: Some(mount),
            call,
        }
    }

    /// Parses the default rules; the error names the function.
    pub(crate) fn parsed_rules(&self) -> Result<MethodRules, PolicyError> {
        MethodRules::parse(&self.rules)
    }

    /// Answers a call that passed the guard and the rules.
    pub(crate) fn run(&self, req: Request) -> LocalBoxFuture<'static, Outcome> {
        (self.call)(req)
    }
}

/// Every registered function, found by folder name case-insensitively, as the host does.
#[derive(Default)]
pub(crate) struct Registry(Vec<Registered>);

impl Registry {
    /// Adds `f`, replacing one registered under the same name.
    pub(crate) fn add(&mut self, f: Registered) {
        self.0.retain(|g| !g.name.eq_ignore_ascii_case(&f.name));
        self.0.push(f);
    }

    /// The function for folder `name`.
    pub(crate) fn find(&self, name: &str) -> Option<&Registered> {
        self.0.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// Every registered function.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Registered> {
        self.0.iter()
    }
}

/// A call as a function sees it, whichever host protocol carried it: method, route
/// parameters, query, headers (any case), the body (already read, within
/// `MAX_REQUEST_BODY_BYTES`) and the validated token's identity and claims.
pub struct Request {
    method: String,
    params: HashMap<String, String>,
    query: Vec<(String, String)>,
    headers: Headers,
    body: Bytes,
    identity: Option<Arc<Identity>>,
    /// The `Authorization` header, kept out of `headers` once the gate validated a token:
    /// the caller's token leaves the process only as the assertion of an on-behalf-of
    /// exchange, never through a function.
    authorization: Option<String>,
    services: Arc<Services>,
}

impl Request {
    /// The request `call` describes, its parts moved out (only its body, now read and passed
    /// as `body`, stays behind for the host adapter to check).
    pub(crate) fn from_call(
        call: &mut Call,
        body: Bytes,
        identity: Option<Arc<Identity>>,
        services: Arc<Services>,
    ) -> Request {
        let mut headers = std::mem::take(&mut call.headers);
        // A validated token is the gate's: it leaves the process only as an on-behalf-of
        // assertion. A function whose rule is `anonymous` checks its own credentials (a
        // webhook's signature, Basic auth) and keeps the header.
        let authorization = if identity.is_some() {
            headers.take("authorization")
        } else {
            headers.get("authorization").map(Cow::into_owned)
        };
        Request {
            method: std::mem::take(&mut call.method),
            params: std::mem::take(&mut call.params),
            query: std::mem::take(&mut call.query),
            headers,
            body,
            identity,
            authorization,
            services,
        }
    }

    /// The upper-case HTTP method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// A route parameter (`{id}` in the `function.json` route), absent or empty as `None`.
    ///
    /// Values are the caller's, decoded as the host's server decodes them: a `{param}` is one
    /// path segment and never holds `/` (an encoded slash stays `%2F`), `.` and `..` segments
    /// are resolved before routing, and a `{*rest}` value joins the remaining segments with
    /// `/`. A value may still hold `..` inside it (`a..b`, `..%2F..`): check it before using it
    /// as a file name, a key or a URL path.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Every route parameter.
    pub fn params(&self) -> &HashMap<String, String> {
        &self.params
    }

    /// A query value; repeated keys are comma-joined, as the Functions host forwards them.
    pub fn query(&self, key: &str) -> Option<String> {
        let values: Vec<&str> = self
            .query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    /// A header by case-insensitive name; repeated headers are joined with `, `.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(Cow::into_owned)
    }

    /// The body bytes (empty when none was sent).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The validated token's identity, when the rule for this method asked for a token
    /// (`None` for `anonymous` rules).
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_deref()
    }

    /// One claim of the validated token, as JSON (`upn`, `name`, a custom claim).
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.identity.as_ref()?.claims().get(name)
    }

    /// The validated token's claims as `T`, like jwt-authorizer's typed claims: `401
    /// InvalidAuthorizationClaims` when there is no token (an `anonymous` rule) or the claims
    /// do not fit `T` (the reason, in `debug`, names the claim, never its value).
    ///
    /// ```
    /// use funcgate::{Outcome, Reply, Request};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Claims { upn: String }
    ///
    /// async fn echo(req: Request) -> Outcome {
    ///     let claims: Claims = req.claims()?;
    ///     Ok(Reply::json(200, &serde_json::json!({ "upn": claims.upn })))
    /// }
    /// # let _: funcgate::Function = funcgate::Function::new("echo", echo);
    /// ```
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let Some(identity) = &self.identity else {
            return Err(ApiError::new(ErrorKind::InvalidClaims)
                .because("this method's rule is anonymous: there are no claims"));
        };
        serde_path_to_error::deserialize(identity.claims()).map_err(|e| {
            // The path is the team's field names, or a map's keys (the token's): bounded.
            let field: String = e.path().to_string().chars().take(60).collect();
            let reason = shape_error("the token's claims", e.inner());
            ApiError::new(ErrorKind::InvalidClaims).because(match field.as_str() {
                // A missing claim has no path of its own; serde's message names it.
                "." | "" => reason,
                _ => format!("claim {field:?}: {reason}"),
            })
        })
    }

    /// The body as JSON of type `T`: `415 InvalidContentType` unless the content type is
    /// `application/json`, `400 InvalidRequestBody` (with the reason in `debug`) when it is
    /// empty or does not parse as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let content_type = self.header("content-type").unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(
                ApiError::new(ErrorKind::UnsupportedContentType).because(format!(
                    "expected Content-Type application/json, got {:?}",
                    essence.chars().take(60).collect::<String>()
                )),
            );
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(invalid_body("the request body is empty"));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| invalid_body(shape_error("the request body", &e)))
    }

    /// The caller's identity as App Service Authentication (Easy Auth) decoded it from
    /// `X-MS-CLIENT-PRINCIPAL`: platform-provided, never a token funcgate validated, and only
    /// for a request that came through the platform: the platform says Easy Auth is on
    /// (`WEBSITE_AUTH_ENABLED=true`), funcgate runs under the Functions host (not alone), and
    /// the request arrived in the protocol the app's layout gives its function (a caller can
    /// never make its body be read as the host's invocation payload). Otherwise funcgate
    /// removes those headers, which a caller could set, before a function sees the request.
    pub fn platform_principal(&self) -> Option<Value> {
        if !self.services.easy_auth {
            return None;
        }
        let encoded = self.headers.first("x-ms-client-principal")?;
        let decoded =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded.trim())
                .ok()?;
        serde_json::from_slice(&decoded).ok()
    }

    /// funcgate's own services, for the built-in functions.
    pub(crate) fn services(&self) -> &Services {
        &self.services
    }

    /// The services, shared (an MCP tool's request gets its own copy of the handle).
    pub(crate) fn services_arc(&self) -> &Arc<Services> {
        &self.services
    }

    /// The validated identity, shared.
    pub(crate) fn identity_arc(&self) -> Option<&Arc<Identity>> {
        self.identity.as_ref()
    }

    /// Every header.
    pub(crate) fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The headers, moved out (the request keeps none).
    pub(crate) fn take_headers(&mut self) -> Headers {
        std::mem::take(&mut self.headers)
    }

    /// The body, shared (a cheap clone of the bytes).
    pub(crate) fn body_bytes(&self) -> Bytes {
        self.body.clone()
    }

    /// A request with no route, query or body: what an MCP tool sees of the HTTP request
    /// that carried its call (headers without `Authorization`, the caller's identity).
    pub(crate) fn for_tool(
        headers: Headers,
        identity: Option<Arc<Identity>>,
        authorization: Option<String>,
        services: Arc<Services>,
    ) -> Request {
        Request {
            method: "POST".to_owned(),
            params: HashMap::new(),
            query: Vec::new(),
            headers,
            body: Bytes::new(),
            identity,
            authorization,
            services,
        }
    }

    /// The `Authorization` header as it came, moved out (for the MCP gate's own
    /// authentication, then the tool's request: a token is a kilobyte, not copied twice).
    pub(crate) fn take_authorization(&mut self) -> Option<String> {
        self.authorization.take()
    }

    /// The caller's validated token, for an on-behalf-of exchange only.
    fn assertion(&self) -> Option<&str> {
        self.identity.as_ref()?;
        crate::auth::bearer::token_from_header(self.authorization.as_deref()).ok()
    }

    /// A token for the downstream API `name` (declared with
    /// [`App::downstream`](crate::App::downstream)): on behalf of the caller (Entra's
    /// on-behalf-of flow, with the app's `AUTH_CLIENT_CREDENTIAL`) or as the app, cached
    /// until shortly before it expires.
    ///
    /// Errors: `403 OnBehalfOfUserRequired` for an app-only caller (only a user's token can
    /// be exchanged), Entra's `401 insufficient_claims` challenge when the token service
    /// asks the user to step up (MFA, Conditional Access), `403 DownstreamConsentRequired`,
    /// `502 DownstreamTokenUnavailable`, `500 DownstreamNotDeclared`,
    /// `500 DownstreamNotConfigured`, `500 DownstreamCredentialRejected`.
    ///
    /// ```
    /// use funcgate::{Outcome, Reply, Request};
    ///
    /// async fn files(req: Request) -> Outcome {
    ///     let token = req.downstream("graph").await?;
    ///     // ... call the API with token.authorization() in Authorization ...
    ///     # let _ = token;
    ///     Ok(Reply::empty(204))
    /// }
    /// # let _: funcgate::Function = funcgate::Function::new("files", files);
    /// ```
    pub async fn downstream(&self, name: &str) -> Result<crate::DownstreamToken, ApiError> {
        self.services
            .downstream
            .token(name, self.identity.as_deref(), self.assertion())
            .await
    }

    /// Calls to the downstream API `name` at its base URL (`DOWNSTREAM_<NAME>_URL`), each
    /// with a token from [`Request::downstream`]:
    /// `req.downstream_api("graph").get("/v1.0/me").await?`.
    pub fn downstream_api(&self, name: &str) -> crate::DownstreamApi<'_> {
        crate::DownstreamApi {
            name: name.to_owned(),
            downstreams: &self.services.downstream,
            who: self.identity.as_deref(),
            assertion: self.assertion(),
        }
    }
}

impl std::fmt::Debug for Request {
    /// Method and route parameters only: headers and the body may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("params", &self.params)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A reason that names fields but never echoes a value: serde's own messages quote the
/// offending value (`invalid type: integer 12345`), and reasons reach the log.
fn shape_error(what: &str, e: &serde_json::Error) -> String {
    if e.classify() != serde_json::error::Category::Data {
        return format!("{what} is not valid JSON");
    }
    let text = e.to_string();
    let names_a_field = ["missing field", "unknown field", "duplicate field"]
        .iter()
        .any(|p| text.starts_with(p));
    match text.split(" at line ").next() {
        Some(head) if names_a_field => head.chars().take(120).collect(),
        _ if e.line() == 0 => format!("{what} do not have the expected shape"),
        _ => format!(
            "{what} does not have the expected shape (line {}, column {})",
            e.line(),
            e.column()
        ),
    }
}

/// `400 InvalidRequestBody` with `reason` for `debug`.
pub(crate) fn invalid_body(reason: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidRequestBody).because(reason)
}

/// Compile-time check: a request's downstream calls can be awaited where `Send` futures are
/// required (an MCP tool runs on the SDK's tasks).
#[allow(dead_code)]
fn downstream_futures_are_send(req: &Request) {
    fn send<T: Send>(_: &T) {}
    send(&req.downstream("api"));
    let api = req.downstream_api("api");
    send(&api.get("/"));
}
