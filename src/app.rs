//! The function app a team's `main.rs` builds: its shared state, its functions, and `run`.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::downstream::Downstream;
use crate::functions::{Function, Registered, Registry, State};
use crate::mcp::Mcp;
use crate::settings::{SettingError, Settings, ToolRules};
use crate::state::AppState;

/// A function app: typed shared state registered once, and the functions it serves. Build it
/// in `main` and [`run`](App::run) it, as `lambda_http::run(service_fn(handler))` does:
///
/// ```no_run
/// use funcgate::{App, Function, Outcome, Reply, Request, State, builtin};
///
/// struct Greeting(String);
///
/// async fn hello(State(greeting): State<Greeting>, _req: Request) -> Outcome {
///     Ok(Reply::json(200, &greeting.0))
/// }
///
/// fn main() -> std::process::ExitCode {
///     App::with_state(Greeting("hello".into()))
///         .function(builtin::health())
///         .function(Function::new("hello", hello).rules("GET=authenticated"))
///         .run()
/// }
/// ```
pub struct App<S = ()> {
    state: State<S>,
    functions: Registry,
    /// The app's name and version ([`App::named`]).
    about: Option<(String, String)>,
    /// What registration found wrong (an MCP tool's rule that does not parse), reported
    /// at start-up like a wrong setting.
    problems: Vec<SettingError>,
    /// Declared downstream APIs ([`App::downstream`]).
    downstreams: Vec<(String, Downstream)>,
    /// MCP servers by name, bound at start-up: a setting may give a tool its rule.
    servers: Vec<(String, BindServer)>,
}

/// Binds an MCP server with the tools' rules the settings give (by setting name): the
/// registered server and the setting names it took.
type BindServer = Box<dyn FnOnce(&ToolRules) -> Result<(Registered, Vec<String>), String> + Send>;

impl App<()> {
    /// An app with no shared state.
    pub fn new() -> App<()> {
        App::with_state(())
    }
}

impl Default for App<()> {
    fn default() -> Self {
        App::new()
    }
}

impl<S: Send + Sync + 'static> App<S> {
    /// An app whose handlers may take [`State<S>`]: `state` is built once, here, and shared by
    /// every call (a database pool, an HTTP client, the app's own configuration).
    pub fn with_state(state: S) -> App<S> {
        App {
            state: State(Arc::new(state)),
            functions: Registry::default(),
            about: None,
            problems: Vec::new(),
            downstreams: Vec::new(),
            servers: Vec::new(),
        }
    }

    /// Names the app for `health` and the start-up line, beside funcgate's own version:
    /// `App::new().named(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))`.
    pub fn named(mut self, name: &str, version: &str) -> App<S> {
        self.about = Some((name.to_owned(), version.to_owned()));
        self
    }

    /// Registers `function`; a second function with the same name replaces the first.
    pub fn function(mut self, function: Function<S>) -> App<S> {
        // Names are compared as the registry compares them, case aside.
        if self
            .servers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(function.name()))
        {
            self.problems.push(SettingError {
                name: format!("function {:?}", function.name()),
                problem: "an MCP server has this name; calls and rules are by name".into(),
            });
            return self;
        }
        self.functions.add(function.bind(&self.state));
        self
    }

    /// Serves the MCP server `mcp` at its path (see [`Mcp`]), and the protected resource
    /// metadata it needs (`builtin::protected_resource`) if the app does not register it.
    /// A rule that does not parse stops start-up with a line naming the server and tool.
    ///
    /// ```no_run
    /// use funcgate::App;
    /// use funcgate::mcp::{Mcp, Tool, ToolRequest};
    ///
    /// async fn ping(_args: (), _req: ToolRequest) -> String {
    ///     "pong".to_owned()
    /// }
    ///
    /// fn main() -> std::process::ExitCode {
    ///     App::new()
    ///         .mcp(Mcp::new("tools").tool(Tool::new("ping", ping).rules("authenticated")))
    ///         .run()
    /// }
    /// ```
    pub fn mcp<H: rmcp::ServerHandler>(mut self, mcp: Mcp<S, H>) -> App<S> {
        let name = mcp_name(&mcp);
        if self.functions.find(&name).is_some()
            || self
                .servers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            self.problems.push(SettingError {
                name: format!("MCP server {name:?}"),
                problem: "a function or server has this name; calls and rules are by name".into(),
            });
            return self;
        }
        // Bound at start-up, once the settings (which may give a tool its rule) are read.
        let state = self.state.clone();
        self.servers
            .push((name, Box::new(move |overrides| mcp.bind(&state, overrides))));
        if self
            .functions
            .find(crate::functions::protected_resource::FOLDER)
            .is_none()
        {
            self = self.function(crate::functions::protected_resource::protected_resource());
        }
        self
    }

    /// Declares the downstream API `name`, which functions call with
    /// [`Request::downstream`](crate::Request::downstream) (a token) or
    /// [`Request::downstream_api`](crate::Request::downstream_api) (requests). Its settings:
    /// `DOWNSTREAM_<NAME>_URL` and `DOWNSTREAM_<NAME>_SCOPES` (`<NAME>` upper case, `-` as
    /// `_`) replace what the code says; the token exchange uses `AUTH_CLIENT_CREDENTIAL`.
    ///
    /// ```no_run
    /// use funcgate::{App, Downstream};
    ///
    /// fn main() -> std::process::ExitCode {
    ///     App::new()
    ///         .downstream(
    ///             "graph",
    ///             Downstream::on_behalf_of(["https://graph.microsoft.com/User.Read"])
    ///                 .url("https://graph.microsoft.com"),
    ///         )
    ///         .run()
    /// }
    /// ```
    pub fn downstream(mut self, name: &str, api: Downstream) -> App<S> {
        self.downstreams
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.downstreams.push((name.to_owned(), api));
        self
    }

    /// The first problem registration found, as a start-up error.
    fn registration_problem(&mut self) -> Result<(), SettingError> {
        match self.problems.drain(..).next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }

    /// Binds the MCP servers with the tools' rules from `settings`; a rule that does not
    /// parse stops start-up naming its server and tool, and a tool setting no tool takes is
    /// reported (a typo would otherwise leave the rule in code in force unnoticed).
    fn bind_servers(&mut self, overrides: &ToolRules) -> Result<(), SettingError> {
        let mut taken: Vec<String> = Vec::new();
        for (name, bind) in self.servers.drain(..) {
            let fail = |problem| SettingError {
                name: format!("MCP server {name:?}"),
                problem,
            };
            let (registered, names) = bind(overrides).map_err(fail)?;
            // Two servers whose names differ in `-` and `_` only name their tools alike.
            if let Some(shared) = names.iter().find(|n| taken.contains(n)) {
                return Err(fail(format!(
                    "{shared} also names another server's tool: rename one to set either's rule"
                )));
            }
            self.functions.add(registered);
            taken.extend(names);
        }
        crate::settings::warn_untaken(overrides.rules.keys(), &taken, "tool of an MCP server");
        Ok(())
    }

    /// Starts logging (one line per record on stdout, `RUST_LOG`, default `info`), reads the
    /// settings from the environment and serves until the host stops the process.
    ///
    /// Returns the process's exit code, never 0 on failure (the host does not restart a
    /// process that exits 0): 2 when a setting is wrong or missing (one line on stderr naming
    /// it), 1 when the port cannot be bound.
    ///
    /// Run with the single argument `--funcgate-check` (as `cargo funcgate check` does; the
    /// Functions host never passes it), it prints what it would serve as one JSON object on
    /// stdout instead (its functions and rules, the folders, a setting that stops start-up)
    /// and exits.
    pub fn run(mut self) -> ExitCode {
        if std::env::args().nth(1).as_deref() == Some(CHECK_ARGUMENT) {
            return self.describe();
        }
        init_logging();
        if let Err(e) = self.registration_problem() {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
        let about = self.about.take();
        let state = match Settings::from_env().and_then(|settings| {
            self.bind_servers(&settings.tool_rules)?;
            AppState::new(settings, self.functions, about, self.downstreams)
        }) {
            Ok(state) => state,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        let (listen, port_setting) = (
            state.settings.listen,
            if state.settings.standalone {
                "local.settings.json Host.LocalHttpPort"
            } else {
                "FUNCTIONS_CUSTOMHANDLER_PORT"
            },
        );
        match actix_web::rt::System::new().block_on(crate::server::run(state, None)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("funcgate: {port_setting}: cannot listen on {listen}: {e}");
                ExitCode::from(1)
            }
        }
    }

    /// The shared state built from `env` (instead of the process environment) with the app
    /// folder at `root`, for the testing kit.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn build(
        mut self,
        env: HashMap<String, String>,
        root: &Path,
    ) -> Result<AppState, SettingError> {
        self.registration_problem()?;
        let settings = Settings::load(env, root)?;
        self.bind_servers(&settings.tool_rules)?;
        AppState::new(settings, self.functions, self.about, self.downstreams)
    }

    /// `--funcgate-check`: the app as the tooling sees it, as JSON on stdout; 0 when the
    /// settings load, 2 when one stops start-up (named in `error`).
    fn describe(mut self) -> ExitCode {
        let settings = Settings::from_env();
        // The servers bound as start-up binds them (with the settings' tool rules when they
        // load), so they are listed and what start-up would refuse is refused here too.
        let no_overrides = ToolRules::default();
        let overrides = settings.as_ref().map_or(&no_overrides, |s| &s.tool_rules);
        let bound = self
            .registration_problem()
            .and_then(|()| self.bind_servers(overrides));
        let functions: Vec<serde_json::Value> = self
            .functions
            .iter()
            .map(|f| serde_json::json!({"name": f.name, "rules": f.rules}))
            .collect();
        let mut out = serde_json::json!({
            "funcgate": env!("CARGO_PKG_VERSION"),
            "app": self.about.as_ref().map(|(name, version)| serde_json::json!({"name": name, "version": version})),
            "functions": functions,
        });
        let loaded = bound.and(settings).and_then(|mut settings| {
            // Placed as start-up places them, so a server start-up would refuse is refused
            // here too.
            crate::state::place(&mut settings, &self.functions)?;
            let policies = crate::policies::join(&settings, &self.functions)?;
            Ok((settings, policies))
        });
        let code = match loaded {
            Ok((settings, policies)) => {
                let layout = &settings.layout;
                out["mode"] = serde_json::json!(layout.mode.to_string());
                out["profile"] = serde_json::json!(layout.profile);
                out["names"] = registration_names(&policies, &self.functions);
                out["folders"] = layout
                    .functions
                    .iter()
                    .map(|f| {
                        let rules = policies.get(&f.name);
                        let mount = self.functions.find(&f.name).and_then(|r| r.mcp.as_ref());
                        serde_json::json!({
                            "name": f.name,
                            "route": f.route.template,
                            "methods": f.methods,
                            "invoked": f.invoked,
                            "rules": rules.map(|r| r.describe(f.methods.as_deref())),
                            "any_token": rules.map(|r| r.methods_any_token_passes(f.methods.as_deref())).unwrap_or_default(),
                            "denied": rules.map(|r| r.methods_denied(f.methods.as_deref())).unwrap_or_default(),
                            "mcp": mount.is_some(),
                            "path": layout.public_path(&f.name),
                            "try": rules.and_then(|r| first_call(layout, f, r, mount)),
                        })
                    })
                    .collect();
                ExitCode::SUCCESS
            }
            Err(e) => {
                out["error"] = serde_json::json!(e.to_string());
                ExitCode::from(2)
            }
        };
        println!("{out}");
        code
    }
}

/// Every scope, role and authentication context the rules in force name (functions', MCP
/// servers' and their tools'), each once, in order: what the app registration must define.
fn registration_names(
    policies: &HashMap<String, crate::auth::policy::MethodRules>,
    functions: &Registry,
) -> serde_json::Value {
    let (mut scopes, mut roles, mut contexts): (Vec<&str>, Vec<&str>, Vec<&str>) =
        Default::default();
    let mut names: Vec<&String> = policies.keys().collect();
    // The map's order is not the registration's: sorted, so the list reads the same each run.
    names.sort();
    for name in names {
        for policy in policies[name].policies() {
            let found = policy.all_names();
            scopes.extend(found.scopes);
            roles.extend(found.roles);
            contexts.extend(found.acrs);
        }
        if let Some(mount) = functions.find(name).and_then(|r| r.mcp.as_ref()) {
            scopes.extend(mount.tool_scopes.iter().map(String::as_str));
            roles.extend(mount.tool_roles.iter().map(String::as_str));
            contexts.extend(mount.tool_contexts.iter().map(String::as_str));
        }
    }
    for list in [&mut scopes, &mut roles, &mut contexts] {
        crate::auth::policy::each_once(list);
    }
    serde_json::json!({"scopes": scopes, "roles": roles, "contexts": contexts})
}

/// What `cargo funcgate dev` suggests calling first on a function or MCP server: the method
/// (a server's `POST`, a function's `GET`), the path (optional parameters left out, under the
/// route prefix), and the claims of a token `rules` let through by their first alternative
/// (a server's with every scope its tools name, so that a `tools/list` lists them). `None`
/// when the folder does not take that method, the method is denied or (for a function) needs
/// no token, the route has a required parameter, or that path reaches another function.
fn first_call(
    layout: &crate::layout::Layout,
    f: &crate::layout::FunctionDef,
    rules: &crate::auth::policy::MethodRules,
    mount: Option<&crate::functions::McpMount>,
) -> Option<serde_json::Value> {
    let method = if mount.is_some() { "POST" } else { "GET" };
    let policy = rules.for_method(method);
    // An open server still has tools with rules: a token with their scopes lists them.
    let worth_it = policy.needs_token()
        || (policy.is_anonymous() && mount.is_some_and(|m| !m.tool_scopes.is_empty()));
    if !f.accepts(method) || !worth_it {
        return None;
    }
    let path = layout.public_path(&f.name)?;
    // The path as the host routes it: an optional parameter before a literal, or a literal
    // route of another function, would send the call elsewhere.
    layout
        .route(method, &path)
        .filter(|routed| routed.function.name == f.name)?;
    let mut token = policy.passing_claims();
    token.scopes.extend(
        mount
            .iter()
            .flat_map(|m| m.tool_scopes.iter().map(String::as_str)),
    );
    crate::auth::policy::each_once(&mut token.scopes);
    Some(serde_json::json!({
        "method": method,
        "path": path,
        "token": {"scp": token.scopes, "roles": token.roles, "acrs": token.acrs},
    }))
}

/// Serves `state` on `listener` until the returned server is stopped; call inside an actix
/// system.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) fn serve(
    state: AppState,
    listener: TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    crate::server::start(state, Some(listener)).map(|(server, _)| server)
}

/// The argument that makes [`App::run`] describe the app instead of serving it.
const CHECK_ARGUMENT: &str = "--funcgate-check";

/// One line per record on stdout, which the host logs as the function's console; a logger the
/// team set up first is kept.
fn init_logging() {
    // The MCP SDK's tracing reaches `log` (actix turns tracing's `log` feature on): its
    // lines would print caller text (a JSON-RPC id) and add four lines to every request, so
    // it is off unless RUST_LOG names it. Its spans arrive under `tracing::span` rather than
    // the SDK's own target (`serve_inner;` on every request through its service): off too.
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(log::LevelFilter::Info)
        .filter_module("rmcp", log::LevelFilter::Off)
        .filter_module("tracing::span", log::LevelFilter::Off);
    builder.parse_env(env_logger::Env::default());
    let _ = builder
        .target(env_logger::Target::Stdout)
        .format(|buf, record| {
            writeln!(
                buf,
                "{} {:5} {}",
                buf.timestamp_millis(),
                record.level(),
                record.args()
            )
        })
        .try_init();
}

/// An MCP server's name, before it is bound.
fn mcp_name<S: Send + Sync + 'static, H: rmcp::ServerHandler>(mcp: &Mcp<S, H>) -> String {
    mcp.name().to_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::first_call;
    use crate::auth::policy::MethodRules;
    use crate::layout::Layout;

    #[test]
    fn the_first_call_is_a_path_that_reaches_the_function() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("host.json"),
            r#"{"version":"2.0","configurationProfile":"mcp-custom-handler","customHandler":{"http":{"defaultAuthorizationLevel":"anonymous"}}}"#,
        )
        .unwrap();
        let mut layout = Layout::load(dir.path(), &HashMap::new()).unwrap();
        let get = Some(vec!["GET".to_owned()]);
        for (name, template, methods) in [
            ("items", "orders/{id?}/items", get.clone()),
            ("orders", "orders", get.clone()),
            ("lone", "lone/{id?}", get.clone()),
            ("needs", "needs/{id}", get),
            ("poster", "poster", Some(vec!["POST".to_owned()])),
        ] {
            assert!(layout.add_folderless(name, template, methods).unwrap());
        }
        let rules = MethodRules::parse("GET,HEAD=roles:R&acrs:c1;POST=scopes:W").unwrap();
        let first = |name: &str| {
            let f = layout.function(name).unwrap();
            first_call(&layout, f, &rules, None)
        };
        assert_eq!(
            first("lone").unwrap(),
            serde_json::json!({"method": "GET", "path": "/lone",
                "token": {"scp": [], "roles": ["R"], "acrs": ["c1"]}})
        );
        assert_eq!(first("orders").unwrap()["path"], "/orders");
        // "/orders" is the literal route's, not this one's.
        assert_eq!(first("items"), None);
        // No path without a value for `id`; no GET to suggest.
        assert_eq!(first("needs"), None);
        assert_eq!(first("poster"), None);
        let open = MethodRules::parse("GET,HEAD=anonymous").unwrap();
        let f = layout.function("lone").unwrap();
        assert_eq!(first_call(&layout, f, &open, None), None);
    }
}
