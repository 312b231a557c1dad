//! On-behalf-of paths the items-app tests do not reach: an API the code never declared, one
//! declared without a URL or without a credential, Entra's consent refusal, and the token
//! endpoint taken from `AUTH_METADATA_URL`'s document. In-process apps of this test's own
//! functions, against the testing kit's identity provider as Entra.

use funcgate::testing::{IdentityProvider, TestApp};
use funcgate::{App, Downstream, Function, Outcome, Reply, Request};
use serde_json::json;

use crate::support::AppDir;

const GRAPH_READ: &str = "https://graph.microsoft.com/User.Read";

/// A token for `graph`, answered only as whether one came.
async fn token(req: Request) -> Outcome {
    req.downstream("graph").await?;
    Ok(Reply::json(200, &json!({"token": true})))
}

/// A token for an API the app never declared.
async fn undeclared(req: Request) -> Outcome {
    req.downstream("billing").await?;
    Ok(Reply::json(200, &json!({"token": true})))
}

/// A call to `graph`, which is declared without a base URL.
async fn call(req: Request) -> Outcome {
    let answer = req.downstream_api("graph").get("/v1.0/me").await?;
    Ok(Reply::json(200, &json!({"status": answer.status})))
}

fn declared() -> App {
    App::new()
        .downstream("graph", Downstream::on_behalf_of([GRAPH_READ]))
        .function(Function::new("token", token).rules("GET=authenticated"))
        .function(Function::new("undeclared", undeclared).rules("GET=authenticated"))
        .function(Function::new("call", call).rules("GET=authenticated"))
}

fn folder() -> AppDir {
    let dir = AppDir::new("api");
    for name in ["token", "undeclared", "call"] {
        dir.write(
            &format!("{name}/function.json"),
            &format!(
                r#"{{"bindings":[{{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"],"route":"{name}"}},{{"type":"http","direction":"out","name":"res"}}]}}"#
            ),
        );
    }
    dir
}

#[tokio::test]
async fn code_and_settings_mistakes_are_500s_that_name_the_fix() {
    let idp = IdentityProvider::start();
    let dir = folder();
    let user = idp.token(json!({"scp": "Items.Read"}));

    // No credential at all: the exchange cannot be made, and nothing is asked of Entra.
    let app = TestApp::start(
        declared(),
        dir.path(),
        &idp,
        &[("AUTH_DEBUG_ERRORS", "true")],
    )
    .unwrap();
    let a = app.get("/token", Some(&user)).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (500, "DownstreamNotConfigured"),
        "{}",
        a.body
    );
    assert!(a.body.contains("AUTH_CLIENT_CREDENTIAL"), "{}", a.body);
    assert!(idp.token_requests().is_empty());

    let with_secret = [
        ("AUTH_DEBUG_ERRORS", "true"),
        ("AUTH_CLIENT_CREDENTIAL", "secret"),
        ("AUTH_CLIENT_SECRET", "local-secret"),
    ];
    let app = TestApp::start(declared(), dir.path(), &idp, &with_secret).unwrap();
    // An API the code never declared.
    let a = app.get("/undeclared", Some(&user)).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (500, "DownstreamNotDeclared"),
        "{}",
        a.body
    );
    // A call to an API with no base URL in code or settings names the setting.
    let a = app.get("/call", Some(&user)).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (500, "DownstreamNotConfigured"),
        "{}",
        a.body
    );
    assert!(a.body.contains("DOWNSTREAM_GRAPH_URL"), "{}", a.body);
    // Neither reached Entra.
    assert!(idp.token_requests().is_empty());
    // The token alone needs no URL.
    let a = app.get("/token", Some(&user)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(idp.token_requests().len(), 1);
}

#[tokio::test]
async fn consent_not_granted_is_a_403_without_entras_text() {
    let idp = IdentityProvider::start();
    let dir = folder();
    let app = TestApp::start(
        declared(),
        dir.path(),
        &idp,
        &[
            ("AUTH_DEBUG_ERRORS", "true"),
            ("AUTH_CLIENT_CREDENTIAL", "secret"),
            ("AUTH_CLIENT_SECRET", "local-secret"),
        ],
    )
    .unwrap();
    let user = idp.token(json!({"scp": "Items.Read"}));
    // Entra's answer when nobody consented to the downstream scope (AADSTS65001).
    idp.answer_next_token_request(
        400,
        json!({
            "error": "invalid_grant",
            "error_description": "AADSTS65001: The user or administrator has not consented to use the application SECRET-TEXT.",
            "error_codes": [65001],
        }),
    );
    let a = app.get("/token", Some(&user)).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (403, "DownstreamConsentRequired"),
        "{}",
        a.body
    );
    assert!(!a.body.contains("SECRET-TEXT"), "{}", a.body);
    assert!(!app.logs().contains("SECRET-TEXT"));
}

#[tokio::test]
async fn the_token_endpoint_comes_from_auth_metadata_url() {
    let idp = IdentityProvider::start();
    let dir = folder();
    let metadata = format!("{}/.well-known/openid-configuration", idp.issuer());
    // Nothing listens at the instance: only the document's token_endpoint can answer.
    let app = TestApp::start(
        declared(),
        dir.path(),
        &idp,
        &[
            ("AUTH_METADATA_URL", metadata.as_str()),
            ("AUTH_INSTANCE", "http://127.0.0.1:9"),
            ("AUTH_CLIENT_CREDENTIAL", "secret"),
            ("AUTH_CLIENT_SECRET", "local-secret"),
        ],
    )
    .unwrap();
    let user = idp.token(json!({"scp": "Items.Read"}));
    let a = app.get("/token", Some(&user)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let requests = idp.token_requests();
    assert_eq!(requests.len(), 1);
    let field = |name: &str| {
        requests[0]
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("scope").as_deref(), Some(GRAPH_READ));
    assert_eq!(
        field("requested_token_use").as_deref(),
        Some("on_behalf_of")
    );
}
