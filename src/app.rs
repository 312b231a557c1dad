//! The function app a team's `main.rs` builds: its shared state, its functions, and `run`.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::functions::{Function, Registry, State};
use crate::settings::{SettingError, Settings};
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
}

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
        }
    }

    /// Registers `function`; a second function with the same name replaces the first.
    pub fn function(mut self, function: Function<S>) -> App<S> {
        self.functions.add(function.bind(&self.state));
        self
    }

    /// Starts logging (one line per record on stdout, `RUST_LOG`, default `info`), reads the
    /// settings from the environment and serves until the host stops the process.
    ///
    /// Returns the process's exit code, never 0 on failure (the host does not restart a
    /// process that exits 0): 2 when a setting is wrong or missing (one line on stderr naming
    /// it), 1 when the port cannot be bound.
    pub fn run(self) -> ExitCode {
        init_logging();
        let state = match Settings::from_env()
            .and_then(|settings| AppState::new(settings, self.functions))
        {
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
        self,
        env: HashMap<String, String>,
        root: &Path,
    ) -> Result<AppState, SettingError> {
        let settings = Settings::load(env, root)?;
        AppState::new(settings, self.functions)
    }
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

/// One line per record on stdout, which the host logs as the function's console; a logger the
/// team set up first is kept.
fn init_logging() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
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
