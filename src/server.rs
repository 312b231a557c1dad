//! The HTTP server: one catch-all service, since routes come from `function.json` files.

use std::net::TcpListener;

use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, web};

use crate::host;
use crate::state::AppState;

/// The application: one catch-all service, since routes come from `function.json` files.
pub(crate) fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .default_service(web::to(host::dispatch))
}

/// Time allowed for a request's head (method, path, headers) to arrive.
pub(crate) const CLIENT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long an idle keep-alive connection is kept (the host reuses its connections).
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(75);

/// Worker threads: one per core, at most four (the guard is CPU-light and instances are small).
fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4)
}

/// Serves until the server stops (SIGTERM, SIGINT, or its handle), on `listener` or else on
/// the settings' address; then flushes telemetry.
pub(crate) async fn run(state: AppState, listener: Option<TcpListener>) -> std::io::Result<()> {
    let (server, state) = start(state, listener)?;
    let served = server.await;
    // The server stopped: send what telemetry still holds before exiting.
    let telemetry = state.services.telemetry.clone();
    actix_web::rt::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .ok();
    served
}

/// Binds, starts the key caches' refresh tasks and logs the start-up lines; the returned
/// server runs when awaited (or polled by the runtime) and stops through its handle.
pub(crate) fn start(
    state: AppState,
    listener: Option<TcpListener>,
) -> std::io::Result<(Server, web::Data<AppState>)> {
    let state = web::Data::new(state);
    let server = HttpServer::new({
        let state = state.clone();
        move || app(state.clone())
    })
    .workers(workers())
    // Keep-alive callers must not wait on Nagle's algorithm (about 40 ms per response).
    .tcp_nodelay(true)
    // Slow-loris safety: a request's head must arrive within 5 s.
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    // After a reply to a call whose body was left unread, the connection is closed; until
    // then the server reads and discards what still arrives (so the client sees the reply
    // rather than a reset). The host is on the same machine: a quarter second is plenty,
    // and bounds what a refused upload costs.
    .client_disconnect_timeout(std::time::Duration::from_millis(250))
    .keep_alive(actix_web::http::KeepAlive::Timeout(KEEP_ALIVE));
    let server = match listener {
        Some(listener) => server.listen(listener)?,
        None => server.bind(state.settings.listen)?,
    };
    let listen = server
        .addrs()
        .first()
        .copied()
        .unwrap_or(state.settings.listen);
    let server = server.run();
    for store in state.services.guard.key_stores() {
        tokio::spawn(store.run_background());
    }
    log::info!(
        "funcgate {} listening on http://{listen} (route prefix {:?}, host mode {}, {})",
        env!("CARGO_PKG_VERSION"),
        state.settings.layout.route_prefix,
        state.settings.layout.mode,
        if state.settings.standalone {
            "standalone"
        } else {
            "under the Functions host"
        }
    );
    if state.services.easy_auth {
        log::info!(
            "App Service Authentication is on (WEBSITE_AUTH_ENABLED): functions may read its X-MS-CLIENT-PRINCIPAL as platform-provided; only bearer tokens authenticate"
        );
    } else {
        log::info!(
            "App Service Authentication is off: X-MS-CLIENT-PRINCIPAL* and X-MS-TOKEN-* headers are removed before functions see a call"
        );
    }
    if let Some(url) = &state.challenges.resource_metadata {
        log::info!("protected resource metadata at {url} (PUBLIC_BASE_URL)");
        if state
            .functions
            .find(crate::functions::protected_resource::FOLDER)
            .is_none()
        {
            log::warn!(
                "PUBLIC_BASE_URL is set but builtin::protected_resource() is not registered: 401s point to a document nobody serves"
            );
        }
    }
    if let Some(config) = state
        .settings
        .telemetry
        .as_ref()
        .filter(|_| state.services.telemetry.is_on())
    {
        log::info!(
            "telemetry: Application Insights (APPLICATIONINSIGHTS_CONNECTION_STRING), {}",
            config.sampling
        );
    }
    if !state.settings.proxy_variables.is_empty() {
        log::info!(
            "outbound HTTP (signing keys, Key Vault) honours {} (NO_PROXY exempts hosts)",
            state.settings.proxy_variables.join(", ")
        );
    }
    for f in &state.settings.layout.functions {
        let rules = state
            .policies
            .get(&f.name)
            .map(|r| r.describe(f.methods.as_deref()))
            .unwrap_or_else(|| "deny".to_owned());
        log::info!("function {}: {rules}", f.name);
    }
    Ok((server, state))
}
