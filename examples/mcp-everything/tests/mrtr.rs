#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The input-required tools (SEP-2322) on what the conformance suite does not try: retries
//! that answer only part of what was asked, states of another tool, declined forms, answers
//! of the wrong shape.

use funcgate::testing::{IdentityProvider, TestApp};
use serde_json::{Value, json};

fn start(idp: &IdentityProvider) -> TestApp {
    TestApp::start(mcp_everything::app(), env!("CARGO_MANIFEST_DIR"), idp, &[]).unwrap()
}

/// One `tools/call` of `tool` at 2026-07-28 with `extra` params (`inputResponses`,
/// `requestState`): its result, or its JSON-RPC error as `{"error": ...}`.
async fn call(app: &TestApp, tool: &str, extra: Value) -> Value {
    let mut params = json!({"name": tool, "arguments": {}});
    if let (Some(params), Some(extra)) = (params.as_object_mut(), extra.as_object()) {
        params.extend(extra.clone());
    }
    let answer = app
        .mcp("/mcp")
        .version("2026-07-28")
        .request("tools/call", params)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let message = answer.messages().pop().unwrap();
    match message.get("error") {
        Some(error) => json!({"error": error}),
        None => message["result"].clone(),
    }
}

fn accepted(content: Value) -> Value {
    json!({"action": "accept", "content": content})
}

fn text(result: &Value) -> &str {
    assert_eq!(result["resultType"], "complete", "{result}");
    result["content"][0]["text"].as_str().unwrap()
}

fn asked(result: &Value) -> Vec<String> {
    assert_eq!(result["resultType"], "input_required", "{result}");
    let mut keys: Vec<String> = result["inputRequests"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_partial_answer_is_kept_and_only_the_rest_is_asked_for() {
    let idp = IdentityProvider::start();
    let app = start(&idp);
    let tool = "test_input_required_result_multiple_inputs";

    let r1 = call(&app, tool, json!({})).await;
    assert_eq!(asked(&r1), ["client_roots", "greeting", "user_name"]);

    // The name only: asked for the other two, the name kept in the new state.
    let r2 = call(
        &app,
        tool,
        json!({
            "inputResponses": {"user_name": accepted(json!({"name": "Ada"}))},
            "requestState": r1["requestState"],
        }),
    )
    .await;
    assert_eq!(asked(&r2), ["client_roots", "greeting"]);
    assert_ne!(r2["requestState"], r1["requestState"]);

    let r3 = call(
        &app,
        tool,
        json!({
            "inputResponses": {
                "greeting": {
                    "role": "assistant",
                    "content": {"type": "text", "text": "Hi!"},
                    "model": "m",
                },
                "client_roots": {"roots": [{"uri": "file:///a"}, {"uri": "file:///b"}]},
            },
            "requestState": r2["requestState"],
        }),
    )
    .await;
    assert_eq!(text(&r3), "Name: Ada; Greeting: Hi!; Roots: 2");
}

#[tokio::test]
async fn a_state_is_refused_by_the_other_tools() {
    let idp = IdentityProvider::start();
    let app = start(&idp);
    let r1 = call(&app, "test_input_required_result_request_state", json!({})).await;
    let confirmed = json!({"confirm": accepted(json!({"ok": true}))});

    // Its own tool takes it ...
    let own = call(
        &app,
        "test_input_required_result_request_state",
        json!({"inputResponses": confirmed, "requestState": r1["requestState"]}),
    )
    .await;
    assert!(text(&own).starts_with("state-ok"), "{own}");

    // ... a tool that asks the same question does not.
    let other = call(
        &app,
        "test_input_required_result_tampered_state",
        json!({"inputResponses": confirmed, "requestState": r1["requestState"]}),
    )
    .await;
    assert_eq!(other["error"]["code"], -32602, "{other}");
}

#[tokio::test]
async fn a_declined_form_completes_and_a_malformed_answer_is_asked_again() {
    let idp = IdentityProvider::start();
    let app = start(&idp);
    let tool = "test_input_required_result_elicitation";

    let declined = call(
        &app,
        tool,
        json!({"inputResponses": {"user_name": {"action": "decline"}}}),
    )
    .await;
    assert!(text(&declined).contains("no name was given"), "{declined}");

    for malformed in [
        json!({"action": "accept"}),
        json!({"action": "accept", "content": {"name": 7}}),
        json!({"action": "maybe"}),
        json!("Ada"),
    ] {
        let again = call(
            &app,
            tool,
            json!({"inputResponses": {"user_name": malformed}}),
        )
        .await;
        assert_eq!(asked(&again), ["user_name"], "{malformed}");
    }
}

#[tokio::test]
async fn multi_round_asks_again_for_a_missing_answer_in_the_same_round() {
    let idp = IdentityProvider::start();
    let app = start(&idp);
    let tool = "test_input_required_result_multi_round";

    let r1 = call(&app, tool, json!({})).await;
    let r2 = call(
        &app,
        tool,
        json!({
            "inputResponses": {"step1": accepted(json!({"name": "Ada"}))},
            "requestState": r1["requestState"],
        }),
    )
    .await;
    assert_eq!(asked(&r2), ["step2"]);

    // Round 2 without its answer: step 2 again, the name still in the state.
    let again = call(&app, tool, json!({"requestState": r2["requestState"]})).await;
    assert_eq!(asked(&again), ["step2"]);
    let done = call(
        &app,
        tool,
        json!({
            "inputResponses": {"step2": accepted(json!({"color": "green"}))},
            "requestState": again["requestState"],
        }),
    )
    .await;
    assert_eq!(text(&done), "Multi-round complete for Ada who likes green");
}
