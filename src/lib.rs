//! funcgate: an Azure Functions custom handler that guards functions with Entra ID tokens.
//!
//! A request's path: [`host::dispatch`] (which protocol, which function) → [`gateway::handle`]
//! (CORS, method, [`auth::Guard`], policy) → a function in [`functions`] → back out through the
//! host adapter. State is built once in [`AppState::new`] and shared through `web::Data`.

// Request paths must not panic: the host stops an app after 3 crashes in 30 minutes.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod auth;
pub mod call;
pub mod cors;
pub mod errors;
pub mod functions;
pub mod gateway;
pub mod host;
pub mod net;
pub mod reply;
pub mod secrets;
pub mod settings;

use std::time::Instant;

use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, web};

use auth::Guard;
use secrets::keyvault::KeyVaultStore;
use secrets::local::LocalStore;
use secrets::vault::Vault;
use settings::{SettingError, Settings};

/// Everything requests share, built once at start-up.
pub struct AppState {
    /// The settings.
    pub settings: Settings,
    /// Token validation and its key cache.
    pub guard: Guard,
    /// Where `vault` reads secrets.
    pub vault: Vault,
    /// Start-up time, for `health`.
    pub started: Instant,
}

impl AppState {
    /// Builds the shared state; fails on settings that only show when used (the secrets file).
    pub fn new(settings: Settings) -> Result<AppState, SettingError> {
        let http = net::Http::new();
        let guard = Guard::new(&settings.auth, &http);
        let vault = build_vault(&settings)?;
        Ok(AppState {
            guard,
            vault,
            started: Instant::now(),
            settings,
        })
    }
}

/// The secret source: Key Vault when `KEY_VAULT_URL` is set, else the local secrets file.
fn build_vault(settings: &Settings) -> Result<Vault, SettingError> {
    let cfg = &settings.vault;
    match &cfg.key_vault {
        Some(kv) => {
            let store = KeyVaultStore::new(&kv.url, &kv.credential, kv.loopback);
            log::info!(
                "secrets: Key Vault {} with {}, cache {} s",
                kv.url,
                kv.credential.describe(),
                cfg.cache_ttl.as_secs()
            );
            Ok(Vault::new(
                Box::new(store),
                "keyvault",
                cfg.cache_ttl,
                cfg.allowed.clone(),
            ))
        }
        None => {
            let store =
                LocalStore::load(&settings.local_secrets_file).map_err(|problem| SettingError {
                    name: "LOCAL_SECRETS_FILE".into(),
                    problem: problem.to_string(),
                })?;
            // The file is read once already; caching it again would only delay edits.
            Ok(Vault::new(
                Box::new(store),
                "local",
                std::time::Duration::ZERO,
                cfg.allowed.clone(),
            ))
        }
    }
}

/// The application: one catch-all service, since routes come from `function.json` files.
pub fn app(
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
pub const CLIENT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long an idle keep-alive connection is kept (the host reuses its connections).
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(75);

/// Worker threads: one per core, at most four (the guard is CPU-light and instances are small).
fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4)
}

/// Starts the key cache and serves until the server stops.
pub async fn run(state: AppState) -> std::io::Result<()> {
    let listen = state.settings.listen;
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
    .client_disconnect_timeout(std::time::Duration::from_secs(1))
    .keep_alive(actix_web::http::KeepAlive::Timeout(KEEP_ALIVE))
    .bind(listen)?
    .run();
    for store in state.guard.key_stores() {
        tokio::spawn(store.run_background());
    }
    log::info!(
        "funcgate {} listening on http://{listen} (route prefix {:?}, {})",
        env!("CARGO_PKG_VERSION"),
        state.settings.layout.route_prefix,
        if state.settings.standalone {
            "standalone"
        } else {
            "under the Functions host"
        }
    );
    if !state.settings.proxy_variables.is_empty() {
        log::info!(
            "outbound HTTP (signing keys, Key Vault) honours {} (NO_PROXY exempts hosts)",
            state.settings.proxy_variables.join(", ")
        );
    }
    for f in &state.settings.layout.functions {
        let rules = state
            .settings
            .policies
            .get(&f.name)
            .map(|r| r.describe(f.methods.as_deref()))
            .unwrap_or_else(|| "deny".to_owned());
        log::info!("function {}: {rules}", f.name);
    }
    server.await
}
