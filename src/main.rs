//! The `handler` executable the Functions host starts.
//!
//! Start-up: settings (`src/settings/`) → shared state (`AppState::new`, `src/state.rs`) →
//! server (`funcgate::run`, `src/server.rs`). A request's path: `host::dispatch` (readiness
//! probe, forwarded request or invocation payload; which function, by `layout`) →
//! `gateway::handle` (CORS, method, the method's rule, `auth::Guard`, then the body) → the
//! function registered in `functions::register!` → the reply, rendered by the host adapter.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // One line per record on stdout: the host logs stdout lines as the function's console.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
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
        .init();
    // Exit codes are never 0 on failure: the host does not restart a process that exits 0.
    let state = match funcgate::Settings::from_env().and_then(funcgate::AppState::new) {
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
    match actix_web::rt::System::new().block_on(funcgate::run(state)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("funcgate: {port_setting}: cannot listen on {listen}: {e}");
            ExitCode::from(1)
        }
    }
}
