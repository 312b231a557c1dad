//! The `authorization_uri` of a step-up (claims) challenge (security review round 4,
//! finding 8): the discovery document's `authorization_endpoint` when it names a usable one,
//! Entra's endpoint for an Entra tenant, and none at all rather than a wrong one.

use serde_json::{Value, json};

use crate::support::*;

/// Reads need a role; writes also need authentication context `c1` (step-up).
const STEP_UP: &str = "GET,HEAD=roles:GetSecret;PUT=roles:SetSecret&acrs:c1";

/// The discovery document URL of `provider`'s test tenant.
fn metadata_url(provider: &Provider) -> String {
    format!(
        "{}/{TENANT}/v2.0/.well-known/openid-configuration",
        provider.base
    )
}

/// A handler behind `AUTH_METADATA_URL` (no tenant id, Entra's default instance), with
/// the step-up rule; its keys are loaded.
async fn behind_metadata_url(app: &AppDir, provider: &Provider) -> Handler {
    let handler = HandlerConfig::hosted(app, &provider.base)
        .unset("AUTH_TENANT_ID")
        .unset("AUTH_INSTANCE")
        .set("AUTH_METADATA_URL", &metadata_url(provider))
        .set("AUTH_POLICY_VAULT", STEP_UP)
        .spawn()
        .await;
    handler.wait_for_keys().await;
    handler
}

/// The `WWW-Authenticate` value of the claims challenge a write without the context gets,
/// from a client that can answer one (`xms_cc` holds `cp1`).
async fn claims_challenge(handler: &Handler, provider: &Provider, key: &TestKey) -> String {
    let mut claims = provider.claims(&["SetSecret", "GetSecret"]);
    claims["xms_cc"] = json!(["cp1"]);
    let resp = client()
        .put(handler.route("/vault/demo"))
        .bearer_auth(key.sign(&claims))
        .header("content-type", "application/json")
        .body(json!({"value": "v"}).to_string())
        .send()
        .await
        .unwrap();
    let a = Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    };
    a.assert_error(401, "InsufficientClaims");
    a.header("www-authenticate").unwrap().to_owned()
}

/// The challenge's `authorization_uri` parameter, if it has one.
fn authorization_uri(challenge: &str) -> Option<&str> {
    challenge
        .split("authorization_uri=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
}

#[tokio::test]
async fn a_metadata_url_challenge_names_the_documents_authorization_endpoint() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    // Not Entra's pattern: only the document can tell it.
    let endpoint = format!("{}/b2c/oauth2/authorize?p=b2c_1_signin", provider.base);
    provider.set_discovery_field("authorization_endpoint", json!(endpoint));
    let app = AppDir::new("");
    let handler = behind_metadata_url(&app, &provider).await;
    let challenge = claims_challenge(&handler, &provider, &key).await;
    assert_eq!(
        authorization_uri(&challenge),
        Some(endpoint.as_str()),
        "{challenge}"
    );
    assert!(
        challenge.contains("error=\"insufficient_claims\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_metadata_url_challenge_without_a_usable_endpoint_names_none() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    // None published, or one that would break out of the quoted header value.
    for published in [
        Value::Null,
        json!("https://idp.example/a\"\r\nSet-Cookie: x=1"),
    ] {
        provider.set_discovery_field("authorization_endpoint", published.clone());
        let app = AppDir::new("");
        let handler = behind_metadata_url(&app, &provider).await;
        let challenge = claims_challenge(&handler, &provider, &key).await;
        assert_eq!(authorization_uri(&challenge), None, "{challenge}");
        assert!(
            challenge.starts_with("Bearer realm=\"\", error=\"insufficient_claims\", claims=\""),
            "{challenge}"
        );
        // The keys loaded all the same: reads pass.
        let read = key.sign(&provider.claims(&["GetSecret"]));
        let a = get(&handler.route("/vault/demo"), Some(&bearer(&read))).await;
        assert_eq!(a.status, 200, "{published}: {}", a.body);
    }
}

#[tokio::test]
async fn an_entra_tenant_challenge_falls_back_to_the_tenants_endpoint() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    provider.set_discovery_field("authorization_endpoint", Value::Null);
    let app = AppDir::new("");
    let handler = HandlerConfig::hosted(&app, &provider.base)
        .set("AUTH_POLICY_VAULT", STEP_UP)
        .spawn()
        .await;
    handler.wait_for_keys().await;
    let challenge = claims_challenge(&handler, &provider, &key).await;
    let entra = format!("{}/{TENANT}/oauth2/v2.0/authorize", provider.base);
    assert_eq!(
        authorization_uri(&challenge),
        Some(entra.as_str()),
        "{challenge}"
    );
}
