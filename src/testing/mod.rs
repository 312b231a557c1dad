//! A testing kit for function apps (cargo feature `testing`, for dev-dependencies): a loopback
//! identity provider that publishes a **test** signing key the way Entra ID does and mints
//! tokens with any claims, and the app started in-process on a random port, reachable through
//! both host protocols.
//!
//! ```no_run
//! use funcgate::testing::{IdentityProvider, TestApp};
//! use funcgate::{App, Function, Outcome, Reply, Request};
//! use serde_json::json;
//!
//! async fn echo(req: Request) -> Outcome {
//!     Ok(Reply::json(200, &json!({ "upn": req.claim("upn") })))
//! }
//!
//! # async fn test() {
//! let idp = IdentityProvider::start();
//! let app = App::new().function(Function::new("echo", echo).rules("GET=authenticated"));
//! // The folder holding host.json and echo/function.json: the team's crate root.
//! let app = TestApp::start(app, env!("CARGO_MANIFEST_DIR"), &idp, &[]).unwrap();
//! let token = idp.token(json!({ "upn": "ada@contoso.com" }));
//! let answer = app.get("/echo", Some(&token)).await;
//! assert_eq!(answer.json()["upn"], "ada@contoso.com");
//! assert_eq!(app.get("/echo", None).await.code(), "AuthorizationHeaderMissing");
//! # }
//! ```
//!
//! Nothing here is ever trusted by a real deployment: the key is published in this crate.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::{HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::app::App;

/// The test key's private half (published: never trust it).
const PRIVATE_KEY: &[u8] = include_bytes!("test-key.pem");
/// Its public half, as a JWK without `kid`.
const PUBLIC_JWK: &str = include_str!("test-key.jwk.json");
/// The `kid` the test key is published under.
pub const KID: &str = "funcgate-test-key";
/// The tenant the test identity provider speaks for.
pub const TENANT_ID: &str = "7e57da7a-0000-4000-8000-000000000001";
/// The API's client id (audience `api://{CLIENT_ID}`).
pub const CLIENT_ID: &str = "7e57da7a-0000-4000-8000-0000000000a1";
/// The client application the minted tokens name (`azp`).
pub const CALLER_APP_ID: &str = "7e57da7a-0000-4000-8000-0000000000c1";

/// Why the kit could not do what it was asked: start a provider or an app, copy an app
/// folder, read rules.
#[derive(Debug)]
pub struct TestError(String);

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TestError {}

/// An OpenID provider on 127.0.0.1 (discovery document and JWKS at Entra's paths) that signs
/// tokens with the kit's test key. Stops when dropped.
pub struct IdentityProvider {
    base: String,
    key: EncodingKey,
    /// The server, or `None` for [`IdentityProvider::offline`].
    handle: Option<ServerHandle>,
    /// What the token and managed identity endpoints saw, and how they answer next.
    state: Arc<Mutex<ProviderState>>,
}

/// The `IDENTITY_HEADER` the provider's managed identity endpoint requires.
pub const IDENTITY_HEADER: &str = "funcgate-test-identity-header";

/// The token and managed identity endpoints' records and scripted answers.
#[derive(Default)]
struct ProviderState {
    token_requests: Vec<Vec<(String, String)>>,
    identity_requests: Vec<String>,
    scripted: std::collections::VecDeque<(u16, Value)>,
    lifetime: Option<u64>,
}

impl IdentityProvider {
    /// Starts the provider on a free loopback port.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound or the built-in test key does not load: the kit is
    /// for tests, where a panic is the failure report.
    #[allow(
        clippy::expect_used,
        reason = "a test kit reports failures by panicking"
    )]
    pub fn start() -> IdentityProvider {
        let started = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| TestError(format!("cannot bind a loopback port: {e}")))
            .and_then(IdentityProvider::serve);
        started.expect("the provider started")
    }

    /// Starts the provider on 127.0.0.1:`port` (a development issuer whose tokens stay valid
    /// across restarts of the app, as `cargo funcgate dev` runs it).
    pub fn start_on(port: u16) -> Result<IdentityProvider, TestError> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .map_err(|e| TestError(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
        IdentityProvider::serve(listener)
    }

    /// Mints tokens for a provider of this kit already serving at `instance` (another
    /// process's [`IdentityProvider::start_on`]), without serving anything itself.
    pub fn offline(instance: &str) -> Result<IdentityProvider, TestError> {
        Ok(IdentityProvider {
            base: instance.trim_end_matches('/').to_owned(),
            key: test_key()?,
            handle: None,
            state: Arc::default(),
        })
    }

    fn serve(listener: TcpListener) -> Result<IdentityProvider, TestError> {
        let port = listener
            .local_addr()
            .map_err(|e| TestError(format!("the provider's address: {e}")))?
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let (tx, rx) = mpsc::channel();
        let served = base.clone();
        let state: Arc<Mutex<ProviderState>> = Arc::default();
        let shared = Endpoints {
            state: Arc::clone(&state),
            key: test_key()?,
            base: base.clone(),
        };
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let base = web::Data::new(served);
                let shared = web::Data::new(shared);
                let server = HttpServer::new(move || {
                    actix_web::App::new()
                        .app_data(base.clone())
                        .app_data(shared.clone())
                        .route(
                            "/{tenant}/v2.0/.well-known/openid-configuration",
                            web::get().to(discovery),
                        )
                        .route("/{tenant}/discovery/v2.0/keys", web::get().to(jwks))
                        .route(
                            "/{tenant}/oauth2/v2.0/token",
                            web::post().to(token_endpoint),
                        )
                        .route("/msi/token", web::get().to(identity_endpoint))
                })
                .workers(1)
                .listen(listener);
                let server = match server {
                    Ok(server) => server.run(),
                    Err(_) => return,
                };
                let _ = tx.send(server.handle());
                let _ = server.await;
            });
        });
        let handle = rx
            .recv()
            .map_err(|_| TestError("the provider's server did not start".into()))?;
        Ok(IdentityProvider {
            base,
            key: test_key()?,
            handle: Some(handle),
            state,
        })
    }

    /// `http://127.0.0.1:PORT`: the value for `AUTH_INSTANCE`.
    pub fn instance(&self) -> &str {
        &self.base
    }

    /// The settings of a managed identity served by this provider (`IDENTITY_ENDPOINT`,
    /// `IDENTITY_HEADER`, as App Service sets them): its tokens are signed with the test key
    /// for the resource asked for.
    pub fn managed_identity_settings(&self) -> Vec<(String, String)> {
        vec![
            (
                "IDENTITY_ENDPOINT".into(),
                format!("{}/msi/token", self.base),
            ),
            ("IDENTITY_HEADER".into(), IDENTITY_HEADER.into()),
        ]
    }

    /// Every request to the token endpoint (`POST /{tenant}/oauth2/v2.0/token`) so far, as
    /// its form fields in order. The endpoint plays Entra's on-behalf-of flow: a `jwt-bearer`
    /// grant whose `assertion` this provider signed gets a token for the first scope's
    /// resource, carrying the assertion's user claims.
    pub fn token_requests(&self) -> Vec<Vec<(String, String)>> {
        self.state
            .lock()
            .map(|s| s.token_requests.clone())
            .unwrap_or_default()
    }

    /// The `resource` of every request to the managed identity endpoint so far.
    pub fn managed_identity_requests(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| s.identity_requests.clone())
            .unwrap_or_default()
    }

    /// The next token request is answered `status` with `body` (Entra's error shapes:
    /// `{"error": "interaction_required", "claims": "..."}`, `{"error": "invalid_client"}`).
    pub fn answer_next_token_request(&self, status: u16, body: Value) {
        if let Ok(mut s) = self.state.lock() {
            s.scripted.push_back((status, body));
        }
    }

    /// The `expires_in` of the tokens the token endpoint issues (3600 unless set).
    pub fn token_lifetime(&self, seconds: u64) {
        if let Ok(mut s) = self.state.lock() {
            s.lifetime = Some(seconds);
        }
    }

    /// The v2 issuer of [`TENANT_ID`].
    pub fn issuer(&self) -> String {
        format!("{}/{TENANT_ID}/v2.0", self.base)
    }

    /// The settings that make an app trust this provider: `AUTH_TENANT_ID`, `AUTH_CLIENT_ID`,
    /// `AUTH_INSTANCE`.
    pub fn settings(&self) -> Vec<(String, String)> {
        vec![
            ("AUTH_TENANT_ID".into(), TENANT_ID.into()),
            ("AUTH_CLIENT_ID".into(), CLIENT_ID.into()),
            ("AUTH_INSTANCE".into(), self.base.clone()),
        ]
    }

    /// The claims of a valid v2 app-only access token for the API, valid for an hour:
    /// `aud`, `iss`, `tid`, `oid`, `sub`, `azp`, `iat`, `nbf`, `exp`, `ver`.
    pub fn claims(&self) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        json!({
            "aud": format!("api://{CLIENT_ID}"),
            "iss": self.issuer(),
            "iat": now - 10,
            "nbf": now - 10,
            "exp": now + 3600,
            "tid": TENANT_ID,
            "oid": "7e57da7a-0000-4000-8000-0000000000d1",
            "sub": "test-subject",
            "azp": CALLER_APP_ID,
            "ver": "2.0",
        })
    }

    /// A token with [`claims`](IdentityProvider::claims) overlaid by `extra` (an object; a
    /// `null` value removes that claim), e.g. `json!({"scp": "Api.Read", "upn": "a@b.c"})`.
    ///
    /// # Panics
    ///
    /// When `extra` is not a JSON object.
    #[allow(clippy::panic, reason = "a test kit reports failures by panicking")]
    pub fn token(&self, extra: Value) -> String {
        let mut claims = self.claims();
        let (Some(base), Value::Object(extra)) = (claims.as_object_mut(), extra) else {
            panic!("IdentityProvider::token takes a JSON object of claims");
        };
        for (name, value) in extra {
            if value.is_null() {
                base.remove(&name);
            } else {
                base.insert(name, value);
            }
        }
        self.sign(&claims)
    }

    /// `claims` exactly as given, signed with the test key under [`KID`].
    ///
    /// # Panics
    ///
    /// When the claims cannot be serialised.
    #[allow(
        clippy::expect_used,
        reason = "a test kit reports failures by panicking"
    )]
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).expect("claims serialise")
    }
}

impl Drop for IdentityProvider {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            drop(handle.stop(false));
        }
    }
}

/// The kit's signing key.
fn test_key() -> Result<EncodingKey, TestError> {
    EncodingKey::from_rsa_pem(PRIVATE_KEY).map_err(|e| TestError(format!("the test key: {e}")))
}

async fn discovery(base: web::Data<String>, tenant: web::Path<String>) -> HttpResponse {
    let (base, tenant) = (base.as_str(), tenant.into_inner());
    HttpResponse::Ok().json(json!({
        "issuer": format!("{base}/{tenant}/v2.0"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        // Required by OpenID Connect Discovery 1.0 section 3 (Entra publishes both); the
        // TypeScript MCP SDK refuses a configuration without them.
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

/// What the token and managed identity endpoints share.
struct Endpoints {
    state: Arc<Mutex<ProviderState>>,
    key: EncodingKey,
    base: String,
}

impl Endpoints {
    fn mint(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap_or_default()
    }
}

/// The claims of a token this provider signed (checked with its public key), or `None`.
fn verified_claims(token: &str) -> Option<Value> {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(PUBLIC_JWK).ok()?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).ok()?;
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .ok()
        .map(|data| data.claims)
}

/// Entra's token endpoint, for the on-behalf-of flow.
async fn token_endpoint(
    shared: web::Data<Endpoints>,
    tenant: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let (scripted, lifetime) = match shared.state.lock() {
        Ok(mut s) => {
            s.token_requests.push(form.clone());
            (s.scripted.pop_front(), s.lifetime.unwrap_or(3600))
        }
        Err(_) => (None, 3600),
    };
    if let Some((status, answer)) = scripted {
        let status = actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
        return HttpResponse::build(status).json(answer);
    }
    let bad = |error: &str, why: &str| {
        HttpResponse::BadRequest().json(json!({"error": error, "error_description": why}))
    };
    if field("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        || field("requested_token_use").as_deref() != Some("on_behalf_of")
    {
        return bad(
            "unsupported_grant_type",
            "only the on-behalf-of flow is played here",
        );
    }
    let credential_ok = field("client_secret").is_some()
        || (field("client_assertion_type").as_deref()
            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            && field("client_assertion").is_some());
    if field("client_id").is_none() || !credential_ok {
        return HttpResponse::Unauthorized().json(json!({"error": "invalid_client"}));
    }
    let Some(user) = field("assertion").as_deref().and_then(verified_claims) else {
        return bad(
            "invalid_grant",
            "the assertion is not a token of this provider",
        );
    };
    let scope = field("scope").unwrap_or_default();
    let first = scope.split_whitespace().next().unwrap_or("");
    let (resource, names) = match first.rfind('/') {
        Some(i) => (
            &first[..i],
            scope
                .split_whitespace()
                .map(|s| s.rsplit('/').next().unwrap_or(s))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        None => (first, scope.clone()),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut claims = json!({
        "aud": resource,
        "iss": format!("{}/{}/v2.0", shared.base, tenant.as_str()),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime as i64,
        "scp": names,
        "ver": "2.0",
    });
    for name in ["tid", "oid", "sub", "upn", "name", "preferred_username"] {
        if let Some(value) = user.get(name) {
            claims[name] = value.clone();
        }
    }
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": shared.mint(&claims),
    }))
}

/// App Service's managed identity endpoint (`IDENTITY_ENDPOINT`, API version 2019-08-01).
async fn identity_endpoint(
    shared: web::Data<Endpoints>,
    req: actix_web::HttpRequest,
) -> HttpResponse {
    let header = req
        .headers()
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok());
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    let resource = query
        .iter()
        .find(|(k, _)| k == "resource")
        .map(|(_, v)| v.clone());
    let (Some(IDENTITY_HEADER), Some(resource)) = (header, resource) else {
        return HttpResponse::BadRequest().json(json!({"error": "invalid_request"}));
    };
    if let Ok(mut s) = shared.state.lock() {
        s.identity_requests.push(resource.clone());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let token = shared.mint(&json!({
        "aud": resource,
        "iss": format!("{}/{TENANT_ID}/v2.0", shared.base),
        "sub": "7e57da7a-0000-4000-8000-0000000000f1",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    }));
    HttpResponse::Ok().json(json!({
        "access_token": token,
        "expires_on": (now + 3600).to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": "7e57da7a-0000-4000-8000-0000000000f1",
    }))
}

async fn jwks() -> HttpResponse {
    let mut jwk: Value = serde_json::from_str(PUBLIC_JWK).unwrap_or(Value::Null);
    jwk["kid"] = json!(KID);
    jwk["use"] = json!("sig");
    HttpResponse::Ok().json(json!({ "keys": [jwk] }))
}

/// Claims that let a token through `rules` (a function's rules, as given to
/// [`Function::rules`](crate::Function::rules)) for `method`, for [`IdentityProvider::token`]:
/// `scp`, `roles` and `acrs` as Entra issues them, picked from the rule's first alternative
/// (its first scope or role where any one will do). An empty object when any valid token
/// passes (`authenticated`, `anonymous`), `None` when none does (`deny`, or a method the rules
/// do not cover). A tool's rule has no methods and reads as a bare function rule does, which
/// covers `GET`: ask for `"GET"`.
///
/// `cargo funcgate function` writes these claims into the test it generates; a team's own
/// tests can ask for them rather than restate a rule's names.
///
/// ```
/// use funcgate::testing::passing_claims;
/// use serde_json::json;
///
/// let rules = "GET=scopes:Orders.Read|roles:Orders.Read;POST=roles:Orders.Write&acrs:c1";
/// assert_eq!(passing_claims(rules, "GET").unwrap(), Some(json!({"scp": "Orders.Read"})));
/// assert_eq!(
///     passing_claims(rules, "POST").unwrap(),
///     Some(json!({"roles": ["Orders.Write"], "acrs": ["c1"]}))
/// );
/// assert_eq!(passing_claims(rules, "DELETE").unwrap(), None);
/// // A tool's rule.
/// assert_eq!(
///     passing_claims("roles:Orders.Admin&acrs:c1", "GET").unwrap(),
///     Some(json!({"roles": ["Orders.Admin"], "acrs": ["c1"]}))
/// );
/// assert!(passing_claims("scopes:", "GET").is_err());
/// ```
///
/// # Errors
///
/// When `rules` do not parse: the reason start-up would give.
pub fn passing_claims(rules: &str, method: &str) -> Result<Option<Value>, TestError> {
    let rules =
        crate::auth::policy::MethodRules::parse(rules).map_err(|e| TestError(e.to_string()))?;
    let policy = rules.for_method(method);
    if matches!(policy, crate::auth::policy::Policy::Deny) {
        return Ok(None);
    }
    let picked = policy.passing_claims();
    let mut claims = serde_json::Map::new();
    if !picked.scopes.is_empty() {
        // `scp` is one space-separated string; `roles` and `acrs` are arrays.
        claims.insert("scp".to_owned(), json!(picked.scopes.join(" ")));
    }
    if !picked.roles.is_empty() {
        claims.insert("roles".to_owned(), json!(picked.roles));
    }
    if !picked.acrs.is_empty() {
        claims.insert("acrs".to_owned(), json!(picked.acrs));
    }
    Ok(Some(Value::Object(claims)))
}

/// A copy of the app folder at `root` whose `host.json` turns on neither forwarding nor
/// proxying: the host then invokes every function with payloads (`POST /{name}`), the only
/// way [`TestApp::invoke`] reaches a function with one HTTP input and one HTTP output. The
/// files directly in `root` and each function folder's `function.json` are copied.
///
/// funcgate decides which protocol a request speaks from the app's layout, never from the
/// request, so testing a function over both protocols takes two apps: `root` for
/// [`TestApp::call`] and this copy for [`TestApp::invoke`].
pub fn invocation_copy(root: impl AsRef<Path>) -> Result<tempfile::TempDir, TestError> {
    let root = root.as_ref();
    let io = |what: &str, e: std::io::Error| TestError(format!("{what}: {e}"));
    let dir = tempfile::tempdir().map_err(|e| io("cannot make a folder", e))?;
    let host_text = std::fs::read_to_string(root.join("host.json"))
        .map_err(|e| io("cannot read host.json", e))?;
    let mut host: Value = serde_json::from_str(&host_text)
        .map_err(|e| TestError(format!("host.json is not JSON: {e}")))?;
    if let Some(custom) = host
        .as_object_mut()
        .map(|h| h.entry("customHandler").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        custom.insert("enableForwardingHttpRequest".into(), json!(false));
        custom.insert("enableProxyingHttpRequest".into(), json!(false));
    }
    if let Some(h) = host.as_object_mut() {
        h.remove("configurationProfile");
    }
    let entries = std::fs::read_dir(root).map_err(|e| io("cannot list the app folder", e))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let target = dir.path().join(entry.file_name());
        if path.join("function.json").is_file() {
            std::fs::create_dir(&target).map_err(|e| io("cannot copy a function", e))?;
            std::fs::copy(path.join("function.json"), target.join("function.json"))
                .map_err(|e| io("cannot copy a function", e))?;
        } else if path.is_file() && entry.file_name() != "host.json" {
            std::fs::copy(&path, &target).map_err(|e| io("cannot copy a file", e))?;
        }
    }
    std::fs::write(dir.path().join("host.json"), host.to_string())
        .map_err(|e| io("cannot write host.json", e))?;
    Ok(dir)
}

/// An app served on a free loopback port, as the Functions host would reach it: in-process
/// ([`TestApp::start`]) or as the built executable ([`TestApp::start_binary`]). Stops when
/// dropped.
pub struct TestApp {
    base: String,
    route_prefix: String,
    running: Running,
    http: reqwest::Client,
}

/// What serves a [`TestApp`].
enum Running {
    InProcess(ServerHandle),
    Binary(std::process::Child, Logs),
}

/// What a started executable printed (stdout and stderr, through one pipe).
///
/// The kit keeps a writer of that pipe too. The app writes a call's lines before it replies,
/// but the thread reading the pipe may run well after the test has the reply (on a loaded
/// machine, many milliseconds later); a mark written into the pipe and then read back shows
/// that everything the app wrote before it has been read, with no guessing at delays.
struct Logs {
    read: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    mark: std::io::PipeWriter,
    marks: std::sync::atomic::AtomicU64,
}

impl Logs {
    /// A pipe for `command`'s stdout and stderr, read on a thread of its own.
    fn attach(command: &mut std::process::Command) -> std::io::Result<Logs> {
        let (mut reader, writer) = std::io::pipe()?;
        let mark = writer.try_clone()?;
        command.stdout(writer.try_clone()?).stderr(writer);
        let read = std::sync::Arc::<std::sync::Mutex<Vec<u8>>>::default();
        let into = read.clone();
        std::thread::spawn(move || {
            use std::io::Read as _;
            let mut buf = [0u8; 4096];
            // Ends when every writer is closed: the app has exited and the `Logs` is dropped.
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    // A signal, not the end: closing the pipe would cost the app its output.
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                into.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        Ok(Logs {
            read,
            mark,
            marks: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Everything the app wrote before this call, and what it goes on writing for a moment
    /// (a line a background task writes as the reply leaves). A mark shorter than `PIPE_BUF`
    /// reaches the pipe whole, after what the app wrote before it; it is taken out of the
    /// text again.
    fn text(&self) -> String {
        use std::io::Write as _;
        let n = self
            .marks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mark = format!("{MARK}{n}\u{0}");
        if (&self.mark).write_all(mark.as_bytes()).is_ok() {
            let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
                // The whole text is searched (memchr's searcher reads megabytes in microseconds):
                // another call may have taken its own mark out in the meantime.
                if let Some(at) = memchr::memmem::find(&read, mark.as_bytes()) {
                    read.drain(at..at + mark.len());
                    break;
                }
                drop(read);
                if std::time::Instant::now() >= give_up {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        let len = || self.read.lock().unwrap_or_else(|p| p.into_inner()).len();
        let (quiet, give_up) = (
            std::time::Duration::from_millis(30),
            std::time::Instant::now() + std::time::Duration::from_millis(500),
        );
        let (mut seen, mut since) = (len(), std::time::Instant::now());
        while since.elapsed() < quiet && std::time::Instant::now() < give_up {
            std::thread::sleep(std::time::Duration::from_millis(5));
            let now = len();
            if now != seen {
                (seen, since) = (now, std::time::Instant::now());
            }
        }
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        // A mark that came back after its call gave up waiting for it is no output of the app.
        while let Some(at) = memchr::memmem::find(&read, MARK.as_bytes()) {
            let end = memchr::memchr(0, &read[at + 1..]).map_or(read.len(), |i| at + 1 + i + 1);
            read.drain(at..end);
        }
        String::from_utf8_lossy(&read).into_owned()
    }
}

/// How a mark of [`Logs::text`] begins; its number and a NUL follow.
const MARK: &str = "\u{0}funcgate-testing-mark-";

impl TestApp {
    /// Serves `app` with the function folders (and `host.json`) under `root`, trusting `idp`,
    /// with `settings` on top (`AUTH_DEBUG_ERRORS`, `AUTH_POLICY_<NAME>`, ...). The process
    /// environment is not read.
    pub fn start<S: Send + Sync + 'static>(
        app: App<S>,
        root: impl AsRef<Path>,
        idp: &IdentityProvider,
        settings: &[(&str, &str)],
    ) -> Result<TestApp, TestError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| TestError(format!("cannot bind a loopback port: {e}")))?;
        let port = listener
            .local_addr()
            .map_err(|e| TestError(e.to_string()))?
            .port();
        let root = root.as_ref();
        let mut env: HashMap<String, String> = idp.settings().into_iter().collect();
        env.insert("FUNCTIONS_CUSTOMHANDLER_PORT".into(), port.to_string());
        env.insert(
            "FUNCTIONS_APP_ROOT_PATH".into(),
            root.to_string_lossy().into_owned(),
        );
        for (k, v) in settings {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let (tx, rx) = mpsc::channel();
        let root_owned = root.to_owned();
        // Built on the app's own thread, outside the test's runtime: telemetry's exporter
        // builds a blocking HTTP client, which refuses to start inside one.
        std::thread::spawn(move || {
            let state = match app.build(env, &root_owned) {
                Ok(state) => state,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            let route_prefix = state.settings.layout.route_prefix.clone();
            actix_web::rt::System::new().block_on(async move {
                match crate::app::serve(state, listener) {
                    Ok(server) => {
                        let _ = tx.send(Ok((server.handle(), route_prefix)));
                        let _ = server.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        });
        let (handle, route_prefix) = rx
            .recv()
            .map_err(|_| TestError("the app's thread ended".into()))?
            .map_err(TestError)?;
        Ok(TestApp {
            base: format!("http://127.0.0.1:{port}"),
            route_prefix,
            running: Running::InProcess(handle),
            http: client()?,
        })
    }

    /// Starts the built executable `exe` (`env!("CARGO_BIN_EXE_<name>")`) the way the
    /// Functions host does: working directory and `FUNCTIONS_APP_ROOT_PATH` at `root`,
    /// `FUNCTIONS_CUSTOMHANDLER_PORT` set, only `PATH` kept from the environment; trusting
    /// `idp`, with `settings` on top. Ready once it answers the host's probe (`GET /`).
    pub async fn start_binary(
        exe: impl AsRef<Path>,
        root: impl AsRef<Path>,
        idp: &IdentityProvider,
        settings: &[(&str, &str)],
    ) -> Result<TestApp, TestError> {
        let root = root.as_ref();
        let layout = crate::layout::Layout::load(root, &HashMap::new())
            .map_err(|e| TestError(format!("{}: {}", e.file, e.problem)))?;
        let http = client()?;
        // A port free a moment ago may be taken by the time the app binds it: try another.
        let mut last = String::new();
        for _ in 0..4 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| TestError(format!("cannot find a free port: {e}")))?
                .port();
            let mut command = std::process::Command::new(exe.as_ref());
            command
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .current_dir(root)
                .env("FUNCTIONS_APP_ROOT_PATH", root)
                .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
                .envs(idp.settings())
                .envs(settings.iter().copied())
                .stdin(std::process::Stdio::null());
            let logs = Logs::attach(&mut command)
                .map_err(|e| TestError(format!("cannot make a pipe for its output: {e}")))?;
            let mut child = command
                .spawn()
                .map_err(|e| TestError(format!("cannot start {}: {e}", exe.as_ref().display())))?;
            // The command holds the app's ends of the pipe; only the app should.
            drop(command);
            let base = format!("http://127.0.0.1:{port}");
            for _ in 0..400 {
                if let Ok(Some(status)) = child.try_wait() {
                    last = format!(
                        "{} exited with {status}: {}",
                        exe.as_ref().display(),
                        logs.text()
                    );
                    break;
                }
                if http.get(format!("{base}/")).send().await.is_ok() {
                    return Ok(TestApp {
                        base,
                        route_prefix: layout.route_prefix,
                        running: Running::Binary(child, logs),
                        http,
                    });
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            if last.is_empty() {
                last = format!("{} never answered on {base}", exe.as_ref().display());
            }
        }
        Err(TestError(last))
    }

    /// What the executable printed before this call (call lines, audit lines, warnings): a
    /// call's lines are there once its reply has come back. Empty for an app served
    /// in-process, whose log records go to the test process's logger.
    pub fn logs(&self) -> String {
        match &self.running {
            Running::Binary(_, logs) => logs.text(),
            Running::InProcess(_) => String::new(),
        }
    }

    /// A public path with the app's route prefix (`/api/items/1`).
    fn url_path(&self, path: &str) -> String {
        if self.route_prefix.is_empty() {
            path.to_owned()
        } else {
            format!("/{}{path}", self.route_prefix)
        }
    }

    /// The URL of a public path (`/items/1`), with the app's route prefix.
    pub fn url(&self, path: &str) -> String {
        if self.route_prefix.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}/{}{path}", self.base, self.route_prefix)
        }
    }

    /// `GET path` as the host forwards it, with a bearer `token` when given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.call("GET", path, token, None).await
    }

    /// `GET path` as proxying mode passes the response on: each piece of the body as it
    /// arrived, with the time since the request was sent (for streamed replies).
    ///
    /// # Panics
    ///
    /// When the app does not answer.
    #[allow(
        clippy::expect_used,
        reason = "a test kit reports failures by panicking"
    )]
    pub async fn get_pieces(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (TestResponse, Vec<(std::time::Duration, String)>) {
        let started = std::time::Instant::now();
        let mut req = self.http.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let mut resp = req.send().await.expect("the app answers");
        let head = TestResponse {
            status: resp.status().as_u16(),
            headers: resp
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::new(),
        };
        let mut pieces = Vec::new();
        while let Some(piece) = resp.chunk().await.expect("the stream ends cleanly") {
            pieces.push((
                started.elapsed(),
                String::from_utf8_lossy(&piece).into_owned(),
            ));
        }
        (head, pieces)
    }

    /// Any method as the host forwards it (forwarding and proxying modes): the original path
    /// and headers, `body` as `(content type, bytes)`. [`TestApp::request`] adds headers.
    ///
    /// # Panics
    ///
    /// When `method` is not an HTTP method or the app does not answer.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &[u8])>,
    ) -> TestResponse {
        let mut req = self.request(method, path);
        if let Some(token) = token {
            req = req.bearer(token);
        }
        if let Some((content_type, bytes)) = body {
            req = req.body(content_type, bytes);
        }
        req.send().await
    }

    /// The same call in the invocation protocol: `POST /{function}` with the `Data.req`
    /// payload the host builds (method, URL, headers, route `params`, JSON or text body;
    /// `path` with the route prefix, as the host reports the URL),
    /// unwrapped from `Outputs.res`. The host invokes a function this way only when it has
    /// bindings beyond one HTTP input and one HTTP output, or when `host.json` forwards
    /// nothing (see [`invocation_copy`]); for any other function the app answers `404
    /// NotFound` (returned as it came), as funcgate never takes a payload the host would not
    /// send. [`TestApp::request`] adds headers.
    ///
    /// # Panics
    ///
    /// When the app does not answer with an invocation response.
    pub async fn invoke(
        &self,
        function: &str,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        token: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> TestResponse {
        // `path` is the URL's path as the host reports it, route prefix included.
        let public = match self.route_prefix.as_str() {
            "" => path,
            prefix => path
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(prefix))
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                .unwrap_or(path),
        };
        let mut req = self.request(method, public);
        if let Some(token) = token {
            req = req.bearer(token);
        }
        for (name, value) in params {
            req = req.param(name, value);
        }
        if let Some((content_type, text)) = body {
            req = req.body(content_type, text);
        }
        req.invoke(function).await
    }

    /// A request to build: any headers, a body of text or bytes, then [`TestRequest::send`]
    /// as the host forwards it or [`TestRequest::invoke`] as it invokes a function.
    ///
    /// ```no_run
    /// # async fn example(app: funcgate::testing::TestApp, token: &str) {
    /// let answer = app
    ///     .request("POST", "/items")
    ///     .bearer(token)
    ///     .header("If-Match", "\"v1\"")
    ///     .body("application/json", r#"{"id":"7"}"#)
    ///     .send()
    ///     .await;
    /// assert_eq!(answer.status, 201);
    /// # }
    /// ```
    pub fn request(&self, method: &str, path: &str) -> TestRequest<'_> {
        TestRequest {
            app: self,
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            params: Vec::new(),
            body: None,
        }
    }
}

impl TestApp {
    /// An MCP client for the server at `path` (`/mcp`), speaking revision 2025-11-25 until
    /// [`McpClient::version`] says otherwise.
    pub fn mcp(&self, path: &str) -> McpClient<'_> {
        McpClient {
            app: self,
            path: path.to_owned(),
            token: None,
            version: "2025-11-25".to_owned(),
            headers: Vec::new(),
        }
    }
}

/// A stateless MCP client over Streamable HTTP, for tests: each call is one POST with the
/// headers a real client sends (`Accept`, `MCP-Protocol-Version`, and from 2026-07-28 on
/// `Mcp-Method` / `Mcp-Name` and the per-request `_meta`).
///
/// ```no_run
/// # async fn test(app: &funcgate::testing::TestApp, token: &str) {
/// let mcp = app.mcp("/mcp").bearer(token);
/// assert_eq!(mcp.initialize().await.status, 200);
/// let tools = mcp.list_tools().await.result();
/// let answer = mcp.call("get_order", serde_json::json!({ "id": 7 })).await;
/// assert_eq!(answer.result()["isError"], false);
/// # }
/// ```
pub struct McpClient<'a> {
    app: &'a TestApp,
    path: String,
    token: Option<String>,
    version: String,
    headers: Vec<(String, String)>,
}

impl McpClient<'_> {
    /// Sends `Authorization: Bearer {token}` with every request.
    pub fn bearer(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// The protocol revision to speak (`2025-06-18`, `2025-11-25`, `2026-07-28`).
    pub fn version(mut self, version: &str) -> Self {
        self.version = version.to_owned();
        self
    }

    /// An extra header on every request (`Origin`, say).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `initialize` (before 2026-07-28) or `server/discover` (from it on).
    pub async fn initialize(&self) -> TestResponse {
        if self.version.as_str() >= "2026-07-28" {
            return self.request("server/discover", json!({})).await;
        }
        let params = json!({
            "protocolVersion": self.version,
            "capabilities": {},
            "clientInfo": {"name": "funcgate-testing", "version": env!("CARGO_PKG_VERSION")},
        });
        self.request("initialize", params).await
    }

    /// `tools/list`.
    pub async fn list_tools(&self) -> TestResponse {
        self.request("tools/list", json!({})).await
    }

    /// `tools/call` of `tool` with `arguments`.
    pub async fn call(&self, tool: &str, arguments: Value) -> TestResponse {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
            .await
    }

    /// `tools/call` with a progress token: the answer is an event stream when the tool
    /// reports progress ([`TestResponse::messages`] reads it).
    pub async fn call_with_progress(&self, tool: &str, arguments: Value) -> TestResponse {
        let params =
            json!({"name": tool, "arguments": arguments, "_meta": {"progressToken": "p1"}});
        self.request("tools/call", params).await
    }

    /// Any JSON-RPC request (`id` 1), with the headers and `_meta` of the revision.
    pub async fn request(&self, method: &str, mut params: Value) -> TestResponse {
        let modern = self.version.as_str() >= "2026-07-28";
        if modern && let Some(object) = params.as_object_mut() {
            let meta = object.entry("_meta").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert(
                    "io.modelcontextprotocol/protocolVersion".into(),
                    json!(self.version),
                );
                meta.insert(
                    "io.modelcontextprotocol/clientInfo".into(),
                    json!({"name": "funcgate-testing", "version": env!("CARGO_PKG_VERSION")}),
                );
                meta.insert(
                    "io.modelcontextprotocol/clientCapabilities".into(),
                    json!({}),
                );
            }
        }
        let name = match method {
            "tools/call" | "prompts/get" => params["name"].as_str().map(str::to_owned),
            "resources/read" => params["uri"].as_str().map(str::to_owned),
            _ => None,
        };
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut req = self
            .app
            .request("POST", &self.path)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", &self.version);
        if modern {
            req = req.header("Mcp-Method", method);
            if let Some(name) = &name {
                req = req.header("Mcp-Name", name);
            }
        }
        if let Some(token) = &self.token {
            req = req.bearer(token);
        }
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        req.body("application/json", body.to_string()).send().await
    }
}

/// A request to a [`TestApp`], built by [`TestApp::request`].
pub struct TestRequest<'a> {
    app: &'a TestApp,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    params: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
}

impl TestRequest<'_> {
    /// `Authorization: Bearer {token}`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// A header (repeat a name to send it twice).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A route parameter, for [`TestRequest::invoke`] (the host's `Params`; a forwarded
    /// request carries them in its path).
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.params.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The body and its content type: text or bytes (`&str`, `String`, `&[u8]`, `Vec<u8>`).
    pub fn body(mut self, content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type.to_owned(), bytes.into()));
        self
    }

    /// Sent as the host forwards it (forwarding and proxying modes).
    ///
    /// # Panics
    ///
    /// When the method is not an HTTP method or the app does not answer.
    #[allow(
        clippy::expect_used,
        reason = "a test kit reports failures by panicking"
    )]
    pub async fn send(self) -> TestResponse {
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).expect("an HTTP method");
        let mut req = self.app.http.request(method, self.app.url(&self.path));
        for (name, value) in &self.headers {
            req = req.header(name, value);
        }
        if let Some((content_type, bytes)) = self.body {
            req = req.header("content-type", content_type).body(bytes);
        }
        TestResponse::from(req.send().await.expect("the app answers")).await
    }

    /// Sent as the host invokes `function` with a payload (see [`TestApp::invoke`]): JSON
    /// content parsed, other text as a string, binary content base64-encoded, as the host
    /// encodes them.
    ///
    /// # Panics
    ///
    /// When the app does not answer.
    #[allow(
        clippy::expect_used,
        reason = "a test kit reports failures by panicking"
    )]
    pub async fn invoke(self, function: &str) -> TestResponse {
        let mut headers = serde_json::Map::new();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), json!([value]));
        }
        let mut req = json!({
            "Url": format!("http://localhost:7071{}", self.app.url_path(&self.path)),
            "Method": self.method,
            "Query": {},
            "Params": self.params.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        });
        if let Some((content_type, bytes)) = &self.body {
            headers.insert("Content-Type".into(), json!([content_type]));
            let text = std::str::from_utf8(bytes).ok();
            req["Body"] = match (text.map(serde_json::from_str::<Value>), text) {
                (Some(Ok(v)), _) if content_type.starts_with("application/json") => v,
                (_, Some(text)) if !binary(content_type) => json!(text),
                _ => json!(base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    bytes
                )),
            };
        }
        req["Headers"] = Value::Object(headers);
        let payload = json!({"Data": {"req": req}, "Metadata": {}});
        let answer = self
            .app
            .http
            .post(format!("{}/{function}", self.app.base))
            .header("content-type", "application/json")
            .body(payload.to_string())
            .send()
            .await
            .expect("the app answers");
        if answer.status() != reqwest::StatusCode::OK {
            return TestResponse::from(answer).await;
        }
        let out: Value = answer.json().await.expect("an invocation response");
        let res = out["Outputs"]["res"].clone();
        let res = if res.is_null() {
            out["ReturnValue"].clone()
        } else {
            res
        };
        TestResponse {
            status: res["statusCode"].as_u64().unwrap_or(0) as u16,
            headers: res["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").into()))
                        .collect()
                })
                .unwrap_or_default(),
            body: res["body"].as_str().unwrap_or("").to_owned(),
        }
    }
}

/// Content the host base64-encodes in an invocation payload.
fn binary(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/octet-stream")
        || essence.to_ascii_lowercase().starts_with("multipart/")
}

impl Drop for TestApp {
    fn drop(&mut self) {
        match &mut self.running {
            Running::InProcess(handle) => drop(handle.stop(false)),
            Running::Binary(child, _) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// The kit's HTTP client: no proxy, no redirects.
fn client() -> Result<reqwest::Client, TestError> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| TestError(e.to_string()))
}

/// An answer, whichever protocol carried it.
#[derive(Clone, Debug)]
pub struct TestResponse {
    /// The HTTP status.
    pub status: u16,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl TestResponse {
    async fn from(resp: reqwest::Response) -> TestResponse {
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        TestResponse {
            status,
            headers,
            body: resp.text().await.unwrap_or_default(),
        }
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The JSON-RPC messages of an MCP answer: the body, or each `data:` of an event stream.
    pub fn messages(&self) -> Vec<Value> {
        let event_stream = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !event_stream {
            return match self.json() {
                Value::Null => Vec::new(),
                one => vec![one],
            };
        }
        self.body
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str(data.trim()).ok())
            .collect()
    }

    /// The `result` of an MCP answer's last message (`Null` when it has none).
    pub fn result(&self) -> Value {
        self.messages()
            .pop()
            .map(|m| m["result"].clone())
            .unwrap_or(Value::Null)
    }

    /// The error `code` of a JSON error body (empty when there is none).
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_owned()
    }

    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
