//! The verified-token cache seen from outside: reuse is safe, expiry and policy still apply.

use std::time::Duration;

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn a_cached_token_still_expires_on_time() {
    let s = Setup::start("", |c| c.set("AUTH_CLOCK_SKEW_SECONDS", "0")).await;
    let mut claims = s.provider.claims(&["GetSecret"]);
    claims["exp"] = json!(now() + 2);
    let token = s.key.sign(&claims);
    assert_eq!(s.get("/vault/demo", Some(&token)).await.status, 200);
    assert_eq!(s.get("/vault/demo", Some(&token)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    s.get("/vault/demo", Some(&token))
        .await
        .assert_error(401, "AuthorizationTokenExpired");
}

#[tokio::test]
async fn a_cached_token_not_yet_valid_is_refused_again() {
    let s = Setup::start("", |c| c.set("AUTH_CLOCK_SKEW_SECONDS", "0")).await;
    let mut claims = s.provider.claims(&["GetSecret"]);
    claims["nbf"] = json!(now() + 2);
    let token = s.key.sign(&claims);
    s.get("/vault/demo", Some(&token))
        .await
        .assert_error(401, "InvalidAuthorizationClaims");
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert_eq!(
        s.get("/vault/demo", Some(&token)).await.status,
        200,
        "failures are not cached"
    );
}

#[tokio::test]
async fn policies_are_checked_on_every_request() {
    let s = Setup::start("", |c| c).await;
    let token = s.token(&["Reader"]);
    assert_eq!(s.get("/whoami", Some(&token)).await.status, 200);
    assert_eq!(s.get("/whoami", Some(&token)).await.status, 200);
    s.get("/vault/demo", Some(&token))
        .await
        .assert_error(403, "AuthorizationRoleForbidden");
}

#[tokio::test]
async fn the_cache_can_be_turned_off_and_its_size_is_checked() {
    let s = Setup::start("", |c| c.set("AUTH_TOKEN_CACHE_SIZE", "0")).await;
    let token = s.token(&["GetSecret"]);
    for _ in 0..3 {
        assert_eq!(s.get("/vault/demo", Some(&token)).await.status, 200);
    }
    let app = AppDir::new("");
    HandlerConfig::hosted(&app, "http://127.0.0.1:9")
        .set("AUTH_TOKEN_CACHE_SIZE", "-1")
        .assert_fails_naming("AUTH_TOKEN_CACHE_SIZE");
}
