//! Azure services played on 127.0.0.1: the App Service managed-identity endpoint (plain HTTP,
//! as in Azure), and a Key Vault plus Entra token endpoint over TLS with the test CA.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;

/// The access token the fake identity endpoints hand out and the fake vault expects.
pub const VAULT_TOKEN: &str = "kv-access-token-7f3a";
/// The `IDENTITY_HEADER` value the fake managed-identity endpoint requires.
pub const IDENTITY_HEADER: &str = "identity-header-4c1d";

/// How the fake vault answers authorized reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VaultMode {
    Normal,
    /// Every read answers this status with a Key Vault error body.
    Status(u16),
    /// The next N reads answer 429 with `Retry-After: 1`.
    Throttle(u32),
    /// Reads never answer.
    Hang,
    /// 200 with a body that is not JSON.
    Malformed,
    /// Reads answer after this many milliseconds, with the value the secret had when the read
    /// arrived (a slow read racing a write).
    Slow(u64),
}

#[derive(Default)]
struct Counters {
    challenges: usize,
    reads: usize,
    writes: usize,
    identity_calls: usize,
    token_calls: usize,
}

struct VaultState {
    secrets: HashMap<String, String>,
    mode: VaultMode,
    counters: Counters,
    base: String,
}

/// The fake Azure: a vault and token endpoint over TLS, an identity endpoint over HTTP.
pub struct FakeAzure {
    /// `https://127.0.0.1:PORT`, the vault and the authority host.
    pub vault_url: String,
    /// `http://127.0.0.1:PORT/msi/token`, for `IDENTITY_ENDPOINT`.
    pub identity_endpoint: String,
    state: Arc<Mutex<VaultState>>,
    handles: Vec<actix_web::dev::ServerHandle>,
}

pub fn tls_config(cert: &str) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{dir}/{cert}.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/{cert}.key")).unwrap();
    rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap()
}

impl FakeAzure {
    /// Starts the servers with `secrets` in the vault.
    pub fn start(secrets: &[(&str, &str)]) -> FakeAzure {
        FakeAzure::start_with_cert(secrets, "localhost")
    }

    /// Starts the servers, the vault presenting fixture certificate `cert`.
    pub fn start_with_cert(secrets: &[(&str, &str)], cert: &'static str) -> FakeAzure {
        let tls = TcpListener::bind("127.0.0.1:0").unwrap();
        let plain = TcpListener::bind("127.0.0.1:0").unwrap();
        let vault_url = format!("https://127.0.0.1:{}", tls.local_addr().unwrap().port());
        let identity_endpoint = format!(
            "http://127.0.0.1:{}/msi/token",
            plain.local_addr().unwrap().port()
        );
        let state = Arc::new(Mutex::new(VaultState {
            secrets: secrets
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
            mode: VaultMode::Normal,
            counters: Counters::default(),
            base: vault_url.clone(),
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let data = web::Data::from(shared);
                let d2 = data.clone();
                let vault = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .route("/secrets/{name}/", web::get().to(read))
                        .route("/secrets/{name}/{version}", web::get().to(read))
                        .route("/secrets/{name}", web::put().to(write))
                        .route("/{tenant}/oauth2/v2.0/token", web::post().to(client_token))
                })
                .workers(2)
                .listen_rustls_0_23(tls, tls_config(cert))
                .unwrap()
                .run();
                let identity = HttpServer::new(move || {
                    App::new()
                        .app_data(d2.clone())
                        .route("/msi/token", web::get().to(identity_token))
                })
                .workers(1)
                .listen(plain)
                .unwrap()
                .run();
                tx.send((vault.handle(), identity.handle())).unwrap();
                let _ = futures_util::future::join(vault, identity).await;
            });
        });
        let (a, b) = rx.recv().unwrap();
        FakeAzure {
            vault_url,
            identity_endpoint,
            state,
            handles: vec![a, b],
        }
    }

    pub fn set_mode(&self, mode: VaultMode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Authorized reads that reached the vault.
    pub fn reads(&self) -> usize {
        self.state.lock().unwrap().counters.reads
    }

    /// Authorized writes that reached the vault.
    pub fn writes(&self) -> usize {
        self.state.lock().unwrap().counters.writes
    }

    /// The vault's current value of `name`.
    pub fn secret(&self, name: &str) -> Option<String> {
        self.state
            .lock()
            .unwrap()
            .secrets
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    /// Unauthorized requests answered with a challenge.
    pub fn challenges(&self) -> usize {
        self.state.lock().unwrap().counters.challenges
    }

    /// Calls to the managed-identity endpoint.
    pub fn identity_calls(&self) -> usize {
        self.state.lock().unwrap().counters.identity_calls
    }

    /// Calls to the client-credentials token endpoint.
    pub fn token_calls(&self) -> usize {
        self.state.lock().unwrap().counters.token_calls
    }

    /// Settings for a handler using this vault with its managed identity.
    pub fn managed_identity_env(&self) -> Vec<(String, String)> {
        vec![
            ("KEY_VAULT_URL".into(), self.vault_url.clone()),
            ("IDENTITY_ENDPOINT".into(), self.identity_endpoint.clone()),
            ("IDENTITY_HEADER".into(), IDENTITY_HEADER.into()),
            ("SSL_CERT_FILE".into(), ca_file()),
        ]
    }
}

impl Drop for FakeAzure {
    fn drop(&mut self) {
        for h in &self.handles {
            drop(h.stop(false));
        }
    }
}

/// The test CA bundle.
pub fn ca_file() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/test-ca.pem").to_owned()
}

fn expires_on() -> i64 {
    super::now() + 3600
}

async fn identity_token(state: web::Data<Mutex<VaultState>>, req: HttpRequest) -> HttpResponse {
    state.lock().unwrap().counters.identity_calls += 1;
    let header = req
        .headers()
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok());
    if header != Some(IDENTITY_HEADER) {
        return HttpResponse::BadRequest().json(json!({"error": "invalid_request"}));
    }
    let query = req.query_string();
    if !query.contains("api-version=2019-08-01") || !query.contains("resource=") {
        return HttpResponse::BadRequest()
            .json(json!({"error": "invalid_request", "query": query}));
    }
    HttpResponse::Ok().json(json!({
        "access_token": VAULT_TOKEN,
        "expires_on": expires_on().to_string(),
        "resource": "https://vault.azure.net",
        "token_type": "Bearer",
        "client_id": "5e0b1a2c-0000-4000-8000-00000000000a",
    }))
}

async fn client_token(state: web::Data<Mutex<VaultState>>, body: String) -> HttpResponse {
    state.lock().unwrap().counters.token_calls += 1;
    if !body.contains("grant_type=client_credentials") || !body.contains("client_secret=sp-secret")
    {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": VAULT_TOKEN,
    }))
}

fn kv_error(status: u16, code: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(json!({
        "error": {"code": code, "message": format!("fake vault says {code}")}
    }))
}

/// The challenge Key Vault answers unauthenticated calls with; `None` when authorized.
fn challenge(state: &web::Data<Mutex<VaultState>>, req: &HttpRequest) -> Option<HttpResponse> {
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {VAULT_TOKEN}"));
    if authorized {
        return None;
    }
    state.lock().unwrap().counters.challenges += 1;
    Some(HttpResponse::Unauthorized()
        .insert_header((
            "WWW-Authenticate",
            "Bearer authorization=\"https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47\", resource=\"https://vault.azure.net\"",
        ))
        .json(json!({"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}})))
}

/// Set Secret: `PUT /secrets/{name}` with `{"value": ...}`; answers the new version's bundle.
async fn write(
    state: web::Data<Mutex<VaultState>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    // The challenge comes first: the SDK's first, unauthenticated request carries no body.
    if let Some(challenge) = challenge(&state, &req) {
        return challenge;
    }
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return kv_error(400, "BadParameter");
    };
    let name = req
        .match_info()
        .get("name")
        .unwrap_or("")
        .to_ascii_lowercase();
    let Some(value) = body.get("value").and_then(|v| v.as_str()) else {
        return kv_error(400, "BadParameter");
    };
    let (mode, base, version) = {
        let mut s = state.lock().unwrap();
        s.counters.writes += 1;
        if let VaultMode::Status(_) = s.mode {
        } else {
            s.secrets.insert(name.clone(), value.to_owned());
        }
        (
            s.mode,
            s.base.clone(),
            format!("{:032x}", s.counters.writes),
        )
    };
    if let VaultMode::Status(status) = mode {
        return kv_error(status, "Forbidden");
    }
    HttpResponse::Ok().json(json!({
        "value": value,
        "id": format!("{base}/secrets/{name}/{version}"),
        "attributes": {"enabled": true, "created": 1700000000, "updated": 1700000000,
                       "recoveryLevel": "Recoverable+Purgeable"},
    }))
}

async fn read(state: web::Data<Mutex<VaultState>>, req: HttpRequest) -> HttpResponse {
    if let Some(challenge) = challenge(&state, &req) {
        return challenge;
    }
    let name = req
        .match_info()
        .get("name")
        .unwrap_or("")
        .to_ascii_lowercase();
    let version = req.match_info().get("version").map(str::to_owned);
    let (mode, value, base) = {
        let mut s = state.lock().unwrap();
        s.counters.reads += 1;
        let mode = s.mode;
        if let VaultMode::Throttle(n) = mode {
            s.mode = if n > 1 {
                VaultMode::Throttle(n - 1)
            } else {
                VaultMode::Normal
            };
        }
        (mode, s.secrets.get(&name).cloned(), s.base.clone())
    };
    match mode {
        VaultMode::Status(status) => return kv_error(status, "Forbidden"),
        VaultMode::Throttle(_) => {
            return HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "1"))
                .json(json!({"error": {"code": "Throttled", "message": "slow down"}}));
        }
        VaultMode::Hang => {
            actix_web::rt::time::sleep(Duration::from_secs(30)).await;
            return kv_error(504, "Timeout");
        }
        VaultMode::Malformed => {
            return HttpResponse::Ok()
                .content_type("application/json")
                .body("{\"value\": ");
        }
        VaultMode::Slow(ms) => actix_web::rt::time::sleep(Duration::from_millis(ms)).await,
        VaultMode::Normal => {}
    }
    match value {
        None => kv_error(404, "SecretNotFound"),
        Some(value) => {
            let version = version.unwrap_or_else(|| "0123456789abcdef0123456789abcdef".into());
            HttpResponse::Ok().json(json!({
                "value": value,
                "id": format!("{base}/secrets/{name}/{version}"),
                "attributes": {"enabled": true, "created": 1700000000, "updated": 1700000000,
                               "recoveryLevel": "Recoverable+Purgeable"},
                "tags": {}
            }))
        }
    }
}
