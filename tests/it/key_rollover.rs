//! Key rollover racing a refresh (security review round 4, finding 3): a `kid` refused while
//! the key set it was looked up in predates its publication must be tried again once the
//! cooldown has passed, not remembered as unknown until the hourly refresh.

use std::time::{Duration, Instant};

use crate::support::*;

/// The cooldown the tests run with: short, so "after the cooldown" comes quickly.
const COOLDOWN: &str = "1";

/// Asks for the vault with `token` until it answers 200, or panics with the last answer once
/// `within` has passed.
async fn accepted_within(s: &Setup, token: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let a = s.get("/vault/demo", Some(token)).await;
        if a.status == 200 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "the new key was still refused {within:?} after publication: {} {}",
            a.status,
            a.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `cond` every 10 ms for up to five seconds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_published_during_a_slow_refresh_is_accepted_after_the_cooldown() {
    let s = std::sync::Arc::new(
        Setup::start("", |c| {
            c.set("AUTH_KEY_REFRESH_COOLDOWN_SECONDS", COOLDOWN)
                .set("AUTH_DEBUG_ERRORS", "true")
        })
        .await,
    );
    let k2 = TestKey::load("key2", "k2");
    // A refresh reads the key set, then takes longer than the cooldown to answer.
    s.provider.set_jwks_delay(Duration::from_millis(1500));
    let hits = s.provider.jwks_hits();
    let stray = s
        .key
        .sign_with_kid(&s.provider.claims(&["GetSecret"]), Some("stray"));
    let first = {
        let s = std::sync::Arc::clone(&s);
        tokio::spawn(async move { s.get("/vault/demo", Some(&stray)).await.status })
    };
    until("the refresh to read the key set", || {
        s.provider.jwks_hits() > hits
    })
    .await;
    // The provider publishes k2 and signs with it while that refresh is still answering: the
    // token's lookup misses and waits on a refresh that read the set before k2 existed.
    s.provider.set_keys(vec![s.key.clone(), k2.clone()]);
    s.provider.set_jwks_delay(Duration::ZERO);
    let token = k2.sign(&s.provider.claims(&["GetSecret"]));
    let raced = {
        let s = std::sync::Arc::clone(&s);
        let token = token.clone();
        tokio::spawn(async move { s.get("/vault/demo", Some(&token)).await })
    };
    assert_eq!(first.await.unwrap(), 401, "the stray kid is unknown");
    let raced = raced.await.unwrap();
    // The stale refresh proved nothing, and it outlasted the cooldown: the raced request
    // earned a refresh of its own, which found k2.
    assert_eq!(raced.status, 200, "{}", raced.body);
    // Once the cooldown has passed the key is looked up afresh, not remembered as unknown
    // until the hourly refresh.
    accepted_within(&s, &token, Duration::from_secs(6)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kid_proved_unknown_is_tried_again_after_the_cooldown() {
    let s = Setup::start("", |c| {
        c.set("AUTH_KEY_REFRESH_COOLDOWN_SECONDS", COOLDOWN)
            .set("AUTH_DEBUG_ERRORS", "true")
    })
    .await;
    let k2 = TestKey::load("key2", "k2");
    let token = k2.sign(&s.provider.claims(&["GetSecret"]));
    // A token signed before its key is published: a refresh of its own proves k2 unknown.
    let hits = s.provider.jwks_hits();
    s.get("/vault/demo", Some(&token))
        .await
        .assert_error(401, "InvalidAuthorizationHeader");
    assert_eq!(
        s.provider.jwks_hits(),
        hits + 1,
        "the unknown kid refreshed"
    );
    // Published late, it is accepted once the memory of the proof has expired with the
    // cooldown, as the README promises.
    s.provider.set_keys(vec![s.key.clone(), k2.clone()]);
    accepted_within(&s, &token, Duration::from_secs(6)).await;
    s.assert_serves_vault().await;
}
