//! The OAuth and Entra signals clients expect (issue 20): Protected Resource Metadata (RFC 9728)
//! and `resource_metadata` on every 401, step-up with an authentication context (`acrs`) and
//! Entra's claims challenge, and App Service Authentication's headers never taken on trust.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::support::*;

const BASE: &str = "https://funcgate.example";
const METADATA: &str = "https://funcgate.example/.well-known/oauth-protected-resource";

#[tokio::test]
async fn protected_resource_metadata_and_every_401_points_to_it() {
    let s = Setup::start("", |c| {
        c.set("PUBLIC_BASE_URL", &format!("{BASE}/")).set(
            "AUTH_POLICY_WHOAMI",
            "GET,HEAD=scopes:Api.Read|roles:Reader",
        )
    })
    .await;
    let a = s.get("/.well-known/oauth-protected-resource", None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("cache-control"), Some("public, max-age=3600"));
    let doc = a.json();
    assert_eq!(doc["resource"], BASE);
    assert_eq!(doc["authorization_servers"], json!([s.provider.issuer()]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    // The scopes every function's rules name, as full values: whoami's here, and those of
    // any function the app adds (cargo funcgate function), so adding one breaks nothing.
    let scopes = doc["scopes_supported"].as_array().unwrap();
    assert!(
        scopes.contains(&json!(format!("api://{CLIENT}/Api.Read"))),
        "{doc}"
    );
    assert!(
        scopes
            .iter()
            .all(|s| s.as_str().unwrap().starts_with(&format!("api://{CLIENT}/"))),
        "{doc}"
    );
    // Every kind of 401: no token, a malformed one, an expired one.
    let mut expired = s.provider.claims(&["GetSecret"]);
    expired["exp"] = json!(now() - 3600);
    let expired = s.key.sign(&expired);
    for token in [None, Some("not-a-jwt"), Some(expired.as_str())] {
        let a = s.get("/vault/demo", token).await;
        assert_eq!(a.status, 401);
        let challenge = a.header("www-authenticate").unwrap();
        assert!(
            challenge.contains(&format!("resource_metadata=\"{METADATA}\"")),
            "{challenge}"
        );
    }
    // 403s are not 401s: no pointer there.
    let a = s.get("/vault/demo", Some(&s.token(&["Other"]))).await;
    assert_eq!(a.status, 403);
    assert!(
        !a.header("www-authenticate")
            .unwrap()
            .contains("resource_metadata")
    );
}

#[tokio::test]
async fn without_public_base_url_neither_the_document_nor_the_parameter() {
    let s = Setup::start("", |c| c).await;
    s.get("/.well-known/oauth-protected-resource", None)
        .await
        .assert_error(404, "NotFound");
    let a = s.get("/vault/demo", None).await;
    assert_eq!(a.header("www-authenticate"), Some("Bearer"));
    // A base URL that is not https (a front end is https) stops start-up.
    let app = AppDir::new("");
    HandlerConfig::hosted(&app, "http://127.0.0.1:9")
        .set("PUBLIC_BASE_URL", "http://funcgate.example")
        .assert_fails_naming("PUBLIC_BASE_URL");
}

#[tokio::test]
async fn step_up_with_an_authentication_context() {
    let s = Setup::start("", |c| {
        c.set(
            "AUTH_POLICY_VAULT",
            "GET,HEAD=roles:GetSecret;PUT=roles:SetSecret&acrs:c1",
        )
    })
    .await;
    let token = |acrs: Option<&[&str]>, cp1: bool| {
        let mut claims = s.provider.claims(&["SetSecret", "GetSecret"]);
        if let Some(acrs) = acrs {
            claims["acrs"] = json!(acrs);
        }
        if cp1 {
            claims["xms_cc"] = json!(["cp1"]);
        }
        s.key.sign(&claims)
    };
    // Reads do not need the context.
    assert_eq!(
        s.get("/vault/demo", Some(&token(None, false))).await.status,
        200
    );
    // No context, or the wrong one: a claims challenge for a client that can answer one...
    for acrs in [None, Some(&["c2"][..])] {
        let a = s.put_secret("/vault/demo", &token(acrs, true), "v").await;
        a.assert_error(401, "InsufficientClaims");
        let challenge = a.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with("Bearer realm=\"\", authorization_uri=\""),
            "{challenge}"
        );
        assert!(
            challenge.contains("error=\"insufficient_claims\""),
            "{challenge}"
        );
        let claims = challenge
            .split("claims=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();
        let decoded: Value = serde_json::from_slice(&STANDARD.decode(claims).unwrap()).unwrap();
        assert_eq!(
            decoded,
            json!({"access_token": {"acrs": {"essential": true, "value": "c1"}}})
        );
        // ... and a 403 with the catalogue's new code for one that cannot.
        s.put_secret("/vault/demo", &token(acrs, false), "v")
            .await
            .assert_error(403, "AuthenticationContextRequired");
    }
    // The right context passes; a token without the role is still a plain 403.
    assert_eq!(
        s.put_secret("/vault/demo", &token(Some(&["c1"]), true), "v")
            .await
            .status,
        200
    );
    let mut no_role = s.provider.claims(&["GetSecret"]);
    no_role["acrs"] = json!(["c1"]);
    s.put_secret("/vault/demo", &s.key.sign(&no_role), "v")
        .await
        .assert_error(403, "AuthorizationRoleForbidden");
}

fn principal(user: &str) -> String {
    STANDARD.encode(json!({"auth_typ": "aad", "userId": user, "claims": []}).to_string())
}

#[tokio::test]
async fn easy_auth_headers_never_authenticate_and_reach_functions_only_from_the_platform() {
    // Off (the default): a caller's forged headers are removed, and never authenticate.
    let s = Setup::start("", |c| c.set("RUST_LOG", "debug")).await;
    let forged = principal("forged");
    let a = request(
        reqwest::Method::GET,
        &s.handler.route("/whoami"),
        &[
            ("x-ms-client-principal", Some(&forged)),
            ("x-ms-token-aad-access-token", Some("x")),
        ],
    )
    .await;
    a.assert_error(401, "AuthorizationHeaderMissing");
    let token = bearer(&s.token(&[]));
    let a = request(
        reqwest::Method::GET,
        &s.handler.route("/whoami"),
        &[
            ("authorization", Some(&token)),
            ("x-ms-client-principal", Some(&forged)),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["platformPrincipal"], Value::Null, "{}", a.body);
    let logs = s.handler.logs();
    assert!(logs.contains("App Service Authentication is off"), "{logs}");
    assert!(logs.contains("removed 1 X-MS-CLIENT-PRINCIPAL"), "{logs}");

    // On: the function reads the platform's principal, marked as such, beside the token's
    // identity; without a token the call is still refused.
    let s = Setup::start("", |c| c.set("WEBSITE_AUTH_ENABLED", "true")).await;
    let token = bearer(&s.token(&[]));
    let platform = principal("platform-user");
    let a = request(
        reqwest::Method::GET,
        &s.handler.route("/whoami"),
        &[("x-ms-client-principal", Some(&platform))],
    )
    .await;
    a.assert_error(401, "AuthorizationHeaderMissing");
    let a = request(
        reqwest::Method::GET,
        &s.handler.route("/whoami"),
        &[
            ("authorization", Some(&token)),
            ("x-ms-client-principal", Some(&platform)),
        ],
    )
    .await;
    assert_eq!(
        a.json()["platformPrincipal"]["userId"],
        "platform-user",
        "{}\n{}",
        a.body,
        s.handler.logs()
    );
    assert_eq!(a.json()["objectId"], "0a1b2c3d-0000-4000-8000-000000000001");
    assert!(
        s.handler
            .logs()
            .contains("App Service Authentication is on")
    );
}
