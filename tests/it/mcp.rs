//! An MCP server whose own rule is `anonymous`: callers without a token list and call its
//! anonymous tools only, and a token that comes anyway must be valid. In-process, on the
//! `mcp-custom-handler` profile.

use funcgate::mcp::{Mcp, Tool};
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
    std::fs::write(
        dir.path().join("host.json"),
        json!({
            "version": "2.0",
            "configurationProfile": "mcp-custom-handler",
            "customHandler": {"http": {"defaultAuthorizationLevel": "anonymous"}},
        })
        .to_string(),
    )
    .unwrap();
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
