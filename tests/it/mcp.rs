//! An MCP server whose own rule is `anonymous`: callers without a token list and call its
//! anonymous tools only, and a token that comes anyway must be valid. In-process, on the
//! `mcp-custom-handler` profile.

use funcgate::mcp::{Json, Mcp, Tool};
use funcgate::testing::{IdentityProvider, TestApp, TestResponse};
use funcgate::{App, Request};
use serde_json::json;

async fn public(_: (), _req: Request) -> String {
    "anyone".to_owned()
}

async fn private(_: (), _req: Request) -> String {
    "readers only".to_owned()
}

fn open_server() -> App {
    App::new().mcp(
        Mcp::new("open")
            .rules("anonymous")
            .tool(Tool::new("public", public).rules("anonymous"))
            .tool(Tool::new("private", private).rules("scopes:Items.Read")),
    )
}

/// A `host.json` on the `mcp-custom-handler` profile, with anonymous routes, in `dir`.
fn on_the_profile(dir: &std::path::Path) {
    std::fs::write(
        dir.join("host.json"),
        json!({
            "version": "2.0",
            "configurationProfile": "mcp-custom-handler",
            "customHandler": {"http": {"defaultAuthorizationLevel": "anonymous"}},
        })
        .to_string(),
    )
    .unwrap();
}

fn tool_names(answer: &TestResponse) -> Vec<String> {
    answer.json()["result"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_anonymous_server_checks_each_tools_rule_and_any_token_that_comes() {
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    on_the_profile(dir.path());
    let app = TestApp::start(open_server(), dir.path(), &idp, &[]).unwrap();

    // No token: the anonymous tool only.
    let nobody = app.mcp("/mcp");
    let listed = nobody.list_tools().await;
    assert_eq!(tool_names(&listed), ["public"], "{}", listed.body);
    let called = nobody.call("public", json!({})).await;
    assert_eq!(called.status, 200, "{}", called.body);
    assert_eq!(called.result()["isError"], false, "{}", called.body);
    let refused = nobody.call("private", json!({})).await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (401, "AuthorizationHeaderMissing"),
        "{}",
        refused.body
    );

    // A token that comes anyway is checked, even for the anonymous tool.
    let forged = app.mcp("/mcp").bearer("not-a-token");
    for tool in ["public", "private"] {
        let answer = forged.call(tool, json!({})).await;
        assert_eq!(answer.status, 401, "{tool}: {}", answer.body);
        assert!(
            answer.json()["result"].is_null(),
            "{tool} ran: {}",
            answer.body
        );
    }

    // A reader gets both.
    let reader = app
        .mcp("/mcp")
        .bearer(&idp.token(json!({"scp": "Items.Read"})));
    let listed = reader.list_tools().await;
    assert_eq!(
        tool_names(&listed),
        ["public", "private"],
        "{}",
        listed.body
    );
    let called = reader.call("private", json!({})).await;
    assert_eq!(called.status, 200, "{}", called.body);
    assert_eq!(called.result()["isError"], false, "{}", called.body);
}

/// A tool whose structured content is not an object, which only 2026-07-28 allows.
async fn names(_: (), _req: Request) -> rmcp::model::CallToolResult {
    rmcp::model::CallToolResult::structured(json!(["ada", "grace"]))
}

/// The app with `names`, anonymous, on the MCP profile.
fn names_app(idp: &IdentityProvider, dir: &std::path::Path) -> TestApp {
    names_app_with(idp, dir, &[])
}

/// [`names_app`] with `settings`.
fn names_app_with(
    idp: &IdentityProvider,
    dir: &std::path::Path,
    settings: &[(&str, &str)],
) -> TestApp {
    on_the_profile(dir);
    let app = App::new().mcp(
        Mcp::new("names")
            .rules("anonymous")
            .tool(Tool::new("names", names).rules("anonymous")),
    );
    TestApp::start(app, dir, idp, settings).unwrap()
}

/// A `tools/call` of `names` whose arguments hold `members` (JSON object members, written
/// as given).
fn names_call(members: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"names","arguments":{{{members}}}}}}}"#
    )
}

/// A `tools/call` of `names`, no arguments, whose params also hold `members` (each written
/// with its leading comma).
fn names_call_with(members: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"names","arguments":{{}}{members}}}}}"#
    )
}

#[tokio::test]
async fn a_plain_tool_answers_an_earlier_revision_as_the_sdk_does() {
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    let app = names_app(&idp, dir.path());
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "names", "arguments": {}}});
    // Bare types: funcgate answers directly; a weighted type: through the SDK.
    let mut answers = Vec::new();
    for direct in [true, false] {
        let answer = call_at(&app, "2025-11-25", direct, &body).await;
        assert_eq!(answer.status, 200, "{direct}: {}", answer.body);
        let result = answer.result();
        // Before 2026-07-28 structured content is an object or nothing, and a result has
        // no `resultType`: the array stays in the text block.
        assert_eq!(result.get("structuredContent"), None, "{}", answer.body);
        assert_eq!(result.get("resultType"), None, "{}", answer.body);
        assert_eq!(result["content"][0]["text"], r#"["ada","grace"]"#);
        answers.push(answer.json());
    }
    assert_eq!(answers[0], answers[1]);
    // On 2026-07-28 the array is the structured content.
    let modern = app
        .mcp("/mcp")
        .version("2026-07-28")
        .call("names", json!({}))
        .await;
    assert_eq!(
        modern.result()["structuredContent"],
        json!(["ada", "grace"]),
        "{}",
        modern.body
    );
}

/// A typed result: an object with a schema.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Order {
    id: u32,
    status: String,
    /// An `f32`, which the SDK widens to an `f64` on the way to JSON.
    weight: f32,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct OrderId {
    id: u32,
}

/// The order `id` (the same one each time).
fn the_order(id: u32) -> Order {
    Order {
        id,
        status: "shipped \"fast\"".to_owned(),
        weight: 0.1,
    }
}

async fn order(args: OrderId, _req: Request) -> Result<Json<Order>, String> {
    if args.id == 0 {
        return Err("there is no order 0".to_owned());
    }
    Ok(Json(the_order(args.id)))
}

/// A typed result whose error is a protocol error.
async fn strict_order(args: OrderId, _req: Request) -> Result<Json<Order>, rmcp::ErrorData> {
    if args.id == 0 {
        return Err(rmcp::ErrorData::invalid_params("there is no order 0", None));
    }
    Ok(Json(the_order(args.id)))
}

/// A typed result that is not an object.
async fn ids(_: (), _req: Request) -> Json<Vec<u32>> {
    Json(vec![1, 2])
}

/// A typed result that cannot be serialised.
#[derive(schemars::JsonSchema)]
struct Broken {}

impl serde::Serialize for Broken {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("no"))
    }
}

async fn broken(_: (), _req: Request) -> Json<Broken> {
    Json(Broken {})
}

/// `body` posted at revision `version` (before 2026-07-28), answered directly (bare
/// `Accept` types) or through the SDK (a weighted type).
async fn call_at(
    app: &TestApp,
    version: &str,
    direct: bool,
    body: &(impl std::fmt::Display + ?Sized),
) -> TestResponse {
    let accept = if direct {
        "application/json, text/event-stream"
    } else {
        "application/json;q=1, text/event-stream"
    };
    app.request("POST", "/mcp")
        .header("Accept", accept)
        .header("MCP-Protocol-Version", version)
        .body("application/json", body.to_string())
        .send()
        .await
}

#[tokio::test]
async fn a_typed_result_has_its_schema_and_one_answer_on_both_paths() {
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    on_the_profile(dir.path());
    let app = App::new().mcp(
        Mcp::new("typed")
            .rules("anonymous")
            .tool(Tool::new("order", order).rules("anonymous"))
            .tool(Tool::new("strict_order", strict_order).rules("anonymous"))
            .tool(Tool::new("ids", ids).rules("anonymous"))
            .tool(Tool::new("broken", broken).rules("anonymous")),
    );
    let app = TestApp::start(app, dir.path(), &idp, &[]).unwrap();
    let call = |name: &str, arguments: serde_json::Value| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}})
    };

    // The schema of `Order`, as the SDK derives output schemas; a schema whose root is not
    // an object only from 2026-07-28, as the SDK lists them.
    let schemas = |answer: &TestResponse| {
        let mut schemas = std::collections::BTreeMap::new();
        for tool in answer.result()["tools"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            schemas.insert(
                tool["name"].as_str().unwrap_or("").to_owned(),
                tool.get("outputSchema").cloned(),
            );
        }
        schemas
    };
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let legacy = schemas(&call_at(&app, "2025-11-25", true, &list).await);
    let order_schema = legacy["order"].clone().expect("order has an output schema");
    assert_eq!(order_schema["type"], "object");
    assert_eq!(order_schema["properties"]["id"]["type"], "integer");
    assert_eq!(order_schema["required"], json!(["id", "status", "weight"]));
    assert_eq!(legacy["strict_order"], Some(order_schema.clone()));
    assert_eq!(legacy["ids"], None);
    let newest = app.mcp("/mcp").version("2026-07-28");
    let modern = schemas(&newest.list_tools().await);
    assert_eq!(modern["order"], Some(order_schema));
    assert_eq!(
        modern["ids"].as_ref().map(|s| s["type"].clone()),
        Some(json!("array"))
    );

    // What the SDK's own `Json` gives a client before 2026-07-28, the reference for both
    // paths.
    let reference = {
        use rmcp::handler::server::tool::IntoCallToolResult as _;
        let Ok(rmcp::model::CallToolResponse::Complete(result)) =
            rmcp::handler::server::wrapper::Json(the_order(7)).into_call_tool_result()
        else {
            panic!("the SDK gave no result");
        };
        let mut result = rmcp::model::ServerResult::CallToolResult(result);
        result.strip_result_type_for_legacy_peer();
        result.strip_non_object_output_for_legacy_peer();
        serde_json::to_value(&result).unwrap()
    };
    for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        // Each answer the same directly and through the SDK.
        let mut both = Vec::new();
        for direct in [true, false] {
            let found = call_at(&app, version, direct, &call("order", json!({"id": 7}))).await;
            assert_eq!(found.status, 200, "{}", found.body);
            assert_eq!(found.result(), reference, "{}", found.body);
            let result = found.result();
            assert_eq!(result["isError"], false, "{}", found.body);
            assert_eq!(result.get("resultType"), None, "{}", found.body);
            assert_eq!(
                result["structuredContent"],
                json!({"id": 7, "status": "shipped \"fast\"", "weight": f64::from(0.1f32)})
            );
            // The text block is the same JSON, for clients that read text only.
            let text = result["content"][0]["text"].as_str().unwrap_or("");
            let read: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(read, result["structuredContent"], "{}", found.body);

            let missing = call_at(&app, version, direct, &call("order", json!({"id": 0}))).await;
            assert_eq!(missing.result()["isError"], true, "{}", missing.body);
            assert_eq!(
                missing.result()["content"][0]["text"],
                "there is no order 0"
            );
            assert_eq!(missing.result().get("structuredContent"), None);

            let listed = call_at(&app, version, direct, &call("ids", json!({}))).await;
            assert_eq!(
                listed.result().get("structuredContent"),
                None,
                "{}",
                listed.body
            );
            assert_eq!(listed.result()["content"][0]["text"], "[1,2]");

            let strict = call_at(
                &app,
                version,
                direct,
                &call("strict_order", json!({"id": 0})),
            )
            .await;
            assert_eq!(strict.json()["error"]["code"], -32602, "{}", strict.body);
            assert_eq!(strict.json()["error"]["message"], "there is no order 0");

            let failed = call_at(&app, version, direct, &call("broken", json!({}))).await;
            assert_eq!(failed.status, 200, "{}", failed.body);
            assert_eq!(failed.json()["error"]["code"], -32603, "{}", failed.body);
            assert!(failed.json().get("result").is_none(), "{}", failed.body);

            // The bytes, not only the values: the same answer to the byte on both paths.
            both.push([
                found.body,
                missing.body,
                listed.body,
                strict.body,
                failed.body,
            ]);
        }
        assert_eq!(both[0], both[1], "{version}");
    }

    // 2026-07-28: through the SDK, with its `resultType`; the array is structured content.
    let modern = newest.call("order", json!({"id": 7})).await;
    assert_eq!(modern.result()["resultType"], "complete", "{}", modern.body);
    assert_eq!(
        modern.result()["structuredContent"]["id"],
        7,
        "{}",
        modern.body
    );
    let modern = newest.call("ids", json!({})).await;
    assert_eq!(
        modern.result()["structuredContent"],
        json!([1, 2]),
        "{}",
        modern.body
    );
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_not_json() {
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    let app = names_app(&idp, dir.path());
    // The bad byte sits in a member the gate does not read, which its reader skips.
    let mut body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"names","arguments":{},"_meta":""#.to_vec();
    body.extend_from_slice(b"\xff\"}}");
    let answer = app
        .request("POST", "/mcp")
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .body("application/json", body)
        .send()
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.json()["error"]["code"], -32700, "{}", answer.body);
}

#[tokio::test]
async fn what_serde_json_refuses_anywhere_is_refused_as_json_on_both_paths() {
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    let app = names_app(&idp, dir.path());
    let call = names_call;
    // The SDK reads the whole body and refused these with a plain-text 415 (a lone surrogate,
    // a number beyond an `f64`); the direct path skipped the members it does not read and
    // answered 200.
    let refused = [
        call(r#""x":1e400"#),
        call(&format!(r#""x":{}"#, "9".repeat(309))),
        call(r#""note":"\ud800""#),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"names","arguments":{},"_meta":{"x":"\udc00"}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"names"},"extra":"a\ud800b"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"\ud800"}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"names","_meta":{"n":-1.5E+400}}}"#.to_owned(),
    ];
    for direct in [true, false] {
        for body in &refused {
            let answer = call_at(&app, "2025-11-25", direct, &body).await;
            assert_eq!(answer.status, 400, "{direct}: {body}: {}", answer.body);
            assert_eq!(answer.json()["error"]["code"], -32700, "{}", answer.body);
        }
        // A pair is a character, and an escaped backslash before a `u` no escape at all.
        for fine in [
            call(r#""note":"\ud83d\ude00""#),
            call(r#""note":"\\ud800""#),
            call(r#""x":1e300,"y":1E-400"#),
            call(&format!(r#""x":{}"#, "9".repeat(308))),
        ] {
            let answer = call_at(&app, "2025-11-25", direct, &fine).await;
            assert_eq!(answer.status, 200, "{direct}: {fine}: {}", answer.body);
            assert_eq!(answer.result()["isError"], false, "{}", answer.body);
        }
    }
}

#[tokio::test]
async fn a_body_the_apps_limit_allows_is_read_on_both_paths() {
    // The SDK's transport has a 4 MiB limit of its own; the app's MAX_REQUEST_BODY_BYTES
    // (above it here) is the one a team sets, and it applies to every path alike.
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    let limit = 6 * 1024 * 1024;
    let app = names_app_with(
        &idp,
        dir.path(),
        &[("MAX_REQUEST_BODY_BYTES", &limit.to_string())],
    );
    let call = |pad: usize| names_call(&format!(r#""pad":"{}""#, "a".repeat(pad)));
    for direct in [true, false] {
        let answer = call_at(&app, "2025-11-25", direct, &call(5 * 1024 * 1024)).await;
        assert_eq!(answer.status, 200, "{direct}: {}", answer.body);
        assert_eq!(answer.result()["isError"], false, "{}", answer.body);
    }
}

#[tokio::test]
async fn a_body_nested_deeper_than_the_sdk_reads_is_refused_as_json_on_both_paths() {
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    let app = names_app(&idp, dir.path());
    // The body, `params` and `arguments` are three levels; the argument nests `depth` more.
    let body = |depth: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"names","arguments":{{"deep":{}{}}}}}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    for direct in [true, false] {
        // 127 levels are read (the SDK's reader and serde_json's limit); a 128th is refused
        // by the SDK with a plain-text 415, which the direct path answered 200.
        for (depth, status) in [(124, 200), (125, 400), (400, 400)] {
            let answer = call_at(&app, "2025-11-25", direct, &body(depth)).await;
            assert_eq!(answer.status, status, "{direct} {depth}: {}", answer.body);
            if status == 400 {
                assert_eq!(answer.json()["error"]["code"], -32700, "{}", answer.body);
            }
        }
    }
}

#[tokio::test]
async fn the_sdks_refusals_are_json_rpc_errors() {
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    let app = names_app(&idp, dir.path());
    let list = r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#;
    // (Accept, Content-Type, MCP-Protocol-Version, body) → status and JSON-RPC code; the SDK
    // answered each in plain text.
    let cases = [
        (
            "text/html",
            "application/json",
            "2025-11-25",
            list,
            406,
            -32000,
        ),
        (
            "application/json, text/event-stream",
            "text/plain",
            "2025-11-25",
            list,
            415,
            -32000,
        ),
        (
            "application/json, text/event-stream",
            "application/json",
            "1999-01-01",
            list,
            400,
            -32000,
        ),
        (
            "application/json, text/event-stream",
            "application/json",
            "2025-11-25",
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":5}}"#,
            400,
            -32600,
        ),
    ];
    for (accept, content_type, version, body, status, code) in cases {
        let answer = app
            .request("POST", "/mcp")
            .header("Accept", accept)
            .header("MCP-Protocol-Version", version)
            .body(content_type, body)
            .send()
            .await;
        let case = format!("{accept} | {content_type} | {version} | {body}");
        assert_eq!(answer.status, status, "{case}: {}", answer.body);
        assert!(
            answer
                .header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{case}: {:?}",
            answer.header("content-type")
        );
        let error = &answer.json()["error"];
        assert_eq!(error["code"], code, "{case}: {}", answer.body);
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{case}: {}",
            answer.body
        );
        assert_eq!(answer.json()["id"], 4, "{case}: {}", answer.body);
    }
}

#[tokio::test]
async fn a_meta_the_sdk_refuses_is_refused_on_both_paths() {
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    let app = names_app(&idp, dir.path());
    let call = names_call_with;
    // (params' extra members, status, JSON-RPC code or none for a result); the direct path
    // answered the first four 200 where the SDK refused them.
    let cases = [
        (r#","_meta":5"#, 400, Some(-32600)),
        (r#","_meta":"x""#, 400, Some(-32600)),
        (r#","_meta":[]"#, 400, Some(-32600)),
        (r#","_meta":{},"_meta":{"a":1}"#, 400, Some(-32602)),
        (r#","_meta":{"progressToken":"p"}"#, 200, None),
        (r#","_meta":{}"#, 200, None),
        // A per-request protocol version the SDK checks against the header (-32020), also
        // with its key escaped.
        (
            r#","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}"#,
            400,
            Some(-32020),
        ),
        (
            r#","_meta":{"io.modelcontextprotocol\/protocolVersion":"2026-07-28"}"#,
            400,
            Some(-32020),
        ),
    ];
    for (extra, status, code) in cases {
        let body = call(extra);
        let mut answers = Vec::new();
        for direct in [true, false] {
            let answer = call_at(&app, "2025-11-25", direct, &body).await;
            assert_eq!(answer.status, status, "{direct}: {body}: {}", answer.body);
            match code {
                Some(code) => assert_eq!(answer.json()["error"]["code"], code, "{}", answer.body),
                None => assert_eq!(answer.result()["isError"], false, "{}", answer.body),
            }
            answers.push(answer.body);
        }
        assert_eq!(answers[0], answers[1], "{body}");
    }
    // A response's members beside a request's: the SDK refuses the message.
    for extra in [r#","result":null"#, r#","error":{"code":1,"message":"x"}"#] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"names","arguments":{{}}}}{extra}}}"#
        );
        let mut answers = Vec::new();
        for direct in [true, false] {
            let answer = call_at(&app, "2025-11-25", direct, &body).await;
            assert_eq!(answer.status, 400, "{direct}: {body}: {}", answer.body);
            assert_eq!(answer.json()["error"]["code"], -32600, "{}", answer.body);
            answers.push(answer.body);
        }
        assert_eq!(answers[0], answers[1], "{body}");
    }
}

#[tokio::test]
async fn only_members_the_method_reads_are_refused_twice() {
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    let app = names_app(&idp, dir.path());
    let call = names_call_with;
    // A `uri` is a resource's, not a tool's: the SDK skips it however often it comes, as it
    // skips any member it does not read (the gate refused a `uri` twice).
    for (extra, status) in [
        (r#","uri":"a","uri":"b""#, 200),
        (r#","x":1,"x":2"#, 200),
        (r#","arguments":{}"#, 400),
        (r#","name":"names""#, 400),
    ] {
        let body = call(extra);
        let mut answers = Vec::new();
        for direct in [true, false] {
            let answer = call_at(&app, "2025-11-25", direct, &body).await;
            assert_eq!(answer.status, status, "{direct}: {body}: {}", answer.body);
            if status == 200 {
                assert_eq!(answer.result()["isError"], false, "{}", answer.body);
            } else {
                assert_eq!(answer.json()["error"]["code"], -32602, "{}", answer.body);
            }
            answers.push(answer.body);
        }
        assert_eq!(answers[0], answers[1], "{body}");
    }
}

#[tokio::test]
async fn a_setting_gives_a_tool_its_rule() {
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    on_the_profile(dir.path());
    let reader = idp.token(json!({"scp": "Items.Read"}));
    let admin = idp.token(json!({"roles": ["Items.Admin"]}));

    // Tighter: the reader loses `private`, which the admin role now opens.
    let app = TestApp::start(
        open_server(),
        dir.path(),
        &idp,
        &[("AUTH_POLICY_OPEN__PRIVATE", "roles:Items.Admin")],
    )
    .unwrap();
    let as_reader = app.mcp("/mcp").bearer(&reader);
    let listed = as_reader.list_tools().await;
    assert_eq!(tool_names(&listed), ["public"], "{}", listed.body);
    let refused = as_reader.call("private", json!({})).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let as_admin = app.mcp("/mcp").bearer(&admin);
    let called = as_admin.call("private", json!({})).await;
    assert_eq!(called.result()["isError"], false, "{}", called.body);
    // Looser: anyone may call it.
    let app = TestApp::start(
        open_server(),
        dir.path(),
        &idp,
        &[("AUTH_POLICY_OPEN__PRIVATE", "anonymous")],
    )
    .unwrap();
    let called = app.mcp("/mcp").call("private", json!({})).await;
    assert_eq!(called.result()["isError"], false, "{}", called.body);

    // A rule that does not parse stops start-up, naming the setting.
    let refused = TestApp::start(
        open_server(),
        dir.path(),
        &idp,
        &[("AUTH_POLICY_OPEN__PRIVATE", "rolez:Items.Admin")],
    );
    let error = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("AUTH_POLICY_OPEN__PRIVATE"), "{error}");
}

#[tokio::test]
async fn tool_settings_that_cannot_be_told_apart_stop_start_up() {
    let idp = IdentityProvider::start();
    let dir = tempfile::tempdir().unwrap();
    on_the_profile(dir.path());
    let error = |app: App, settings: &[(&str, &str)]| {
        TestApp::start(app, dir.path(), &idp, settings)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    // Two servers whose names differ in `-` and `_` only: one setting would name both tools.
    let twins = || {
        App::new()
            .mcp(
                Mcp::new("orders-v1")
                    .path("a")
                    .tool(Tool::new("get", public).rules("anonymous")),
            )
            .mcp(
                Mcp::new("orders_v1")
                    .path("b")
                    .tool(Tool::new("get", public).rules("anonymous")),
            )
    };
    let e = error(twins(), &[("AUTH_POLICY_ORDERS_V1__GET", "authenticated")]);
    assert!(e.contains("also names another server's tool"), "{e}");
    // Without the setting they run.
    assert_eq!(error(twins(), &[]), "");
    // A function named as a server, case aside, is refused as one of the same name is.
    let e = error(
        App::new()
            .mcp(Mcp::new("orders").tool(Tool::new("get", public).rules("anonymous")))
            .function(funcgate::Function::new("Orders", |_req: Request| async {
                Ok(funcgate::Reply::json(200, &json!({})))
            })),
        &[],
    );
    assert!(e.contains("an MCP server has this name"), "{e}");
    // A stale setting with `__` that no tool takes, in another grammar, only warns.
    assert_eq!(
        error(open_server(), &[("AUTH_POLICY_OLD__FN", "GET=roles:x")]),
        ""
    );
}
