//! Test support: an OpenID provider on 127.0.0.1, a Functions app folder, and the real
//! `handler` binary started the way the Functions host starts it.

pub mod app;
pub mod azure;
pub mod faults;
pub mod ingestion;
pub mod provider;

#[allow(unused_imports, reason = "the load benchmark shares this module")]
pub use app::{AppDir, Handler, HandlerConfig, function_folders};
#[allow(unused_imports)]
pub use provider::{Provider, ProviderMode, TestKey};

use std::time::{SystemTime, UNIX_EPOCH};

/// The test tenant.
pub const TENANT: &str = "8d3b5a7e-2c4f-4e1a-9b6d-0f1e2d3c4b5a";
/// The API's client id.
pub const CLIENT: &str = "4f6e8a1c-3b5d-4c7e-8f9a-1b2c3d4e5f60";

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An HTTP client that never follows redirects and never uses a proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

/// A response reduced to what the contract covers.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_owned()
    }

    /// Asserts status and error code, and that the description is the catalogue's.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status for {}", self.body);
        assert_eq!(self.code(), code, "code in {}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.body
        );
    }
}

/// GET with an optional `Authorization` value.
pub async fn get(url: &str, authorization: Option<&str>) -> Answer {
    request(
        reqwest::Method::GET,
        url,
        &[("authorization", authorization)],
    )
    .await
}

/// Any method with optional headers.
pub async fn request(
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, Option<&str>)],
) -> Answer {
    let mut req = client().request(method, url);
    for (name, value) in headers {
        if let Some(v) = value {
            req = req.header(*name, *v);
        }
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {}", chain(&e)));
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

/// An error with every cause it wraps: reqwest's own message ("error sending request") hides
/// what actually failed (a reset, a refused connect, a closed connection).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A running setup: app folder, provider with `key1` as kid `k1`, and the handler.
pub struct Setup {
    pub handler: Handler,
    pub provider: Provider,
    pub key: TestKey,
    pub app: AppDir,
    /// The handler's settings, for [`Setup::invoked`].
    env: Vec<(String, String)>,
    /// The same app under a host that invokes every function with payloads, started on first
    /// use.
    invoked: tokio::sync::OnceCell<(AppDir, Handler)>,
}

impl Setup {
    /// Starts everything with route prefix `prefix`; `tweak` adjusts the handler's settings.
    pub async fn start(prefix: &str, tweak: impl FnOnce(HandlerConfig) -> HandlerConfig) -> Setup {
        let key = TestKey::load("key1", "k1");
        let provider = Provider::start(vec![key.clone()]);
        let app = AppDir::new(prefix);
        let config = tweak(HandlerConfig::hosted(&app, &provider.base));
        let env = config.env.clone();
        let handler = config.spawn().await;
        handler.wait_for_keys().await;
        Setup {
            handler,
            provider,
            key,
            app,
            env,
            invoked: tokio::sync::OnceCell::new(),
        }
    }

    /// A second handler with the same settings, for the same app under a host that invokes
    /// every function with payloads (the only way the host sends them to a function with one
    /// HTTP input and one HTTP output); it reads this setup's local secrets file.
    pub async fn invoked(&self) -> &Handler {
        let (_, handler) = self
            .invoked
            .get_or_init(|| async {
                let app = self.app.invoked_copy();
                let mut config = HandlerConfig::hosted(&app, &self.provider.base);
                config.env = self.env.clone();
                let file = self.env.iter().find(|(k, _)| k == "LOCAL_SECRETS_FILE");
                let file = self
                    .app
                    .path()
                    .join(file.map_or("local.secrets.json", |(_, v)| v));
                config = config.set("LOCAL_SECRETS_FILE", &file.to_string_lossy());
                let handler = config.spawn().await;
                handler.wait_for_keys().await;
                (app, handler)
            })
            .await;
        handler
    }

    /// The second handler, once started (to terminate it and flush its telemetry).
    pub fn invoked_mut(&mut self) -> Option<&mut Handler> {
        self.invoked.get_mut().map(|(_, handler)| handler)
    }

    /// A valid v2 token carrying `roles`.
    pub fn token(&self, roles: &[&str]) -> String {
        self.key.sign(&self.provider.claims(roles))
    }

    /// Asserts that a fresh token with `GetSecret` still reads the demo secret.
    pub async fn assert_serves_vault(&self) {
        let a = self
            .get("/vault/demo", Some(&self.token(&["GetSecret"])))
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
    }

    /// Asserts that `times` reads with one valid token, `pause` apart, each answer 200 within
    /// one second.
    pub async fn assert_served_promptly(&self, times: usize, pause: std::time::Duration) {
        let token = self.token(&["GetSecret"]);
        for _ in 0..times {
            let t = std::time::Instant::now();
            assert_eq!(self.get("/vault/demo", Some(&token)).await.status, 200);
            let took = t.elapsed();
            assert!(took < std::time::Duration::from_millis(1000), "{took:?}");
            tokio::time::sleep(pause).await;
        }
    }

    /// A `PUT` of `{"value": value}` to a public route with a bearer token: a `vault` write.
    pub async fn put_secret(&self, path: &str, token: &str, value: &str) -> Answer {
        let resp = client()
            .put(self.handler.route(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(serde_json::json!({ "value": value }).to_string())
            .send()
            .await
            .unwrap();
        Answer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    /// GET a public route with an optional bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let auth = token.map(bearer);
        get(&self.handler.route(path), auth.as_deref()).await
    }
}
