//! An OpenID provider on 127.0.0.1: discovery document, JWKS, fetch counters, fault modes,
//! and RS256 token minting with the fixture keys.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{CLIENT, TENANT, now};

/// A fixture key pair under `tests/fixtures`.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub jwk: Value,
    pub pem: Vec<u8>,
}

impl TestKey {
    /// Loads fixture `name` (`key1`, `key2`, `other`, `weak1024`) and gives it `kid`.
    pub fn load(name: &'static str, kid: &str) -> TestKey {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let jwk_text = std::fs::read_to_string(format!("{dir}/{name}.jwk.json")).unwrap();
        let mut jwk: Value = serde_json::from_str(&jwk_text).unwrap();
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        TestKey {
            kid: kid.to_owned(),
            jwk,
            pem: std::fs::read(format!("{dir}/{name}.pem")).unwrap(),
        }
    }

    /// The same key with an `issuer` field in its JWKS entry, as Entra publishes.
    pub fn with_issuer(mut self, issuer: &str) -> TestKey {
        self.jwk["issuer"] = json!(issuer);
        self
    }

    /// Signs `claims` with RS256 and this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_kid(claims, Some(&self.kid))
    }

    /// Signs with any (or no) `kid` in the header.
    pub fn sign_with_kid(&self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(&self.pem).unwrap(),
        )
        .unwrap()
    }
}

/// How the provider answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderMode {
    /// Serves discovery and JWKS.
    Up,
    /// Answers 503 to everything.
    Failing,
    /// Never answers (until the client gives up).
    Hanging,
    /// Answers 200 with a body that is not JSON.
    Garbage,
}

struct State {
    keys: Vec<TestKey>,
    tenant_keys: std::collections::HashMap<String, Vec<TestKey>>,
    mode: ProviderMode,
    discovery_hits: usize,
    jwks_hits: usize,
    /// How long a JWKS answer takes after the key set was read.
    jwks_delay: Duration,
    /// Fields that replace (or, as `null`, remove) the discovery document's own.
    discovery_overrides: serde_json::Map<String, Value>,
    base: String,
}

/// The running provider.
pub struct Provider {
    pub base: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl Provider {
    /// Starts a provider on a free port serving `keys`.
    pub fn start(keys: Vec<TestKey>) -> Provider {
        Provider::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), keys)
    }

    /// Starts a provider on a given port (for "comes up later" tests).
    pub fn start_on_port(port: u16, keys: Vec<TestKey>) -> Provider {
        Provider::start_on(TcpListener::bind(("127.0.0.1", port)).unwrap(), keys)
    }

    fn start_on(listener: TcpListener, keys: Vec<TestKey>) -> Provider {
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State {
            keys,
            tenant_keys: Default::default(),
            mode: ProviderMode::Up,
            discovery_hits: 0,
            jwks_hits: 0,
            jwks_delay: Duration::ZERO,
            discovery_overrides: Default::default(),
            base: base.clone(),
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let data = web::Data::from(shared);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .route(
                            "/{tenant}/v2.0/.well-known/openid-configuration",
                            web::get().to(discovery),
                        )
                        .route("/{tenant}/discovery/v2.0/keys", web::get().to(jwks))
                })
                .workers(1)
                .listen(listener)
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        let handle = rx.recv().unwrap();
        Provider {
            base,
            state,
            handle,
        }
    }

    /// The v2 issuer.
    pub fn issuer(&self) -> String {
        format!("{}/{TENANT}/v2.0", self.base)
    }

    pub fn set_mode(&self, mode: ProviderMode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn set_keys(&self, keys: Vec<TestKey>) {
        self.state.lock().unwrap().keys = keys;
    }

    /// Serves `keys` at one tenant's JWKS instead of the default set.
    pub fn set_tenant_keys(&self, tenant: &str, keys: Vec<TestKey>) {
        self.state
            .lock()
            .unwrap()
            .tenant_keys
            .insert(tenant.to_owned(), keys);
    }

    /// The v2 issuer of another tenant.
    pub fn issuer_for(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.base)
    }

    /// Serves each JWKS `delay` after reading the key set, so a key published meanwhile is
    /// missing from an answer that arrives after it (a refresh racing a rollover).
    pub fn set_jwks_delay(&self, delay: Duration) {
        self.state.lock().unwrap().jwks_delay = delay;
    }

    /// Serves `value` as the discovery document's `field` (`null` leaves the field out).
    pub fn set_discovery_field(&self, field: &str, value: Value) {
        self.state
            .lock()
            .unwrap()
            .discovery_overrides
            .insert(field.to_owned(), value);
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_hits(&self) -> usize {
        self.state.lock().unwrap().jwks_hits
    }

    /// How many times the discovery document was fetched.
    pub fn discovery_hits(&self) -> usize {
        self.state.lock().unwrap().discovery_hits
    }

    /// v2 access-token claims for the API, valid for an hour, with `roles`.
    pub fn claims(&self, roles: &[&str]) -> Value {
        let t = now();
        json!({
            "aud": format!("api://{CLIENT}"),
            "iss": self.issuer(),
            "iat": t - 10,
            "nbf": t - 10,
            "exp": t + 3600,
            "tid": TENANT,
            "oid": "0a1b2c3d-0000-4000-8000-000000000001",
            "sub": "subject-1",
            "azp": "9a8b7c6d-0000-4000-8000-000000000002",
            "roles": roles,
            "ver": "2.0",
        })
    }

    /// v1 access-token claims (issuer `sts.windows.net`, audience the bare client id).
    pub fn v1_claims(&self, roles: &[&str]) -> Value {
        let mut c = self.claims(roles);
        c["iss"] = json!(format!("https://sts.windows.net/{TENANT}/"));
        c["aud"] = json!(CLIENT);
        c["ver"] = json!("1.0");
        c["appid"] = c["azp"].clone();
        c.as_object_mut().unwrap().remove("azp");
        c
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn fault(mode: ProviderMode) -> Option<HttpResponse> {
    match mode {
        ProviderMode::Up => None,
        ProviderMode::Failing => Some(HttpResponse::ServiceUnavailable().body("down")),
        ProviderMode::Hanging => {
            actix_web::rt::time::sleep(Duration::from_secs(30)).await;
            Some(HttpResponse::GatewayTimeout().finish())
        }
        ProviderMode::Garbage => Some(
            HttpResponse::Ok()
                .content_type("application/json")
                .body("<html>not json"),
        ),
    }
}

async fn discovery(state: web::Data<Mutex<State>>, path: web::Path<String>) -> HttpResponse {
    let (mode, base, overrides) = {
        let mut s = state.lock().unwrap();
        s.discovery_hits += 1;
        (s.mode, s.base.clone(), s.discovery_overrides.clone())
    };
    if let Some(r) = fault(mode).await {
        return r;
    }
    let tenant = path.into_inner();
    // Entra's multi-tenant documents carry a placeholder the validator fills in from `tid`.
    let issuer_tenant = match tenant.as_str() {
        "organizations" | "common" => "{tenantid}",
        t => t,
    };
    let mut doc = json!({
        "issuer": format!("{base}/{issuer_tenant}/v2.0"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    let fields = doc.as_object_mut().unwrap();
    for (name, value) in overrides {
        match value {
            Value::Null => fields.remove(&name),
            value => fields.insert(name, value),
        };
    }
    HttpResponse::Ok().json(doc)
}

async fn jwks(state: web::Data<Mutex<State>>, path: web::Path<String>) -> HttpResponse {
    let tenant = path.into_inner();
    let (mode, keys, delay) = {
        let mut s = state.lock().unwrap();
        s.jwks_hits += 1;
        let set = s.tenant_keys.get(&tenant).unwrap_or(&s.keys);
        (
            s.mode,
            set.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>(),
            s.jwks_delay,
        )
    };
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    if let Some(r) = fault(mode).await {
        return r;
    }
    HttpResponse::Ok().json(json!({ "keys": keys }))
}
