//! MCP servers behind the gate: a team's tools, each with its own rule, served over the MCP
//! Streamable HTTP transport (stateless) at one path of the app.
//!
//! ```no_run
//! use funcgate::mcp::{Mcp, Tool};
//! use funcgate::{App, Request};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct OrderId {
//!     /// The order's number.
//!     id: u32,
//! }
//!
//! async fn get_order(args: OrderId, req: Request) -> Result<String, String> {
//!     let who = req.identity().and_then(|i| i.subject.clone()).unwrap_or_default();
//!     Ok(format!("order {} for {who}", args.id))
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     App::new()
//!         .mcp(Mcp::new("orders").tool(
//!             Tool::new("get_order", get_order)
//!                 .description("Reads one order")
//!                 .rules("scopes:Orders.Read|roles:Orders.Read"),
//!         ))
//!         .run()
//! }
//! # mod schemars { pub use funcgate::mcp::rmcp::schemars::*; }
//! ```
//!
//! What funcgate does and what the SDK does: the official Rust SDK (`rmcp`) speaks the
//! protocol (JSON-RPC, `initialize` and `server/discover`, the revisions 2025-06-18 to
//! 2026-07-28, per-request `_meta`, `MCP-Protocol-Version`, progress over server-sent events).
//! funcgate decides who may do what before the SDK sees a request: the endpoint's own rule
//! (a valid token, by default), the `Origin` allow-list, the 2026-07-28 `Mcp-Method` /
//! `Mcp-Name` headers against the body, then the called tool's rule, answered with the
//! challenges OAuth clients act on (`401` with `resource_metadata` and `scope`, `403
//! insufficient_scope` naming every scope the tool accepts, Entra's claims challenge for
//! step-up). `tools/list` shows a caller only the tools it may call. A tool never sees the
//! caller's token.

mod object_text;
mod transport;

use std::borrow::Cow;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ProgressNotificationParam, ReadResourceRequestParams, ReadResourceResponse, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::de::DeserializeOwned;

use crate::auth::policy::Policy;
use crate::auth::token::Identity;
use crate::call::Headers;
use crate::functions::{McpMount, Registered, Request, State};
use crate::services::Services;
use crate::settings::{ToolRules, tool_policy_setting_name};

pub use rmcp;

/// The path an MCP server is served at unless [`Mcp::path`] says otherwise: the one MCP
/// clients and Microsoft's samples use.
pub const DEFAULT_PATH: &str = "mcp";

/// An MCP server: its name (the server's `serverInfo.name`, and the function name its calls
/// are logged and counted under), the path it is served at, the rule for reaching it at all,
/// and its tools. Register it with [`App::mcp`](crate::App::mcp).
///
/// Resources, prompts and completions come from an SDK handler of the team's own
/// ([`Mcp::extras`]), written with `rmcp`'s types as its documentation shows; they are behind
/// the endpoint's rule.
pub struct Mcp<S = (), H = NoExtras> {
    name: String,
    version: String,
    path: String,
    rules: String,
    instructions: Option<String>,
    tools: Vec<Tool<S>>,
    extras: H,
}

impl<S: Send + Sync + 'static> Mcp<S, NoExtras> {
    /// A server called `name` at [`DEFAULT_PATH`], reachable with any valid token
    /// (`authenticated`), with no tools yet.
    pub fn new(name: &str) -> Mcp<S, NoExtras> {
        Mcp {
            name: name.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            path: DEFAULT_PATH.to_owned(),
            rules: "authenticated".to_owned(),
            instructions: None,
            tools: Vec::new(),
            extras: NoExtras,
        }
    }
}

impl<S: Send + Sync + 'static, H: ServerHandler> Mcp<S, H> {
    /// The path under the route prefix (`mcp` by default; the `mcp-custom-handler` profile's
    /// prefix is empty, so `/mcp`). Leading and trailing slashes are dropped.
    pub fn path(mut self, path: &str) -> Mcp<S, H> {
        self.path = path.trim_matches('/').to_owned();
        self
    }

    /// The version the server reports (`serverInfo.version`); funcgate's own by default.
    pub fn version(mut self, version: &str) -> Mcp<S, H> {
        self.version = version.to_owned();
        self
    }

    /// The instructions the server gives clients on `initialize` and `server/discover`.
    pub fn instructions(mut self, text: &str) -> Mcp<S, H> {
        self.instructions = Some(text.to_owned());
        self
    }

    /// The rule for reaching the server at all (one rule, the `AUTH_POLICY_<NAME>` grammar
    /// without methods): `authenticated` by default; `anonymous` lets callers without a token
    /// list and call the tools whose own rule is `anonymous`. Each tool's rule applies on top.
    pub fn rules(mut self, rules: &str) -> Mcp<S, H> {
        self.rules = rules.to_owned();
        self
    }

    /// Adds `tool`; a second tool of the same name replaces the first.
    pub fn tool(mut self, tool: Tool<S>) -> Mcp<S, H> {
        self.tools.retain(|t| t.name != tool.name);
        self.tools.push(tool);
        self
    }

    /// Serves resources, prompts, completions and logging levels with `extras`, an SDK handler
    /// (`rmcp::ServerHandler`) of the team's own; its tools, if any, are never offered
    /// (every tool goes through [`Mcp::tool`] and its rule).
    pub fn extras<E: ServerHandler>(self, extras: E) -> Mcp<S, E> {
        Mcp {
            name: self.name,
            version: self.version,
            path: self.path,
            rules: self.rules,
            instructions: self.instructions,
            tools: self.tools,
            extras,
        }
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server as a registered function: its rules, its folder-less route, and the handler
    /// that runs the transport; with the setting names of `overrides` it took. A tool's rule
    /// is its `AUTH_POLICY_<SERVER>__<TOOL>` setting's when `overrides` has one.
    pub(crate) fn bind(
        self,
        state: &State<S>,
        overrides: &ToolRules,
    ) -> Result<(Registered, Vec<String>), String> {
        // Checked here for a message that names the server's rule; the rule in force (a
        // setting may replace it) is read at start-up with the functions'.
        Policy::parse(&self.rules).map_err(|e| format!("rules: {e}"))?;
        let mut tools = Vec::with_capacity(self.tools.len());
        let mut taken = Vec::new();
        for tool in self.tools {
            // Rules in code are checked even when a setting replaces them: a typo should not
            // wait for the day the setting is removed.
            let own = Policy::parse(&tool.rules)
                .map_err(|e| format!("tool {:?}: rules: {e}", tool.name))?;
            let setting = tool_policy_setting_name(&self.name, &tool.name);
            if overrides.folder_settings.contains(&setting) {
                return Err(format!(
                    "tool {:?}: {setting} is also a function folder's setting; rename the tool or the folder",
                    tool.name
                ));
            }
            let policy = match overrides.rules.get(&setting) {
                None => own,
                Some(_) if taken.contains(&setting) => {
                    return Err(format!(
                        "two tools are named by {setting}: rename one to set either's rule"
                    ));
                }
                Some(text) => {
                    let policy = Policy::parse(text).map_err(|e| format!("{setting}: {e}"))?;
                    log::info!(
                        "MCP server {:?}: tool {:?} takes its rule from {setting}",
                        self.name,
                        tool.name
                    );
                    taken.push(setting);
                    policy
                }
            };
            tools.push(BoundTool {
                scopes: policy.scopes().iter().map(|s| (*s).to_owned()).collect(),
                policy,
                definition: tool.definition,
                plain: tool.plain,
                run: {
                    let (run, state) = (tool.run, state.clone());
                    Box::new(move |args, req| run(&state, args, req))
                },
            });
        }
        // Every scope the tools name: with the server's rule's, what connecting asks for (the
        // 401's `scope`) and what its metadata lists. Kept in order and repeats; start-up
        // removes those once each is a full value (`state::describe`).
        let tool_scopes: Vec<String> = tools.iter().flat_map(|t| t.scopes.clone()).collect();
        let (mut tool_roles, mut tool_contexts) = (Vec::new(), Vec::new());
        for tool in &tools {
            let names = tool.policy.all_names();
            tool_roles.extend(names.roles.iter().map(|r| (*r).to_owned()));
            tool_contexts.extend(names.acrs.iter().map(|c| (*c).to_owned()));
        }
        let server = Arc::new(Server {
            info: Implementation::new(self.name.clone(), self.version),
            instructions: self.instructions,
            tools,
            extras: self.extras,
        });
        // One transport for every request: cloning the SDK's service per request copied its
        // configuration each time.
        let transport = Arc::new(transport::Transport::new(Arc::clone(&server)));
        Ok((
            Registered::mcp(
                self.name,
                format!("POST={}", self.rules),
                McpMount {
                    path: self.path,
                    tool_scopes,
                    tool_roles,
                    tool_contexts,
                },
                Box::new(move |req| Box::pin(Arc::clone(&transport).serve(req))),
            ),
            taken,
        ))
    }
}

/// An `extras` handler with nothing in it: the server offers tools only.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoExtras;

impl ServerHandler for NoExtras {}

/// One MCP tool: its name, description, input schema (derived from the arguments' type), its
/// rule (`deny` until [`Tool::rules`] says otherwise, as for functions) and its handler.
pub struct Tool<S = ()> {
    name: String,
    rules: String,
    definition: rmcp::model::Tool,
    plain: bool,
    run: ErasedTool<S>,
}

/// What a tool's handler gives back, its argument shape forgotten.
type ToolFuture = BoxFuture<'static, seal::Answer>;
type ErasedTool<S> =
    Arc<dyn Fn(&State<S>, ToolArguments<'_>, ToolInput) -> ToolFuture + Send + Sync>;

/// A tool's typed result (the SDK's own wrapper): `T` becomes the result's
/// `structuredContent` and, for clients that read text only, the same JSON in a text block,
/// as the spec asks of a tool that returns structured content. funcgate derives the tool's
/// `outputSchema` from `T`, so clients can check what they get. The result is the SDK's to
/// the byte: a `T` that is not an object is sent to clients before 2026-07-28 as text only,
/// and listed without a schema, as the SDK does.
///
/// ```no_run
/// use funcgate::mcp::{Json, Mcp, Tool};
/// use funcgate::{App, Request};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct OrderId {
///     /// The order's number.
///     id: u32,
/// }
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Order {
///     id: u32,
///     status: String,
/// }
///
/// async fn get_order(args: OrderId, _req: Request) -> Result<Json<Order>, String> {
///     if args.id == 0 {
///         return Err("there is no order 0".to_owned()); // an `isError` result
///     }
///     Ok(Json(Order { id: args.id, status: "shipped".to_owned() }))
/// }
///
/// fn main() -> std::process::ExitCode {
///     App::new()
///         .mcp(Mcp::new("orders").tool(
///             Tool::new("get_order", get_order).rules("scopes:Orders.Read"),
///         ))
///         .run()
/// }
/// # mod schemars { pub use funcgate::mcp::rmcp::schemars::*; }
/// ```
pub use rmcp::handler::server::wrapper::Json;

/// What a tool's handler may return: a [`Json`] (a typed result, with an output schema), a
/// `String`, an `rmcp::model::CallToolResult` (or `ContentBlock`, `CallToolResponse`,
/// `InputRequiredResult`, `()`), an `rmcp::ErrorData` (a JSON-RPC error), or a `Result` of
/// one of them and an error: an `Err` becomes an `isError` result the client's model reads,
/// or a JSON-RPC error for an `ErrorData`. The SDK's own results, read as the SDK reads them.
///
/// Implemented by funcgate only, for the types above. Another type the SDK can turn into a
/// result is returned as `value.into_call_tool_result()` (a `Result<CallToolResponse,
/// ErrorData>`, with `rmcp::handler::server::tool::IntoCallToolResult` in scope).
pub trait ToolOutput: 'static {
    /// The tool's `outputSchema`: `T`'s for a [`Json<T>`], none otherwise.
    fn output_schema() -> Option<Arc<rmcp::model::JsonObject>> {
        None
    }

    /// The result, as funcgate sends it: on its direct path (`direct`), or through the SDK.
    #[doc(hidden)]
    fn into_answer(self, direct: bool) -> seal::Answer;
}

/// Keeps [`ToolOutput`] funcgate's: its answer type cannot be named, nor built, elsewhere.
mod seal {
    /// A tool's result, or the JSON-RPC error it answered with.
    pub struct Answer(pub(crate) Result<super::Answered, rmcp::ErrorData>);
}

/// A tool's result: the SDK's, or a typed object not yet written (the direct path writes it
/// once for both its places in the answer; the SDK's path builds the SDK's result of it).
pub(crate) enum Answered {
    /// A result as the SDK holds it.
    Sdk(CallToolResponse),
    /// A [`Json`] result that is an object, read as the SDK reads it (`serde_json::to_value`).
    Object(serde_json::Value),
    /// A [`Json`] result that is an object, as the text the SDK writes of it (the direct path
    /// only: see `object_text`).
    ObjectText(String),
}

impl Answered {
    /// The result as the SDK's service sends it.
    fn into_response(self) -> Result<CallToolResponse, ErrorData> {
        match self {
            Answered::Sdk(response) => Ok(response),
            Answered::Object(value) => Ok(CallToolResult::structured(value).into()),
            // Made for the direct path only (the SDK's path asks for `Object`); read back should
            // it ever get here, with the SDK's own words for a result it cannot read.
            Answered::ObjectText(text) => serde_json::from_str(&text)
                .map(|value| CallToolResult::structured(value).into())
                .map_err(|e| {
                    ErrorData::internal_error(
                        format!("Failed to serialize structured content: {e}"),
                        None,
                    )
                }),
        }
    }

    /// Whether the result is the tool's own failure (`isError`).
    pub(crate) fn is_error(&self) -> bool {
        matches!(self, Answered::Sdk(CallToolResponse::Complete(r)) if r.is_error == Some(true))
    }
}

/// The SDK's result types, each answered as the SDK answers it.
macro_rules! sdk_outputs {
    ($($output:ty),* $(,)?) => {$(
        impl ToolOutput for $output {
            fn into_answer(self, _: bool) -> seal::Answer {
                seal::Answer(self.into_call_tool_result().map(Answered::Sdk))
            }
        }
    )*};
}

sdk_outputs!(
    String,
    (),
    rmcp::model::ContentBlock,
    CallToolResult,
    CallToolResponse,
    rmcp::model::InputRequiredResult,
    ErrorData,
);

impl<T: serde::Serialize + rmcp::schemars::JsonSchema + 'static> ToolOutput for Json<T> {
    fn output_schema() -> Option<Arc<rmcp::model::JsonObject>> {
        Some(rmcp::handler::server::common::schema_for_output::<T>())
    }

    fn into_answer(self, direct: bool) -> seal::Answer {
        // The direct path writes the object once, without the tree `to_value` builds; what the
        // writer declines, and the SDK's path, take the SDK's reading.
        if direct && let Some(text) = object_text::object_text(&self.0) {
            return seal::Answer(Ok(Answered::ObjectText(text)));
        }
        seal::Answer(structured(&self.0))
    }
}

impl<O: ToolOutput, E: IntoCallToolResult + 'static> ToolOutput for Result<O, E> {
    fn output_schema() -> Option<Arc<rmcp::model::JsonObject>> {
        O::output_schema()
    }

    fn into_answer(self, direct: bool) -> seal::Answer {
        match self {
            Ok(output) => output.into_answer(direct),
            // The SDK's reading of an error branch: an `isError` result, or its JSON-RPC error.
            Err(error) => seal::Answer(
                Result::<CallToolResult, E>::Err(error)
                    .into_call_tool_result()
                    .map(Answered::Sdk),
            ),
        }
    }
}

/// `value` read as the SDK's `Json` reads it (a map of sorted keys, the last of a repeated
/// one, floats widened, integers beyond 64 bits refused), so both paths answer as the SDK
/// does: an object is kept for the direct path to write once; anything else (which revisions
/// before 2026-07-28 cannot carry as structured content) becomes the SDK's structured result,
/// for the SDK's own treatment of it.
fn structured<T: serde::Serialize>(value: &T) -> Result<Answered, ErrorData> {
    let value = serde_json::to_value(value).map_err(|e| {
        // The SDK's `Json` says the same.
        ErrorData::internal_error(format!("Failed to serialize structured content: {e}"), None)
    })?;
    Ok(match value {
        serde_json::Value::Object(_) => Answered::Object(value),
        other => Answered::Sdk(CallToolResult::structured(other).into()),
    })
}

/// A tool call's arguments as the client sent them, not yet read into the tool's type: the
/// object the SDK parsed, or the JSON text funcgate read itself on its direct path (read
/// straight into the tool's type, with no tree of values in between).
pub struct ToolArguments<'a>(Arguments<'a>);

enum Arguments<'a> {
    /// Parsed by the SDK.
    Parsed(serde_json::Value),
    /// One JSON object as it came in the request's body.
    Text(&'a str),
}

impl ToolArguments<'_> {
    /// Arguments the SDK parsed (an object, or none: `{}`).
    pub(crate) fn parsed(args: Option<rmcp::model::JsonObject>) -> ToolArguments<'static> {
        ToolArguments(Arguments::Parsed(serde_json::Value::Object(
            args.unwrap_or_default(),
        )))
    }

    /// Arguments as JSON text: one object, checked by the caller.
    pub(crate) fn text(text: &str) -> ToolArguments<'_> {
        ToolArguments(Arguments::Text(text))
    }
}

/// What a tool is called with: the SDK's request context with the request, or the request
/// alone (a tool whose handler takes a [`Request`] needs nothing of the SDK's, so its calls
/// can be answered without setting up the SDK's per-request service).
pub enum ToolInput {
    /// Through the SDK's service, with its context.
    Sdk(ToolRequest),
    /// The request alone.
    Plain(Request),
}

impl<S: Send + Sync + 'static> Tool<S> {
    /// The tool `name`, answered by `handler`: `async fn(Args, Request) -> R` or
    /// `async fn(State<S>, Args, Request) -> R` (answered by funcgate directly up to
    /// revision 2025-11-25), or with a [`ToolRequest`] in place of the `Request` when the
    /// tool needs the SDK's context (progress, input-required rounds, the peer); where `Args`
    /// is `Deserialize` and `JsonSchema` (its schema is the tool's `inputSchema`; `()` for
    /// none) and `R` is a [`ToolOutput`]: a [`Json`] (its type's schema is the tool's
    /// `outputSchema`), a `String`, `rmcp::model::CallToolResult`, or a `Result` of them (an
    /// `Err` becomes an `isError` result the client's model reads).
    pub fn new<Args, T: ToolHandler<Args, S>>(name: &str, handler: T) -> Tool<S> {
        let schema = T::input_schema();
        let mut definition = rmcp::model::Tool::new_with_raw(name.to_owned(), None, schema);
        definition.output_schema = T::output_schema();
        Tool {
            name: name.to_owned(),
            rules: "deny".to_owned(),
            definition,
            plain: T::PLAIN,
            run: Arc::new(move |state: &State<S>, args, req| handler.call(state, args, req)),
        }
    }

    /// Its rule, in the `AUTH_POLICY_<NAME>` grammar without methods (checked at start-up):
    /// `scopes:Orders.Read|roles:Orders.Read`, `roles:Orders.Admin&acrs:c1`, `anonymous`.
    /// The setting `AUTH_POLICY_<SERVER>__<TOOL>` replaces it without a rebuild (names
    /// upper-cased, `-` and `.` as `_`).
    pub fn rules(mut self, rules: &str) -> Tool<S> {
        self.rules = rules.to_owned();
        self
    }

    /// What the tool does, for the client's model.
    pub fn description(mut self, text: &str) -> Tool<S> {
        self.definition.description = Some(Cow::Owned(text.to_owned()));
        self
    }

    /// A human-readable title.
    pub fn title(mut self, text: &str) -> Tool<S> {
        self.definition.title = Some(text.to_owned());
        self
    }

    /// Changes the tool's definition as the SDK builds it (annotations, icons, an output
    /// schema for a result that is not a [`Json`]: a [`Json`]'s is derived); its name stays.
    pub fn definition(mut self, edit: impl FnOnce(&mut rmcp::model::Tool)) -> Tool<S> {
        edit(&mut self.definition);
        self.definition.name = Cow::Owned(self.name.clone());
        self
    }
}

/// An `async fn` that answers a tool call; `Args` tells the shapes apart and is never named
/// by hand (see [`Tool::new`]).
pub trait ToolHandler<Args, S>: Send + Sync + 'static {
    /// Whether the handler takes the [`Request`] alone (no SDK context).
    const PLAIN: bool;
    /// The JSON Schema of the tool's arguments.
    fn input_schema() -> Arc<rmcp::model::JsonObject>;
    /// The JSON Schema of the tool's result, when it is typed ([`Json`]).
    fn output_schema() -> Option<Arc<rmcp::model::JsonObject>> {
        None
    }
    /// Answers one call with `args` as the client sent them.
    fn call(&self, state: &State<S>, args: ToolArguments<'_>, input: ToolInput) -> ToolFuture;
}

/// The answer to arguments the tool's type refused: an `isError` result, as the SDK's.
fn refused(refusal: CallToolResponse) -> ToolFuture {
    Box::pin(std::future::ready(seal::Answer(Ok(Answered::Sdk(refusal)))))
}

/// The SDK context a handler that takes [`ToolRequest`] needs; a call without it is a fault
/// of funcgate's dispatch, answered as an internal error rather than run without it.
fn sdk_request(input: ToolInput) -> Result<ToolRequest, ToolFuture> {
    match input {
        ToolInput::Sdk(req) => Ok(req),
        ToolInput::Plain(_) => Err(Box::pin(std::future::ready(seal::Answer(Err(
            ErrorData::internal_error("this tool needs the SDK's request context", None),
        ))))),
    }
}

/// The request of either input.
fn plain_request(input: ToolInput) -> Request {
    match input {
        ToolInput::Sdk(req) => req.req,
        ToolInput::Plain(req) => req,
    }
}

impl<F, Fut, A, R, S> ToolHandler<(A, Request), S> for F
where
    F: Fn(A, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    A: DeserializeOwned + rmcp::schemars::JsonSchema + Send + 'static,
    R: ToolOutput,
{
    const PLAIN: bool = true;

    fn input_schema() -> Arc<rmcp::model::JsonObject> {
        schema_of::<A>()
    }

    fn output_schema() -> Option<Arc<rmcp::model::JsonObject>> {
        R::output_schema()
    }

    fn call(&self, _state: &State<S>, args: ToolArguments<'_>, input: ToolInput) -> ToolFuture {
        match arguments::<A>(args) {
            Ok(args) => {
                let direct = matches!(input, ToolInput::Plain(_));
                let fut = self(args, plain_request(input));
                Box::pin(async move { fut.await.into_answer(direct) })
            }
            Err(refusal) => refused(*refusal),
        }
    }
}

impl<F, Fut, A, R, S> ToolHandler<(State<S>, A, Request), S> for F
where
    F: Fn(State<S>, A, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    A: DeserializeOwned + rmcp::schemars::JsonSchema + Send + 'static,
    R: ToolOutput,
    S: Send + Sync + 'static,
{
    const PLAIN: bool = true;

    fn input_schema() -> Arc<rmcp::model::JsonObject> {
        schema_of::<A>()
    }

    fn output_schema() -> Option<Arc<rmcp::model::JsonObject>> {
        R::output_schema()
    }

    fn call(&self, state: &State<S>, args: ToolArguments<'_>, input: ToolInput) -> ToolFuture {
        match arguments::<A>(args) {
            Ok(args) => {
                let direct = matches!(input, ToolInput::Plain(_));
                let fut = self(state.clone(), args, plain_request(input));
                Box::pin(async move { fut.await.into_answer(direct) })
            }
            Err(refusal) => refused(*refusal),
        }
    }
}

impl<F, Fut, A, R, S> ToolHandler<(A, ToolRequest), S> for F
where
    F: Fn(A, ToolRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    A: DeserializeOwned + rmcp::schemars::JsonSchema + Send + 'static,
    R: ToolOutput,
{
    const PLAIN: bool = false;

    fn input_schema() -> Arc<rmcp::model::JsonObject> {
        schema_of::<A>()
    }

    fn output_schema() -> Option<Arc<rmcp::model::JsonObject>> {
        R::output_schema()
    }

    fn call(&self, _state: &State<S>, args: ToolArguments<'_>, input: ToolInput) -> ToolFuture {
        let req = match sdk_request(input) {
            Ok(req) => req,
            Err(fault) => return fault,
        };
        match arguments::<A>(args) {
            Ok(args) => {
                let fut = self(args, req);
                Box::pin(async move { fut.await.into_answer(false) })
            }
            Err(refusal) => refused(*refusal),
        }
    }
}

impl<F, Fut, A, R, S> ToolHandler<(State<S>, A, ToolRequest), S> for F
where
    F: Fn(State<S>, A, ToolRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    A: DeserializeOwned + rmcp::schemars::JsonSchema + Send + 'static,
    R: ToolOutput,
    S: Send + Sync + 'static,
{
    const PLAIN: bool = false;

    fn input_schema() -> Arc<rmcp::model::JsonObject> {
        schema_of::<A>()
    }

    fn output_schema() -> Option<Arc<rmcp::model::JsonObject>> {
        R::output_schema()
    }

    fn call(&self, state: &State<S>, args: ToolArguments<'_>, input: ToolInput) -> ToolFuture {
        let req = match sdk_request(input) {
            Ok(req) => req,
            Err(fault) => return fault,
        };
        match arguments::<A>(args) {
            Ok(args) => {
                let fut = self(state.clone(), args, req);
                Box::pin(async move { fut.await.into_answer(false) })
            }
            Err(refusal) => refused(*refusal),
        }
    }
}

/// The schema of `A`; `()` (no arguments) as the empty object schema clients expect.
fn schema_of<A: rmcp::schemars::JsonSchema + 'static>() -> Arc<rmcp::model::JsonObject> {
    if std::any::TypeId::of::<A>() == std::any::TypeId::of::<()>() {
        return rmcp::handler::server::common::schema_for_empty_input();
    }
    rmcp::handler::server::common::schema_for_type::<A>()
}

/// The arguments as `A`, or the `isError` result saying which field is wrong (never a value:
/// the arguments are the caller's). Input the tool cannot take is a tool error the model can
/// correct, as the 2025-11-25 revision asks, not a protocol error.
fn arguments<A: DeserializeOwned + 'static>(
    args: ToolArguments<'_>,
) -> Result<A, Box<CallToolResponse>> {
    // Read plainly first: the path to a wrong field is tracked (an allocation per key) only
    // when there is one to report, on a second read.
    let read = if std::any::TypeId::of::<A>() == std::any::TypeId::of::<()>() {
        // No arguments: whatever object came is not read.
        serde_path_to_error::deserialize(serde_json::Value::Null)
    } else {
        match args.0 {
            Arguments::Parsed(value) => match A::deserialize(&value) {
                Ok(args) => return Ok(args),
                Err(_) => serde_path_to_error::deserialize(value),
            },
            Arguments::Text(text) => {
                match A::deserialize(&mut serde_json::Deserializer::from_str(text)) {
                    Ok(args) => return Ok(args),
                    // Read again as the SDK reads arguments, into an object of values (a key
                    // given twice keeps its last value), so both paths give the same answer.
                    Err(_) => match serde_json::from_str(text) {
                        Ok(value) => {
                            return arguments::<A>(ToolArguments(Arguments::Parsed(value)));
                        }
                        Err(_) => serde_path_to_error::deserialize(
                            &mut serde_json::Deserializer::from_str(text),
                        ),
                    },
                }
            }
        }
    };
    read.map_err(|e| {
        let path: String = e.path().to_string().chars().take(60).collect();
        let text = e.inner().to_string();
        let names_a_field = ["missing field", "unknown field", "duplicate field"]
            .iter()
            .any(|p| text.starts_with(p));
        let reason = if names_a_field {
            text.split(" at line ").next().unwrap_or("").to_owned()
        } else {
            "a value of the wrong type".to_owned()
        };
        let message = match path.as_str() {
            "." | "" => format!("invalid arguments: {reason}"),
            _ => format!("invalid arguments: {path}: {reason}"),
        };
        Box::new(CallToolResponse::Complete(CallToolResult::error(vec![
            rmcp::model::ContentBlock::text(message),
        ])))
    })
}

/// A tool call as the tool sees it: the request that carried it (the caller's identity and
/// claims, its headers without `Authorization`), and the MCP request context for progress,
/// log messages and anything else of the SDK's (`peer`).
///
/// The caller's token is not here: a tool that calls another API on the caller's behalf gets
/// its own token for that API (on-behalf-of), never this one.
pub struct ToolRequest {
    req: Request,
    context: RequestContext<RoleServer>,
    input_responses: Option<rmcp::model::InputResponses>,
    request_state: Option<String>,
}

impl std::ops::Deref for ToolRequest {
    type Target = Request;

    fn deref(&self) -> &Request {
        &self.req
    }
}

impl ToolRequest {
    /// Reports progress to a client that asked for it (`_meta.progressToken`): the reply
    /// then becomes a stream of server-sent events ending with the result. A no-op otherwise.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        let Some(token) = self.context.meta.get_progress_token() else {
            return;
        };
        let mut param = ProgressNotificationParam::new(token, progress);
        param.total = total;
        param.message = message.map(str::to_owned);
        // A client that went away is not the tool's failure.
        let _ = self.context.peer.notify_progress(param).await;
    }

    /// The client's answers to what an earlier `InputRequiredResult` of this tool asked for
    /// (`inputResponses`, 2026-07-28), keyed as the tool asked; `None` on a first call.
    pub fn input_responses(&self) -> Option<&rmcp::model::InputResponses> {
        self.input_responses.as_ref()
    }

    /// The `requestState` echoed from an earlier `InputRequiredResult`. The client holds it
    /// between rounds and can change it: check it (or seal it) before trusting it.
    pub fn request_state(&self) -> Option<&str> {
        self.request_state.as_deref()
    }

    /// The SDK's request context: the request's `_meta`, its cancellation, the peer.
    pub fn context(&self) -> &RequestContext<RoleServer> {
        &self.context
    }
}

impl std::fmt::Debug for ToolRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolRequest")
            .field("id", &self.context.id)
            .finish_non_exhaustive()
    }
}

/// A tool with its state bound and its rule parsed.
struct BoundTool {
    policy: Policy,
    /// The short scope names the rule accepts, for the 403's `scope`.
    scopes: Vec<String>,
    definition: rmcp::model::Tool,
    /// The handler takes the request alone.
    plain: bool,
    run: Box<dyn Fn(ToolArguments<'_>, ToolInput) -> ToolFuture + Send + Sync>,
}

/// Who is calling, handed to the SDK inside the HTTP request's extensions.
pub(crate) struct Caller {
    pub(crate) identity: Option<Arc<Identity>>,
    /// The `Authorization` header, for the tool's on-behalf-of calls (never shown to it).
    pub(crate) authorization: Option<String>,
    pub(crate) services: Arc<Services>,
    pub(crate) headers: Headers,
    /// How the tool call ended, for the call line and telemetry.
    pub(crate) outcome: Mutex<Option<ToolOutcome>>,
}

/// How a tool call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ToolOutcome {
    /// A result.
    Ok,
    /// An `isError` result: the tool's own failure.
    ToolError,
}

/// The SDK handler funcgate serves: its own tools, then the team's extras.
pub(crate) struct Server<H> {
    info: Implementation,
    instructions: Option<String>,
    tools: Vec<BoundTool>,
    extras: H,
}

impl<H> Server<H> {
    /// The tool `name`: looked up once per request, its rule, shape and handler read from it.
    fn tool(&self, name: &str) -> Option<&BoundTool> {
        self.tools.iter().find(|t| t.definition.name == name)
    }
}

/// The caller of the request `context` belongs to.
fn caller(context: &RequestContext<RoleServer>) -> Option<&Arc<Caller>> {
    context
        .extensions
        .get::<http::request::Parts>()?
        .extensions
        .get::<Arc<Caller>>()
}

/// Whether `who` may call a tool with `policy`, now or after a step-up it can be asked for.
fn may_call(policy: &Policy, who: Option<&Identity>) -> bool {
    match who {
        None => policy.is_anonymous(),
        Some(who) => match policy.check(who) {
            Ok(()) => true,
            Err(e) => e.kind == crate::errors::ErrorKind::InsufficientClaims,
        },
    }
}

impl<H: ServerHandler> ServerHandler for Server<H> {
    fn get_info(&self) -> ServerConfig {
        let mut info = self.extras.get_info();
        info.server_info = self.info.clone();
        // Stateless: no stream outlives a request, so no `resources/updated` or
        // `list_changed` notification can ever be sent; never advertise them.
        if let Some(resources) = info.capabilities.resources.as_mut() {
            resources.subscribe = None;
            resources.list_changed = None;
        }
        if let Some(prompts) = info.capabilities.prompts.as_mut() {
            prompts.list_changed = None;
        }
        if let Some(text) = &self.instructions {
            info.instructions = Some(text.clone());
        }
        if !self.tools.is_empty() {
            info.capabilities.tools = Some(rmcp::model::ToolsCapability::default());
        } else {
            info.capabilities.tools = None;
        }
        info
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        self.tool(name).map(|t| t.definition.clone())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let who = caller(&context).and_then(|c| c.identity.as_deref());
        let tools = self
            .tools
            .iter()
            .filter(|t| may_call(&t.policy, who))
            .map(|t| t.definition.clone())
            .collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(caller) = caller(&context).cloned() else {
            return Err(ErrorData::internal_error("no caller", None));
        };
        let Some(tool) = self.tool(&request.name) else {
            // The name is the caller's: not repeated into the SDK's log line.
            return Err(ErrorData::invalid_params("unknown tool", None));
        };
        // The transport decided already; this keeps a tool from ever running on a path
        // that skipped it.
        let allowed = match caller.identity.as_deref() {
            None => tool.policy.is_anonymous(),
            Some(who) => tool.policy.check(who).is_ok(),
        };
        if !allowed {
            return Err(ErrorData::invalid_request("not allowed", None));
        }
        let args = ToolArguments::parsed(request.arguments);
        let req = ToolRequest {
            req: Request::for_tool(
                caller.headers.clone(),
                caller.identity.clone(),
                caller.authorization.clone(),
                Arc::clone(&caller.services),
            ),
            context,
            input_responses: request.input_responses,
            request_state: request.request_state,
        };
        let result = (tool.run)(args, ToolInput::Sdk(req))
            .await
            .0
            .and_then(Answered::into_response);
        let outcome = match &result {
            Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => {
                Some(ToolOutcome::ToolError)
            }
            Ok(_) => Some(ToolOutcome::Ok),
            Err(_) => None,
        };
        if let Ok(mut slot) = caller.outcome.lock() {
            *slot = outcome;
        }
        result
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [rmcp::model::ProtocolVersion]> {
        Cow::Borrowed(SUPPORTED_VERSIONS)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        self.extras.complete(request, context).await
    }

    #[allow(deprecated)] // Still part of the revisions before 2026-07-28.
    async fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.extras.set_level(request, context).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        self.extras.get_prompt(request, context).await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.extras.list_prompts(request, context).await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.extras.list_resources(request, context).await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.extras.list_resource_templates(request, context).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        self.extras.read_resource(request, context).await
    }
}

/// The revisions funcgate serves: the stateless ones the issue and the Functions profile
/// name, and 2025-03-26, the version a client that sends no header is taken to speak.
const SUPPORTED_VERSIONS: &[rmcp::model::ProtocolVersion] = &[
    rmcp::model::ProtocolVersion::V_2025_03_26,
    rmcp::model::ProtocolVersion::V_2025_06_18,
    rmcp::model::ProtocolVersion::V_2025_11_25,
    rmcp::model::ProtocolVersion::V_2026_07_28,
];

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    #[test]
    fn a_direct_paths_text_read_on_the_sdks_path_is_its_object_or_an_internal_error() {
        use super::Answered;
        let read = Answered::ObjectText(r#"{"a":1}"#.to_owned()).into_response();
        let object = Answered::Object(serde_json::json!({"a": 1})).into_response();
        let structured = |r: Option<super::CallToolResponse>| match r {
            Some(super::CallToolResponse::Complete(result)) => result.structured_content,
            _ => None,
        };
        let read = structured(read.ok());
        assert_eq!(read, Some(serde_json::json!({"a": 1})));
        assert_eq!(read, structured(object.ok()));
        let broken = Answered::ObjectText("{".to_owned()).into_response();
        assert_eq!(
            broken.err().map(|e| e.code),
            Some(rmcp::model::ErrorCode::INTERNAL_ERROR)
        );
    }

    use super::{Mcp, Tool};
    use crate::functions::{Request, State};
    use crate::settings::ToolRules;

    async fn cancel(_: (), _req: Request) -> String {
        "cancelled".to_owned()
    }

    fn server() -> Mcp<()> {
        Mcp::new("orders").tool(Tool::new("cancel", cancel).rules("roles:Orders.Admin"))
    }

    #[test]
    fn a_tools_setting_is_taken_parsed_and_never_shared_with_a_folder() {
        let state = State(Arc::new(()));
        let setting = "AUTH_POLICY_ORDERS__CANCEL".to_owned();
        let with = |rules: &[(&str, &str)], folders: &[&str]| ToolRules {
            rules: rules
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            folder_settings: folders.iter().map(|f| (*f).to_owned()).collect(),
        };
        let taken = server()
            .bind(&state, &with(&[(&setting, "scopes:Orders.Cancel")], &[]))
            .map(|(_, taken)| taken);
        assert_eq!(taken.ok(), Some(vec![setting.clone()]));
        let unparsable = server().bind(&state, &with(&[(&setting, "rolez:x")], &[]));
        assert!(unparsable.err().is_some_and(|e| e.starts_with(&setting)));
        // A folder `orders__cancel` owns the same name: which one it meant cannot be told.
        let shadowed = server().bind(&state, &with(&[], &[&setting]));
        assert!(
            shadowed
                .err()
                .is_some_and(|e| e.contains("also a function folder's setting"))
        );
    }
}
