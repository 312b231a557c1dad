//! The signing-key cache under load and failure: rotation, floods of unknown `kid`s, refreshes
//! that hang while other callers keep going, per-key issuers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;
use futures_util::future::join_all;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_steady_traffic_fails_no_request() {
    let s = Arc::new(Setup::start("", |c| c).await);
    let k2 = TestKey::load("key2", "k2");
    let use_k2 = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (s, k2, use_k2, failures, total) = (
            Arc::clone(&s),
            k2.clone(),
            Arc::clone(&use_k2),
            Arc::clone(&failures),
            Arc::clone(&total),
        );
        workers.push(tokio::spawn(async move {
            let http = client();
            let url = s.handler.route("/vault/demo");
            while Instant::now() < deadline {
                let key = if use_k2.load(Ordering::SeqCst) {
                    &k2
                } else {
                    &s.key
                };
                let token = key.sign(&s.provider.claims(&["GetSecret"]));
                let resp = http.get(&url).bearer_auth(&token).send().await.unwrap();
                total.fetch_add(1, Ordering::SeqCst);
                if resp.status() != 200 {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Entra publishes the new key, then starts signing with it, then retires the old one.
    s.provider.set_keys(vec![s.key.clone(), k2.clone()]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    use_k2.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await;
    s.provider.set_keys(vec![k2.clone()]);
    join_all(workers).await;
    assert!(total.load(Ordering::SeqCst) > 50, "traffic was steady");
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    // No refresh has run since the old key was retired, so it still verifies; the next refresh
    // drops it (security_review.rs pins that).
    s.assert_serves_vault().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_random_kids_cause_at_most_one_fetch() {
    let s = Setup::start("", |c| c).await;
    let before = s.provider.jwks_hits();
    let claims = s.provider.claims(&["GetSecret"]);
    let tokens: Vec<String> = (0..1000)
        .map(|i| {
            s.key
                .sign_with_kid(&claims, Some(&format!("random-{i}-{}", i * 7919)))
        })
        .collect();
    let http = client();
    let url = s.handler.route("/vault/demo");
    let answers = join_all(tokens.iter().map(|t| {
        let http = http.clone();
        let url = url.clone();
        async move { http.get(url).bearer_auth(t).send().await.unwrap() }
    }))
    .await;
    for a in &answers {
        assert_eq!(a.status(), 401);
    }
    let fetched = s.provider.jwks_hits() - before;
    assert!(fetched <= 1, "{fetched} fetches for 1000 unknown kids");
    // Valid traffic was never affected.
    s.assert_serves_vault().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_kids_never_wait_for_a_hanging_refresh() {
    let s = Arc::new(Setup::start("", |c| c).await);
    s.provider.set_mode(ProviderMode::Hanging);
    let stray = s
        .key
        .sign_with_kid(&s.provider.claims(&["GetSecret"]), Some("new-kid"));
    let slow = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            let t = Instant::now();
            let a = s.get("/vault/demo", Some(&stray)).await;
            (a.status, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.assert_served_promptly(20, Duration::ZERO).await;
    let (status, waited) = slow.await.unwrap();
    assert_eq!(status, 401);
    assert!(
        waited < Duration::from_secs(12),
        "bounded by the fetch timeout: {waited:?}"
    );
    // The failed refresh kept the cache.
    s.assert_serves_vault().await;
}

#[tokio::test]
async fn unknown_kid_refresh_is_rate_limited_even_when_it_fails() {
    let s = Setup::start("", |c| c).await;
    s.provider.set_mode(ProviderMode::Garbage);
    let before = s.provider.discovery_hits();
    for kid in ["a", "b", "c"] {
        let stray = s
            .key
            .sign_with_kid(&s.provider.claims(&["GetSecret"]), Some(kid));
        s.get("/vault/demo", Some(&stray))
            .await
            .assert_error(401, "InvalidAuthorizationHeader");
    }
    assert_eq!(s.provider.discovery_hits() - before, 1);
    s.assert_serves_vault().await;
}

#[tokio::test]
async fn a_key_bound_to_another_issuer_is_refused() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![]);
    let foreign = key
        .clone()
        .with_issuer(&provider.issuer_for("00000000-aaaa-4bbb-8ccc-000000000000"));
    provider.set_keys(vec![foreign]);
    let app = AppDir::new("");
    let handler = HandlerConfig::hosted(&app, &provider.base)
        .set("AUTH_DEBUG_ERRORS", "true")
        .spawn()
        .await;
    handler.wait_for_keys().await;
    let token = key.sign(&provider.claims(&["GetSecret"]));
    let a = get(&handler.url("/vault/demo"), Some(&bearer(&token))).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert!(
        a.json()["debug"]
            .as_str()
            .unwrap()
            .contains("another issuer")
    );

    // The same key published for this tenant's issuer is fine.
    let own = key.clone().with_issuer(&provider.issuer());
    provider.set_keys(vec![own]);
    let app2 = AppDir::new("");
    let handler2 = HandlerConfig::hosted(&app2, &provider.base).spawn().await;
    handler2.wait_for_keys().await;
    assert_eq!(
        get(&handler2.url("/vault/demo"), Some(&bearer(&token)))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn cooldown_setting_is_validated() {
    let app = AppDir::new("");
    HandlerConfig::hosted(&app, "http://127.0.0.1:9")
        .set("AUTH_KEY_REFRESH_COOLDOWN_SECONDS", "0")
        .assert_fails_naming("AUTH_KEY_REFRESH_COOLDOWN_SECONDS");
    let s = Setup::start("", |c| c.set("AUTH_KEY_REFRESH_COOLDOWN_SECONDS", "30")).await;
    s.assert_serves_vault().await;
}
