#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The MCP gate against the built executable (`orders-mcp`), as the Functions host runs it on
//! the `mcp-custom-handler` profile: each authorization rule and each transport check, the
//! same server placed by a function folder in proxying and forwarding mode, and the invocation
//! protocol refused at start-up.

use funcgate::testing::{
    CLIENT_ID, IdentityProvider, TENANT_ID, TestApp, TestResponse, invocation_copy,
};
use serde_json::{Value, json};

const BASE: &str = "https://orders.example";
/// The read scope as a full value: the testing kit's client id under `api://`.
fn read_scope() -> String {
    format!("api://{}/Orders.Read", funcgate::testing::CLIENT_ID)
}

async fn start(idp: &IdentityProvider, extra: &[(&str, &str)]) -> TestApp {
    start_in(idp, env!("CARGO_MANIFEST_DIR"), extra).await
}

/// The example's executable in the app folder `root`, with `PUBLIC_BASE_URL` and debug
/// errors, and `extra` settings.
async fn start_in(
    idp: &IdentityProvider,
    root: impl AsRef<std::path::Path>,
    extra: &[(&str, &str)],
) -> TestApp {
    let mut settings = vec![("PUBLIC_BASE_URL", BASE), ("AUTH_DEBUG_ERRORS", "true")];
    settings.extend_from_slice(extra);
    TestApp::start_binary(env!("CARGO_BIN_EXE_orders-mcp"), root, idp, &settings)
        .await
        .unwrap()
}

fn tool_names(answer: &TestResponse) -> Vec<String> {
    let mut names: Vec<String> = answer.result()["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {}", answer.body))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn challenge(answer: &TestResponse) -> &str {
    answer
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("no challenge on {} {}", answer.status, answer.body))
}

#[tokio::test]
async fn no_token_or_a_bad_one_gets_a_401_that_says_how_to_connect() {
    let idp = IdentityProvider::start();
    let app = start(&idp, &[]).await;
    let metadata = format!("resource_metadata=\"{BASE}/.well-known/oauth-protected-resource/mcp\"");

    let none = app.mcp("/mcp").initialize().await;
    assert_eq!(
        (none.status, none.code().as_str()),
        (401, "AuthorizationHeaderMissing")
    );
    let c = challenge(&none);
    assert!(c.starts_with("Bearer "), "{c}");
    assert!(c.contains(&metadata), "{c}");
    // What connecting needs: every scope the server's tools accept, as full values, never
    // offline_access.
    assert!(c.contains(&read_scope()), "{c}");
    assert!(!c.contains("offline_access"), "{c}");
    assert!(!c.contains("error="), "{c}");

    let bad = app.mcp("/mcp").bearer("not.a.token").initialize().await;
    assert_eq!(bad.status, 401);
    let c = challenge(&bad);
    assert!(c.contains("error=\"invalid_token\""), "{c}");
    assert!(c.contains(&metadata), "{c}");

    // A token for another API.
    let other = idp.token(json!({"aud": "api://someone-else", "scp": "Orders.Read"}));
    let a = app.mcp("/mcp").bearer(&other).list_tools().await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (401, "InvalidAuthorizationClaims")
    );
}

#[tokio::test]
async fn tools_list_shows_each_caller_only_what_it_may_call() {
    let idp = IdentityProvider::start();
    let app = start(&idp, &[]).await;
    let reader = idp.token(json!({"scp": "Orders.Read"}));
    let reading_app = idp.token(json!({"roles": ["Orders.Read"]}));
    let admin = idp.token(json!({"roles": ["Orders.Admin"], "xms_cc": ["cp1"]}));
    let nobody = idp.token(json!({"scp": "Other.Thing"}));
    for version in ["2025-06-18", "2025-11-25", "2026-07-28"] {
        let list = |token: &str| {
            let token = token.to_owned();
            let app = &app;
            async move {
                app.mcp("/mcp")
                    .version(version)
                    .bearer(&token)
                    .list_tools()
                    .await
            }
        };
        let a = list(&reader).await;
        assert_eq!(a.status, 200, "{version}: {}", a.body);
        assert_eq!(tool_names(&a), ["export_orders", "get_order"], "{version}");
        assert_eq!(
            tool_names(&list(&reading_app).await),
            ["get_order"],
            "{version}"
        );
        // Step-up tools are listed to those who could call them after stepping up.
        assert_eq!(
            tool_names(&list(&admin).await),
            ["cancel_order"],
            "{version}"
        );
        assert!(tool_names(&list(&nobody).await).is_empty(), "{version}");
    }
}

#[tokio::test]
async fn a_refused_tool_gets_a_403_naming_every_scope_it_accepts() {
    let idp = IdentityProvider::start();
    let app = start(&idp, &[]).await;
    let wrong = idp.token(json!({"scp": "Other.Thing"}));
    for version in ["2025-11-25", "2026-07-28"] {
        let a = app
            .mcp("/mcp")
            .version(version)
            .bearer(&wrong)
            .call("get_order", json!({"id": 7}))
            .await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (403, "AuthorizationScopeForbidden"),
            "{version}"
        );
        let c = challenge(&a);
        assert!(c.contains("error=\"insufficient_scope\""), "{c}");
        assert!(c.contains(&format!("scope=\"{}\"", read_scope())), "{c}");
        assert!(
            c.contains("resource_metadata=\"https://orders.example/.well-known/oauth-protected-resource/mcp\""),
            "{c}"
        );
    }
    // A tool whose rule names roles only: a role is no scope a client could request.
    let a = app
        .mcp("/mcp")
        .bearer(&wrong)
        .call("cancel_order", json!({"id": 7}))
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let c = challenge(&a);
    assert!(c.contains("error=\"insufficient_scope\""), "{c}");
    assert!(!c.contains("scope=\"Orders.Admin"), "{c}");
    // An app-only token is judged on roles where a rule takes a role or a scope: it lacks a
    // role, and no scope would help its client (it asks for `.default`).
    let other_app = idp.token(json!({"roles": ["Other.Thing"]}));
    let a = app
        .mcp("/mcp")
        .bearer(&other_app)
        .call("get_order", json!({"id": 7}))
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (403, "AuthorizationRoleForbidden"),
        "{}",
        a.body
    );
    let c = challenge(&a);
    assert!(c.contains("error=\"insufficient_scope\""), "{c}");
    assert!(!c.contains("scope=\""), "{c}");
    // The reader's allowed call still works, and the call line names method, tool, outcome.
    let reader = idp.token(json!({"scp": "Orders.Read"}));
    let a = app
        .mcp("/mcp")
        .bearer(&reader)
        .call("get_order", json!({"id": 7}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.result()["structuredContent"]["id"], 7);
    let logs = app.logs();
    assert!(
        logs.contains("mcp_method=tools/call mcp_tool=get_order mcp_outcome=ok"),
        "{logs}"
    );
    assert!(
        logs.contains("mcp_tool=get_order mcp_outcome=refused"),
        "{logs}"
    );
}

#[tokio::test]
async fn each_mcp_request_logs_its_call_line_and_nothing_else() {
    let idp = IdentityProvider::start();
    let app = start(&idp, &[]).await;
    let reader = idp.token(json!({"scp": "Orders.Read"}));
    let mcp = app.mcp("/mcp").bearer(&reader);
    // The SDK's own path (initialize, tools/list) and funcgate's direct one (a plain call).
    assert_eq!(mcp.initialize().await.status, 200);
    assert_eq!(mcp.list_tools().await.status, 200);
    assert_eq!(mcp.call("get_order", json!({"id": 7})).await.status, 200);
    // The SDK's tracing reaches `log` as spans too (`serve_inner;` under `tracing::span`), a
    // line of its own on every request through it: kept out, as its events are.
    let logs = app.logs();
    let requests: Vec<&str> = logs
        .lines()
        .skip_while(|line| !line.contains(" call function="))
        .collect();
    assert_eq!(requests.len(), 3, "{logs}");
    assert!(
        requests
            .iter()
            .all(|line| line.contains(" call function=orders ")),
        "{logs}"
    );
}

#[tokio::test]
async fn a_step_up_tool_asks_cp1_clients_for_the_context() {
    let idp = IdentityProvider::start();
    let app = start(&idp, &[]).await;
    let capable = idp.token(json!({"roles": ["Orders.Admin"], "xms_cc": ["cp1"]}));
    let a = app
        .mcp("/mcp")
        .bearer(&capable)
        .call("cancel_order", json!({"id": 7}))
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (401, "InsufficientClaims"),
        "{}",
        a.body
    );
    let c = challenge(&a);
    assert!(c.contains("error=\"insufficient_claims\""), "{c}");
    assert!(c.contains("claims=\""), "{c}");

    let plain = idp.token(json!({"roles": ["Orders.Admin"]}));
    let a = app
        .mcp("/mcp")
        .bearer(&plain)
        .call("cancel_order", json!({"id": 7}))
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (403, "AuthenticationContextRequired")
    );

    let stepped = idp.token(json!({"roles": ["Orders.Admin"], "acrs": ["c1"]}));
    let a = app
        .mcp("/mcp")
        .bearer(&stepped)
        .call("cancel_order", json!({"id": 7}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.result()["content"][0]["text"], "order 7 cancelled");
}

#[tokio::test]
async fn a_tools_own_failure_and_bad_arguments_are_error_results() {
    let idp = IdentityProvider::start();
    let app = start(&idp, &[]).await;
    let mcp = app
        .mcp("/mcp")
        .bearer(&idp.token(json!({"scp": "Orders.Read"})));
    let a = mcp.call("get_order", json!({"id": 0})).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.result()["isError"], true, "{}", a.body);
    let a = mcp.call("get_order", json!({"id": "seven"})).await;
    assert_eq!(a.result()["isError"], true, "{}", a.body);
    let text = a.result()["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("id"), "{text}");
    assert!(
        !text.contains("seven"),
        "the caller's value is not echoed: {text}"
    );
    // An unknown tool is a protocol error, and its name never reaches the log.
    let a = mcp.call("no_such_tool\nforged=1", json!({})).await;
    assert!(a.messages()[0]["error"]["code"].is_i64(), "{}", a.body);
    let logs = app.logs();
    assert!(logs.contains("mcp_outcome=tool_error"), "{logs}");
    assert!(
        logs.contains("mcp_tool=- mcp_outcome=protocol_error"),
        "{logs}"
    );
    assert!(!logs.contains("forged=1"), "{logs}");
}

#[tokio::test]
async fn bodies_the_gate_cannot_read_are_answered_by_the_gate() {
    let idp = IdentityProvider::start();
    let app = start(&idp, &[]).await;
    let reader = idp.token(json!({"scp": "Orders.Read"}));
    let send = |body: &'static str| {
        let app = &app;
        let reader = reader.clone();
        async move {
            app.request("POST", "/mcp")
                .bearer(&reader)
                .header("Accept", "application/json, text/event-stream")
                .header("MCP-Protocol-Version", "2025-11-25")
                .body("application/json", body)
                .send()
                .await
        }
    };
    // Not JSON; a batch; a tools/call whose name is not a string, or named twice (a reader
    // that kept the last would run a tool the gate did not decide on), or whose params are
    // not an object; a forged log line in the id.
    for (body, code) in [
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_order","name":"cancel_order","arguments":{"id":7}}}"#,
            -32602,
        ),
        // The same key again, written with an escape.
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_order","n\u0061me":"cancel_order","arguments":{"id":7}}}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["cancel_order"]}"#,
            -32602,
        ),
        // A null name or params is refused, not taken for "no name".
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":null}}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":null}"#,
            -32602,
        ),
        // A message as an array, which a reader by position would take for one request.
        (
            r#"["2.0","tools/call",1,{"name":"get_order","arguments":{"id":7}}]"#,
            -32600,
        ),
        ("{", -32700),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]"#,
            -32600,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":"x\n1700000000000 INFO  call forged=1","method":"bogus"}"#,
            -32600,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list","params":{"name":"cancel_order"}}"#,
            -32600,
        ),
    ] {
        let a = send(body).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_eq!(a.json()["error"]["code"], code, "{body}: {}", a.body);
    }
    // Whitespace before the object is still one request.
    let a = send(" \n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"get_order\",\"arguments\":{\"id\":7}}}").await;
    assert_eq!(a.result()["structuredContent"]["id"], 7, "{}", a.body);
    // A field the SDK ignores does not hide the tool from the gate.
    let a = send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"cancel_order","uri":5,"arguments":{"id":7}}}"#).await;
    assert_eq!(a.status, 403, "{}", a.body);
    // Nor does a key written with escapes.
    let a = send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\u0061me":"cancel_order","arguments":{"id":7}}}"#).await;
    assert_eq!(a.status, 403, "{}", a.body);
    let logs = app.logs();
    assert!(!logs.contains("forged=1"), "{logs}");
    assert!(
        !logs.contains("serve finished"),
        "the SDK's own lines stay out: {logs}"
    );
}

#[tokio::test]
async fn the_transport_checks_come_before_any_tool_decision() {
    let idp = IdentityProvider::start();
    let app = start(&idp, &[]).await;
    let reader = idp.token(json!({"scp": "Orders.Read"}));

    // An unsupported protocol version: 400.
    let a = app
        .mcp("/mcp")
        .version("1999-01-01")
        .bearer(&reader)
        .list_tools()
        .await;
    assert_eq!(a.status, 400, "{}", a.body);

    // Origin: a browser page elsewhere is refused, one on the app's own origin is not.
    let a = app
        .mcp("/mcp")
        .bearer(&reader)
        .header("Origin", "http://evil.example")
        .list_tools()
        .await;
    assert_eq!((a.status, a.code().as_str()), (403, "OriginNotAllowed"));
    let a = app
        .mcp("/mcp")
        .bearer(&reader)
        .header("Origin", BASE)
        .list_tools()
        .await;
    assert_eq!(a.status, 200, "{}", a.body);

    // 2026-07-28's routing headers must match the body, checked before the tool's rule: a
    // reader naming cancel_order in the body but get_order in Mcp-Name gets 400, not 403.
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
        "name": "cancel_order", "arguments": {"id": 7},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }
    }});
    let send = |method: &'static str, name: &'static str| {
        let body = body.to_string();
        let app = &app;
        let reader = reader.clone();
        async move {
            app.request("POST", "/mcp")
                .bearer(&reader)
                .header("Accept", "application/json, text/event-stream")
                .header("MCP-Protocol-Version", "2026-07-28")
                .header("Mcp-Method", method)
                .header("Mcp-Name", name)
                .body("application/json", body)
                .send()
                .await
        }
    };
    let a = send("tools/call", "get_order").await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.json()["error"]["code"], -32020);
    assert_eq!(a.json()["id"], 9);
    let a = send("tools/list", "cancel_order").await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.json()["error"]["code"], -32020);
    // Matching headers: now the tool's rule decides.
    let a = send("tools/call", "cancel_order").await;
    assert_eq!(a.status, 403, "{}", a.body);

    // A stateless server offers no stream to GET and no session to DELETE.
    for method in ["GET", "DELETE"] {
        let a = app.request(method, "/mcp").bearer(&reader).send().await;
        assert_eq!((a.status, a.code().as_str()), (405, "MethodNotAllowed"));
        assert_eq!(a.header("allow"), Some("POST"));
    }
}

#[tokio::test]
async fn the_metadata_names_the_server_as_the_resource() {
    let idp = IdentityProvider::start();
    let app = start(&idp, &[]).await;
    // The server's own document, and the app's at the root (the server's URI is under it).
    for (path, resource) in [
        (
            "/.well-known/oauth-protected-resource/mcp",
            "https://orders.example/mcp",
        ),
        ("/.well-known/oauth-protected-resource", BASE),
    ] {
        let a = app.get(path, None).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        let doc: Value = a.json();
        assert_eq!(doc["resource"], resource, "{path}");
        let scopes = doc["scopes_supported"].as_array().unwrap();
        assert!(scopes.iter().any(|s| *s == read_scope()), "{path}: {doc}");
        assert!(scopes.iter().all(|s| s != "offline_access"));
        assert_eq!(doc["authorization_servers"][0], idp.issuer());
    }
    // Tokens Entra issues for the resource URI (an identifier URI of the app) are accepted.
    let by_resource = idp.token(json!({"aud": "https://orders.example/mcp", "scp": "Orders.Read"}));
    let a = app
        .mcp("/mcp")
        .bearer(&by_resource)
        .call("get_order", json!({"id": 1}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // Another path's document names that path under the base URL, not under the server.
    let a = app
        .get("/.well-known/oauth-protected-resource/orders/5", None)
        .await;
    assert_eq!(a.json()["resource"], "https://orders.example/orders/5");
    // The plain functions beside the server, folder-less under the profile.
    let a = app
        .request("POST", "/orders/find")
        .bearer(&by_resource)
        .body("application/json", r#"{"id": 6}"#)
        .send()
        .await;
    assert_eq!(a.json()["id"], 6, "{}", a.body);
    let a = app.get("/orders/5", Some(&by_resource)).await;
    assert_eq!(a.json()["id"], 5, "{}", a.body);
}

#[tokio::test]
async fn resources_entra_and_clients_cannot_use_stop_start_up() {
    let idp = IdentityProvider::start();
    for (base, problem) in [
        ("http://orders.example", "https"),
        ("https://orders.example/#x", ""),
    ] {
        let err = TestApp::start_binary(
            env!("CARGO_BIN_EXE_orders-mcp"),
            env!("CARGO_MANIFEST_DIR"),
            &idp,
            &[("PUBLIC_BASE_URL", base)],
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{base} was accepted"))
        .to_string();
        assert!(err.contains("PUBLIC_BASE_URL"), "{err}");
        assert!(err.contains(problem), "{err}");
    }
    // Loopback http is fine for local runs.
    let local = TestApp::start_binary(
        env!("CARGO_BIN_EXE_orders-mcp"),
        env!("CARGO_MANIFEST_DIR"),
        &idp,
        &[("PUBLIC_BASE_URL", "http://localhost:7071")],
    )
    .await;
    assert!(local.is_ok());
}

#[tokio::test]
async fn the_invocation_protocol_is_refused_at_start_up() {
    let idp = IdentityProvider::start();
    let copy = invocation_copy(env!("CARGO_MANIFEST_DIR")).unwrap();
    let err = TestApp::start_binary(env!("CARGO_BIN_EXE_orders-mcp"), copy.path(), &idp, &[])
        .await
        .err()
        .expect("an MCP server cannot run on invocation payloads")
        .to_string();
    assert!(err.contains("MCP server \"orders\""), "{err}");
    assert!(err.contains("invocation protocol"), "{err}");
}

/// The app's `--funcgate-check` description of itself (what `cargo funcgate check` and `dev`
/// read), run in `dir`: its exit code and its JSON.
fn described(dir: &std::path::Path) -> (Option<i32>, Value) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orders-mcp"))
        .arg("--funcgate-check")
        .current_dir(dir)
        .env("AUTH_TENANT_ID", TENANT_ID)
        .env("AUTH_CLIENT_ID", CLIENT_ID)
        .env_remove("FUNCTIONS_CUSTOMHANDLER_PORT")
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn the_check_refuses_what_start_up_refuses() {
    // `cargo funcgate check` runs the app with `--funcgate-check`: a server start-up would
    // refuse must not pass it.
    let copy = invocation_copy(env!("CARGO_MANIFEST_DIR")).unwrap();
    let (code, report) = described(copy.path());
    assert_eq!(code, Some(2), "{report}");
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.contains("MCP server \"orders\""), "{error}");
    assert!(error.contains("invocation protocol"), "{error}");
}

#[test]
fn the_check_says_what_to_call_first() {
    // `cargo funcgate dev` prints its hints from these: the server's `tools/list` with the
    // scopes its tools name; nothing for functions that need no token, take no GET, or have a
    // required route parameter (no path to give).
    let (code, report) = described(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    assert_eq!(code, Some(0), "{report}");
    let folder = |name: &str| {
        report["folders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {report}"))
            .clone()
    };
    assert_eq!(
        folder("orders")["try"],
        json!({"method": "POST", "path": "/mcp",
               "token": {"scp": ["Orders.Read"], "roles": [], "acrs": []}})
    );
    assert_eq!(folder("health")["path"], "/health");
    assert_eq!(folder("find")["path"], "/orders/find");
    assert_eq!(folder("order")["path"], Value::Null);
    for quiet in ["health", "find", "order", "oauth-protected-resource"] {
        assert_eq!(folder(quiet)["try"], Value::Null, "{quiet}");
    }
    // What the app registration must define: the functions' and the tools' names, the
    // step-up tool's role and context included.
    assert_eq!(
        report["names"],
        json!({"scopes": ["Orders.Read"], "roles": ["Orders.Read", "Orders.Admin"], "contexts": ["c1"]})
    );
}

/// `body` sent at 2025-11-25 with the bare `Accept` funcgate answers directly, then with a
/// weighted one that leaves the call to the SDK: each answer's status and body.
async fn both_paths(app: &TestApp, token: &str, body: &str) -> [(u16, String); 2] {
    let mut answers = Vec::new();
    for accept in [
        "application/json, text/event-stream",
        "application/json;q=1, text/event-stream",
    ] {
        let answer = app
            .request("POST", "/mcp")
            .header("Accept", accept)
            .header("MCP-Protocol-Version", "2025-11-25")
            .bearer(token)
            .body("application/json", body.to_owned())
            .send()
            .await;
        answers.push((answer.status, answer.body));
    }
    let by_sdk = answers.pop().unwrap();
    [answers.pop().unwrap(), by_sdk]
}

/// An answer's JSON, which every answer of the gate is.
fn read(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A 2026-07-28 tool result as an earlier revision has it: without `resultType`, which must
/// be there.
fn older(mut result: serde_json::Value) -> serde_json::Value {
    let object = result.as_object_mut().expect("a result object");
    assert_eq!(object.remove("resultType"), Some(json!("complete")));
    result
}

#[tokio::test]
async fn a_plain_tool_answers_alike_directly_and_through_the_sdk() {
    let idp = IdentityProvider::start();
    let app = start(&idp, &[]).await;
    let reader = idp.token(json!({"scp": "Orders.Read", "upn": "ada@contoso.com"}));
    // 2025-11-25 is answered by funcgate directly, 2026-07-28 through the SDK's service.
    let direct = app
        .mcp("/mcp")
        .bearer(&reader)
        .call("get_order", json!({"id": 3}))
        .await;
    let sdk = app
        .mcp("/mcp")
        .version("2026-07-28")
        .bearer(&reader)
        .call("get_order", json!({"id": 3}))
        .await;
    assert_eq!(
        (direct.status, sdk.status),
        (200, 200),
        "{} {}",
        direct.body,
        sdk.body
    );
    // `resultType` is a 2026-07-28 field: only a client on that revision gets it.
    assert_eq!(direct.result(), older(sdk.result()));
    assert_eq!(direct.json()["id"], 1);
    // The same revision both ways.
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_order", "arguments": {"id": 3}}});
    let [plain, by_sdk] = both_paths(&app, &reader, &body.to_string()).await;
    assert_eq!((plain.0, by_sdk.0), (200, 200), "{}", by_sdk.1);
    assert_eq!(read(&plain.1), read(&by_sdk.1));
    assert_eq!(read(&plain.1), direct.json());
    // Arguments with a key given twice: the SDK reads them into an object, where the last
    // value wins; the direct path answers the same.
    let twice = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_order","arguments":{"id":0,"id":3}}}"#;
    let [plain, by_sdk] = both_paths(&app, &reader, twice).await;
    assert_eq!(plain, by_sdk);
    assert_eq!(plain.0, 200, "{}", plain.1);
    assert_eq!(read(&plain.1)["result"]["structuredContent"]["id"], 3);
    // Ids the SDK does not take as they came (a fraction, beyond an i64, an integer written
    // as a float, null) get the same answer on both paths, always JSON-RPC.
    for id in [
        "1.5",
        "18446744073709551615",
        "1e3",
        "-1",
        "\"a\"",
        "null",
        "{}",
    ] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"get_order","arguments":{{"id":3}}}}}}"#
        );
        let [plain, by_sdk] = both_paths(&app, &reader, &body).await;
        assert_eq!(plain, by_sdk, "id {id}");
        let (status, body) = &plain;
        let answer = read(body);
        match id {
            "1.5" | "18446744073709551615" | "null" | "{}" => {
                assert_eq!(
                    (*status, answer["error"]["code"].clone()),
                    (400, json!(-32600))
                );
            }
            _ => assert_eq!(answer["result"]["isError"], false, "id {id}: {body}"),
        }
    }
    for bad in [json!({"id": 0}), json!({"id": "x"})] {
        let direct = app
            .mcp("/mcp")
            .bearer(&reader)
            .call("get_order", bad.clone())
            .await;
        let sdk = app
            .mcp("/mcp")
            .version("2026-07-28")
            .bearer(&reader)
            .call("get_order", bad)
            .await;
        assert_eq!(direct.result(), older(sdk.result()));
        assert_eq!(direct.result()["isError"], true);
    }
}

#[tokio::test]
async fn the_direct_path_reads_accept_as_the_sdk_does() {
    let idp = IdentityProvider::start();
    let app = start(&idp, &[]).await;
    let reader = idp.token(json!({"scp": "Orders.Read"}));
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "get_order", "arguments": {"id": 3}}});
    // A type weighted zero is not accepted, and a longer type is not the type: the SDK
    // refuses both with 406, so the direct path must not answer them.
    for (accept, status) in [
        ("application/json;q=0, text/event-stream", 406),
        ("application/json-seq, text/event-stream", 406),
        ("text/event-stream", 406),
        // A space HTTP does not have (no-break, U+00A0) is not trimmed as whitespace.
        ("application/json\u{a0}, text/event-stream", 406),
        ("APPLICATION/JSON ,text/event-stream", 200),
        ("application/json;q=0.5, text/event-stream", 200),
    ] {
        let answer = app
            .request("POST", "/mcp")
            .header("Accept", accept)
            .header("MCP-Protocol-Version", "2025-11-25")
            .bearer(&reader)
            .body("application/json", body.to_string())
            .send()
            .await;
        assert_eq!(answer.status, status, "{accept}: {}", answer.body);
    }
}

/// A copy of the app without the profile: the server placed by a function folder named after
/// it (route `mcp`, under the default `api` prefix), with `mode` (`enableProxyingHttpRequest`
/// or `enableForwardingHttpRequest`) on, and the metadata function's folder beside it.
fn folder_copy(mode: &str) -> impl AsRef<std::path::Path> {
    let copy = invocation_copy(env!("CARGO_MANIFEST_DIR")).unwrap();
    let host = json!({
        "version": "2.0",
        "customHandler": {
            "description": {"defaultExecutablePath": "orders-mcp"},
            mode: true,
        },
    });
    std::fs::write(copy.path().join("host.json"), host.to_string()).unwrap();
    let function = |methods: Value, route: &str| {
        json!({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous",
             "methods": methods, "route": route},
            {"type": "http", "direction": "out", "name": "res"},
        ]})
        .to_string()
    };
    for (folder, text) in [
        ("orders", function(json!(["post"]), "mcp")),
        (
            "oauth-protected-resource",
            function(
                json!(["get"]),
                ".well-known/oauth-protected-resource/{*resource}",
            ),
        ),
    ] {
        std::fs::create_dir(copy.path().join(folder)).unwrap();
        std::fs::write(copy.path().join(folder).join("function.json"), text).unwrap();
    }
    copy
}

#[tokio::test]
async fn a_server_in_a_folder_of_another_case_asks_for_its_rules_scopes_once() {
    let idp = IdentityProvider::start();
    let copy = folder_copy("enableProxyingHttpRequest");
    // The folder as a team might have named it; the server is `orders`.
    std::fs::rename(copy.as_ref().join("orders"), copy.as_ref().join("Orders")).unwrap();
    let app = start_in(
        &idp,
        copy.as_ref(),
        // One scope named twice, short and in full, beside a step-up alternative.
        &[(
            "AUTH_POLICY_ORDERS",
            &format!("POST=scopes:Orders.Connect|scopes:api://{CLIENT_ID}/Orders.Connect&acrs:c1"),
        )],
    )
    .await;
    let connect = format!("api://{CLIENT_ID}/Orders.Connect");
    let none = app.mcp("/mcp").initialize().await;
    assert_eq!(none.status, 401, "{}", none.body);
    let c = challenge(&none);
    let scope: Vec<&str> = c
        .split("scope=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no scope in {c}"))
        .split(' ')
        .collect();
    assert_eq!(scope.iter().filter(|s| **s == connect).count(), 1, "{c}");
    assert!(scope.contains(&read_scope().as_str()), "{c}");
    let doc = app
        .get("/.well-known/oauth-protected-resource/api/mcp", None)
        .await;
    assert_eq!(doc.status, 200, "{}", doc.body);
    let listed = doc.json()["scopes_supported"].clone();
    assert!(
        listed
            .as_array()
            .is_some_and(|s| s.iter().any(|s| *s == connect)),
        "{}",
        doc.body
    );
}

#[tokio::test]
async fn a_server_rules_403_names_the_scopes_of_the_methods_rule() {
    let idp = IdentityProvider::start();
    let copy = folder_copy("enableProxyingHttpRequest");
    // A folder that routes GET too, with a rule per method.
    let function = copy.as_ref().join("orders").join("function.json");
    let text = std::fs::read_to_string(&function).unwrap();
    std::fs::write(&function, text.replace(r#"["post"]"#, r#"["get","post"]"#)).unwrap();
    let app = start_in(
        &idp,
        copy.as_ref(),
        &[(
            "AUTH_POLICY_ORDERS",
            "GET,HEAD=scopes:Orders.Stream;POST=scopes:Orders.Connect",
        )],
    )
    .await;
    let reader = idp.token(json!({"scp": "Orders.Read"}));
    let posted = app.mcp("/mcp").bearer(&reader).initialize().await;
    assert_eq!(posted.status, 403, "{}", posted.body);
    let c = challenge(&posted);
    assert!(
        c.contains(&format!("scope=\"api://{CLIENT_ID}/Orders.Connect\"")),
        "{c}"
    );
    let got = app.get("/mcp", Some(&reader)).await;
    assert_eq!(got.status, 403, "{}", got.body);
    let c = challenge(&got);
    assert!(
        c.contains(&format!("scope=\"api://{CLIENT_ID}/Orders.Stream\"")),
        "{c}"
    );
}

#[tokio::test]
async fn a_server_in_a_function_folder_keeps_every_rule_in_both_http_modes() {
    let idp = IdentityProvider::start();
    let reader = idp.token(json!({"scp": "Orders.Read"}));
    let wrong = idp.token(json!({"scp": "Other.Thing"}));
    for mode in ["enableProxyingHttpRequest", "enableForwardingHttpRequest"] {
        let copy = folder_copy(mode);
        let app = TestApp::start_binary(
            env!("CARGO_BIN_EXE_orders-mcp"),
            copy.as_ref(),
            &idp,
            &[("PUBLIC_BASE_URL", BASE), ("AUTH_DEBUG_ERRORS", "true")],
        )
        .await
        .unwrap_or_else(|e| panic!("{mode}: {e}"));

        // The 401 points at a document that is served and names the URL the client used.
        let none = app.mcp("/mcp").initialize().await;
        assert_eq!(none.status, 401, "{mode}: {}", none.body);
        let c = challenge(&none).to_owned();
        assert!(c.contains(&read_scope()), "{mode}: {c}");
        let pointer = c
            .split("resource_metadata=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("{mode}: no resource_metadata in {c}"));
        // Under the route prefix, where the host passes requests on (nothing outside it).
        let path = pointer
            .strip_prefix(&format!("{BASE}/api/.well-known"))
            .map(|rest| format!("/.well-known{rest}"))
            .unwrap_or_else(|| panic!("{mode}: {pointer} is not under the route prefix"));
        let doc = app.get(&path, None).await;
        assert_eq!(doc.status, 200, "{mode}: {path}: {}", doc.body);
        assert_eq!(
            doc.json()["resource"],
            format!("{BASE}/api/mcp"),
            "{mode}: {}",
            doc.body
        );

        // Per-caller lists, an allowed and a refused call, a routing header checked.
        let a = app.mcp("/mcp").bearer(&reader).list_tools().await;
        assert_eq!(a.status, 200, "{mode}: {}", a.body);
        assert_eq!(tool_names(&a), ["export_orders", "get_order"], "{mode}");
        let a = app
            .mcp("/mcp")
            .bearer(&reader)
            .call("get_order", json!({"id": 4}))
            .await;
        assert_eq!(
            a.result()["structuredContent"]["id"],
            4,
            "{mode}: {}",
            a.body
        );
        let a = app
            .mcp("/mcp")
            .bearer(&wrong)
            .call("get_order", json!({"id": 4}))
            .await;
        assert_eq!(a.status, 403, "{mode}: {}", a.body);
        assert!(challenge(&a).contains("insufficient_scope"), "{mode}");
        let a = app
            .mcp("/mcp")
            .version("2026-07-28")
            .bearer(&reader)
            .header("Mcp-Name", "cancel_order")
            .call("get_order", json!({"id": 4}))
            .await;
        assert_eq!(a.status, 400, "{mode}: {}", a.body);
        assert_eq!(a.json()["error"]["code"], -32020, "{mode}: {}", a.body);

        // Progress as server-sent events: proxying streams them, forwarding delivers them
        // whole; either way the client reads three notifications and the result.
        let a = app
            .mcp("/mcp")
            .bearer(&reader)
            .call_with_progress("export_orders", json!({"count": 3}))
            .await;
        assert_eq!(a.status, 200, "{mode}: {}", a.body);
        let messages = a.messages();
        assert_eq!(messages.len(), 4, "{mode}: {}", a.body);
        assert!(messages[3]["result"].is_object(), "{mode}: {}", a.body);
    }
}

#[tokio::test]
async fn a_setting_changes_a_tools_rule_and_what_the_server_asks_for() {
    let idp = IdentityProvider::start();
    // The admin-only tool opened to a scope of its own, and a setting naming no tool.
    let app = start(
        &idp,
        &[
            ("AUTH_POLICY_ORDERS__CANCEL_ORDER", "scopes:Orders.Cancel"),
            ("AUTH_POLICY_ORDERS__NO_SUCH_TOOL", "anonymous"),
        ],
    )
    .await;
    let cancel_scope = format!("api://{CLIENT_ID}/Orders.Cancel");
    // Asked for by the server's metadata and by the 403 of a caller without it.
    let doc = app
        .get("/.well-known/oauth-protected-resource/mcp", None)
        .await
        .json();
    let scopes = doc["scopes_supported"].as_array().unwrap();
    assert!(scopes.iter().any(|s| *s == cancel_scope), "{doc}");
    let reader = idp.token(json!({"scp": "Orders.Read"}));
    let a = app
        .mcp("/mcp")
        .bearer(&reader)
        .call("cancel_order", json!({"id": 7}))
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        challenge(&a).contains(&format!("scope=\"{cancel_scope}\"")),
        "{}",
        challenge(&a)
    );
    // The scope now opens it, with no role and no step-up.
    let canceller = idp.token(json!({"scp": "Orders.Cancel"}));
    let a = app
        .mcp("/mcp")
        .bearer(&canceller)
        .call("cancel_order", json!({"id": 7}))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.result()["isError"], false, "{}", a.body);
    let logs = app.logs();
    assert!(
        logs.contains("tool \"cancel_order\" takes its rule from AUTH_POLICY_ORDERS__CANCEL_ORDER"),
        "{logs}"
    );
    assert!(
        logs.contains("AUTH_POLICY_ORDERS__NO_SUCH_TOOL names no tool of an MCP server"),
        "{logs}"
    );
    assert!(!logs.contains("NO_SUCH_TOOL names no function;"), "{logs}");
}

#[tokio::test]
async fn the_servers_setting_changes_what_connecting_asks_for() {
    let idp = IdentityProvider::start();
    // The server's rule in code is `authenticated`; its setting asks for a scope of its own.
    let app = start(
        &idp,
        &[("AUTH_POLICY_ORDERS", "POST=scopes:Orders.Connect")],
    )
    .await;
    let connect = format!("api://{CLIENT_ID}/Orders.Connect");
    let doc = app
        .get("/.well-known/oauth-protected-resource/mcp", None)
        .await
        .json();
    let scopes = doc["scopes_supported"].as_array().unwrap();
    assert!(scopes.iter().any(|s| *s == connect), "{doc}");
    // The tools' scopes are still there.
    assert!(scopes.iter().any(|s| *s == read_scope()), "{doc}");
    let none = app.mcp("/mcp").initialize().await;
    assert_eq!(none.status, 401, "{}", none.body);
    let c = challenge(&none);
    let scope = c
        .split("scope=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no scope in {c}"));
    assert!(scope.split(' ').any(|s| s == connect), "{c}");
    // And the setting is in force: a reader without it cannot connect, and is told the
    // scope in full, as a client asks Entra for it (not the bare name, which Entra would read
    // as a Microsoft Graph scope), with the metadata.
    let reader = idp.token(json!({"scp": "Orders.Read"}));
    let refused = app.mcp("/mcp").bearer(&reader).initialize().await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let c = challenge(&refused);
    assert!(
        c.starts_with(&format!(
            "Bearer error=\"insufficient_scope\", scope=\"{connect}\", resource_metadata=\""
        )),
        "{c}"
    );
    let connecting = idp.token(json!({"scp": "Orders.Connect Orders.Read"}));
    let joined = app.mcp("/mcp").bearer(&connecting).initialize().await;
    assert_eq!(joined.status, 200, "{}", joined.body);
}

#[tokio::test]
async fn settings_give_folderless_functions_and_the_server_their_rules() {
    let idp = IdentityProvider::start();
    // On the profile nothing has a folder: the server and the functions are placed by their
    // routes in code, after the settings are read.
    let app = start(
        &idp,
        &[
            ("AUTH_POLICY_ORDERS", "POST=roles:Orders.Admin"),
            ("AUTH_POLICY_ORDER", "GET=roles:Orders.Admin"),
            ("AUTH_POLICY_NOTHING_HERE", "GET=anonymous"),
        ],
    )
    .await;
    let reader = idp.token(json!({"scp": "Orders.Read"}));
    let listed = app.mcp("/mcp").bearer(&reader).list_tools().await;
    assert_eq!(listed.status, 403, "{}", listed.body);
    // A rule of roles only: a role is not a scope a client could request.
    let c = challenge(&listed);
    assert!(
        c.starts_with("Bearer error=\"insufficient_scope\", resource_metadata=\""),
        "{c}"
    );
    assert_eq!(app.get("/orders/7", Some(&reader)).await.status, 403);
    // The function without a setting keeps its rule in code.
    let found = app
        .request("POST", "/orders/find")
        .bearer(&reader)
        .body("application/json", r#"{"id": 6}"#)
        .send()
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let admin = idp.token(json!({"roles": ["Orders.Admin"]}));
    assert_eq!(app.get("/orders/7", Some(&admin)).await.status, 200);
    let logs = app.logs();
    assert!(
        logs.contains("AUTH_POLICY_NOTHING_HERE names no function; it is ignored"),
        "{logs}"
    );
    assert!(!logs.contains("AUTH_POLICY_ORDERS names no"), "{logs}");
    assert!(!logs.contains("AUTH_POLICY_ORDER names no"), "{logs}");
}
