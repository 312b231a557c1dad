#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The orders MCP server through funcgate's testing kit: a loopback identity provider with a
//! test key, the app served in-process, and the kit's MCP client.

use funcgate::testing::{IdentityProvider, TestApp};
use serde_json::json;

fn start(idp: &IdentityProvider) -> TestApp {
    TestApp::start(
        orders_mcp::app(),
        env!("CARGO_MANIFEST_DIR"),
        idp,
        &[("PUBLIC_BASE_URL", "https://orders.example")],
    )
    .unwrap()
}

fn names(list: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn each_tool_has_its_own_rule() {
    let idp = IdentityProvider::start();
    let app = start(&idp);
    let reader = idp.token(json!({"scp": "Orders.Read", "upn": "ada@contoso.com"}));
    let admin = idp.token(json!({"roles": ["Orders.Admin"], "xms_cc": ["cp1"]}));

    // No token: 401 pointing at the server's own metadata, with what connecting needs.
    let mcp = app.mcp("/mcp");
    let a = mcp.initialize().await;
    assert_eq!(a.status, 401);
    let challenge = a.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(
            "resource_metadata=\"https://orders.example/.well-known/oauth-protected-resource/mcp\""
        ),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\""), "{challenge}");

    // A reader sees and calls the read tools, not the admin one.
    let mcp = app.mcp("/mcp").bearer(&reader);
    assert_eq!(mcp.initialize().await.status, 200);
    let list = mcp.list_tools().await;
    assert_eq!(names(&list.result()), ["export_orders", "get_order"]);
    let got = mcp.call("get_order", json!({"id": 7})).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(
        got.result()["structuredContent"]["readBy"],
        "ada@contoso.com"
    );
    let refused = mcp.call("cancel_order", json!({"id": 7})).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );

    // Progress: the answer becomes an event stream ending with the result.
    let streamed = mcp
        .call_with_progress("export_orders", json!({"count": 3}))
        .await;
    let messages = streamed.messages();
    assert_eq!(messages.len(), 4, "{}", streamed.body);
    assert_eq!(messages[0]["method"], "notifications/progress");
    assert_eq!(
        messages[3]["result"]["content"][0]["text"],
        "exported 3 orders"
    );

    // Step-up: the admin without the context gets Entra's claims challenge.
    let mcp = app.mcp("/mcp").bearer(&admin);
    let stepped = mcp.call("cancel_order", json!({"id": 7})).await;
    assert_eq!(stepped.status, 401, "{}", stepped.body);
    assert!(
        stepped
            .header("www-authenticate")
            .unwrap()
            .contains("insufficient_claims")
    );
}
