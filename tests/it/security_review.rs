//! The security review's findings (issue 10), each reproduced against the real binary with the
//! in-test identity provider and the TLS Key Vault stand-in: these failed before the fixes.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::azure::{FakeAzure, VaultMode};
use crate::support::*;
use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const T2: &str = "2b2b2b2b-0000-4000-8000-000000000002";

fn debug(a: &Answer) -> String {
    a.json()["debug"].as_str().unwrap_or_default().to_owned()
}

/// Finding 1: a key the provider withdrew stops verifying once funcgate has refreshed, and the
/// verdicts made with it are dropped from the verified-token cache.
#[tokio::test]
async fn a_withdrawn_key_stops_working_after_the_next_refresh() {
    let s = Setup::start("", |c| {
        c.set("AUTH_KEY_REFRESH_COOLDOWN_SECONDS", "1")
            .set("AUTH_DEBUG_ERRORS", "true")
    })
    .await;
    let k2 = TestKey::load("key2", "k2");
    s.provider.set_keys(vec![s.key.clone(), k2.clone()]);
    let leaked = k2.sign(&s.provider.claims(&["GetSecret"]));
    // Seen once (an unknown-kid refresh picks k2 up), then served from the token cache.
    assert_eq!(s.get("/vault/demo", Some(&leaked)).await.status, 200);
    assert_eq!(s.get("/vault/demo", Some(&leaked)).await.status, 200);

    // Emergency rollover: k2 leaves the JWKS. Any refresh (here one triggered by a stray kid
    // after the cooldown) must make funcgate forget it.
    s.provider.set_keys(vec![s.key.clone()]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stray = s
        .key
        .sign_with_kid(&s.provider.claims(&["GetSecret"]), Some("stray"));
    s.get("/vault/demo", Some(&stray))
        .await
        .assert_error(401, "InvalidAuthorizationHeader");
    let a = s.get("/vault/demo", Some(&leaked)).await;
    a.assert_error(401, "InvalidAuthorizationHeader");
    assert_eq!(a.json()["description"], "Unable to find appropriate key");
    // Keys still published keep working.
    s.assert_serves_vault().await;
}

/// Finding 1: new material under the same kid flushes verdicts made with the old material.
#[tokio::test]
async fn new_material_under_the_same_kid_flushes_cached_verdicts() {
    let s = Setup::start("", |c| c.set("AUTH_KEY_REFRESH_COOLDOWN_SECONDS", "1")).await;
    let token = s.token(&["GetSecret"]);
    assert_eq!(s.get("/vault/demo", Some(&token)).await.status, 200);
    // The provider now publishes another key as "k1".
    let replacement = TestKey::load("key2", "k1");
    s.provider.set_keys(vec![replacement.clone()]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stray = replacement.sign_with_kid(&s.provider.claims(&["GetSecret"]), Some("stray"));
    s.get("/vault/demo", Some(&stray)).await;
    s.get("/vault/demo", Some(&token))
        .await
        .assert_error(401, "InvalidAuthorizationClaims");
    let fresh = replacement.sign(&s.provider.claims(&["GetSecret"]));
    assert_eq!(s.get("/vault/demo", Some(&fresh)).await.status, 200);
}

/// Finding 2: ID tokens (no `azp` in v2, no `appid` in v1) are not access tokens.
#[tokio::test]
async fn id_tokens_without_a_client_claim_are_refused() {
    let s = Setup::start("", |c| c.set("AUTH_DEBUG_ERRORS", "true")).await;
    let mut v2 = s.provider.claims(&["GetSecret"]);
    v2.as_object_mut().unwrap().remove("azp");
    // What an authorization-code ID token for the API's own client looks like.
    v2["aud"] = json!(CLIENT);
    let a = s.get("/vault/demo", Some(&s.key.sign(&v2))).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert!(debug(&a).contains("azp is missing"), "{}", a.body);

    let mut v1 = s.provider.v1_claims(&["GetSecret"]);
    v1.as_object_mut().unwrap().remove("appid");
    let a = s.get("/vault/demo", Some(&s.key.sign(&v1))).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert!(debug(&a).contains("appid is missing"), "{}", a.body);
    // Proper access tokens of both versions still pass.
    s.assert_serves_vault().await;
    let ok = s.key.sign(&s.provider.v1_claims(&["GetSecret"]));
    assert_eq!(s.get("/vault/demo", Some(&ok)).await.status, 200);
}

/// Finding 3: a kid refused during the cooldown is tried again once the cooldown has passed,
/// even after junk kids were sent to keep it refused.
#[tokio::test]
async fn a_kid_refused_during_the_cooldown_is_retried_after_it() {
    let s = Setup::start("", |c| c.set("AUTH_KEY_REFRESH_COOLDOWN_SECONDS", "2")).await;
    let claims = s.provider.claims(&["GetSecret"]);
    // A junk kid takes the first refresh and starts the cooldown.
    s.get(
        "/vault/demo",
        Some(&s.key.sign_with_kid(&claims, Some("junk"))),
    )
    .await
    .assert_error(401, "InvalidAuthorizationHeader");
    // The provider rolls over; the new kid arrives inside the cooldown and is refused.
    let k2 = TestKey::load("key2", "k2");
    s.provider.set_keys(vec![s.key.clone(), k2.clone()]);
    let token = k2.sign(&claims);
    s.get("/vault/demo", Some(&token))
        .await
        .assert_error(401, "InvalidAuthorizationHeader");
    // After the cooldown the same kid triggers a refresh and works.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let a = s.get("/vault/demo", Some(&token)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // The junk kid, proven unknown by a refresh it waited on, is remembered only for a
    // cooldown (round 4, finding 3: a proof can race a rollover): after it, a burst of the
    // junk kid still costs one fetch at most.
    let before = s.provider.jwks_hits();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for _ in 0..5 {
        s.get(
            "/vault/demo",
            Some(&s.key.sign_with_kid(&claims, Some("junk"))),
        )
        .await
        .assert_error(401, "InvalidAuthorizationHeader");
    }
    assert!(s.provider.jwks_hits() - before <= 1);
}

fn organizations_metadata(p: &Provider) -> String {
    format!(
        "{}/organizations/v2.0/.well-known/openid-configuration",
        p.base
    )
}

fn claims_for(p: &Provider, tenant: &str) -> Value {
    let mut c = p.claims(&["GetSecret"]);
    c["iss"] = json!(p.issuer_for(tenant));
    c["tid"] = json!(tenant);
    c
}

/// Finding 4: a templated discovery issuer takes its tenant from AUTH_TENANT_ID, never from
/// the token; with no tenant id configured nothing passes.
#[tokio::test]
async fn a_templated_discovery_issuer_is_filled_from_settings_only() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    let app = AppDir::new("");
    let handler = HandlerConfig::hosted(&app, &provider.base)
        .set("AUTH_METADATA_URL", &organizations_metadata(&provider))
        .set("AUTH_DEBUG_ERRORS", "true")
        .spawn()
        .await;
    handler.wait_for_keys().await;
    let url = handler.url("/vault/demo");
    let own = key.sign(&claims_for(&provider, TENANT));
    assert_eq!(get(&url, Some(&bearer(&own))).await.status, 200);
    let a = get(&url, Some(&bearer(&key.sign(&claims_for(&provider, T2))))).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert!(debug(&a).contains("not allowed"), "{}", a.body);
    let mut no_tid = claims_for(&provider, T2);
    no_tid.as_object_mut().unwrap().remove("tid");
    get(&url, Some(&bearer(&key.sign(&no_tid))))
        .await
        .assert_error(401, "InvalidAuthorizationClaims");

    // A domain instead of a tenant id: the template cannot be filled, every token is refused.
    let app2 = AppDir::new("");
    let handler2 = HandlerConfig::hosted(&app2, &provider.base)
        .set("AUTH_TENANT_ID", "contoso.onmicrosoft.com")
        .set("AUTH_METADATA_URL", &organizations_metadata(&provider))
        .set("AUTH_DEBUG_ERRORS", "true")
        .spawn()
        .await;
    handler2.wait_for_keys().await;
    for tenant in [TENANT, T2] {
        let a = get(
            &handler2.url("/vault/demo"),
            Some(&bearer(&key.sign(&claims_for(&provider, tenant)))),
        )
        .await;
        a.assert_error(401, "InvalidAuthorizationClaims");
        assert!(debug(&a).contains("templated"), "{}", a.body);
    }

    // AUTH_ISSUERS with {tenantid} in single-tenant mode needs a tenant id to fill it.
    let app3 = AppDir::new("");
    HandlerConfig::hosted(&app3, &provider.base)
        .set("AUTH_TENANT_ID", "contoso.onmicrosoft.com")
        .set(
            "AUTH_ISSUERS",
            &format!("{}/{{tenantid}}/v2.0", provider.base),
        )
        .assert_fails_naming("AUTH_ISSUERS");
}

/// Finding 5: Key Vault's 403 (disabled secret, withdrawn access) is not papered over by the
/// stale cache; 503 still is.
#[tokio::test]
async fn key_vault_refusals_are_not_served_from_the_stale_cache() {
    let azure = FakeAzure::start(&[("db-password", "kv-value-do-not-log")]);
    let env = azure.managed_identity_env();
    let s = Setup::start("", move |mut c| {
        for (k, v) in &env {
            c = c.set(k, v);
        }
        c.set("VAULT_CACHE_SECONDS", "1")
    })
    .await;
    let token = s.token(&["GetSecret"]);
    assert_eq!(s.get("/vault/db-password", Some(&token)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    azure.set_mode(VaultMode::Status(403));
    s.get("/vault/db-password", Some(&token))
        .await
        .assert_error(502, "AzureKeyVaultFatalError");
    // Once refused, the value is gone: a later outage has nothing stale to serve.
    azure.set_mode(VaultMode::Status(503));
    s.get("/vault/db-password", Some(&token))
        .await
        .assert_error(502, "AzureKeyVaultFatalError");
    let logs = s.handler.logs();
    assert!(!logs.contains("cache=stale"), "{logs}");
}

/// Findings 6 and 7: settings that open the door to everyone stop start-up.
#[tokio::test]
async fn settings_that_trust_everyone_are_refused_at_start() {
    let app = AppDir::new("");
    let any = || {
        HandlerConfig::hosted(&app, "http://127.0.0.1:9")
            .set("AUTH_TENANT_ID", "organizations")
            .set("AUTH_ALLOW_ANY_TENANT", "true")
    };
    // vault's default rule needs the GetSecret role, which any tenant's admin can grant.
    any().assert_fails_naming("AUTH_ALLOW_ANY_TENANT");
    any()
        .set("AUTH_POLICY_WHOAMI", "scopes:read")
        .set("AUTH_POLICY_VAULT", "authenticated")
        .assert_fails_naming("AUTH_ALLOW_ANY_TENANT");
    // Narrowed by client applications, or with no role or scope rules, it starts.
    let h = any()
        .set(
            "AUTH_ALLOWED_CLIENT_APPS",
            "9a8b7c6d-0000-4000-8000-000000000002",
        )
        .spawn()
        .await;
    assert_eq!(get(&h.url("/health"), None).await.status, 200);
    drop(h);
    // Every function's rule without roles or scopes (the app's own functions included).
    let mut open = any();
    for function in function_folders() {
        let setting = format!(
            "AUTH_POLICY_{}",
            function.to_ascii_uppercase().replace('-', "_")
        );
        open = open.set(&setting, "authenticated");
    }
    let h = open.spawn().await;
    assert_eq!(get(&h.url("/"), None).await.status, 200, "it started");
    drop(h);

    for value in ["*", "app-*, *"] {
        HandlerConfig::hosted(&app, "http://127.0.0.1:9")
            .set("VAULT_ALLOWED_SECRETS", value)
            .assert_fails_naming("VAULT_ALLOWED_SECRETS");
    }
}

/// Finding 8: outbound metadata requests honour the standard proxy variables, like the Azure
/// SDK does, and NO_PROXY exempts hosts; start-up names the variable, never its value.
#[tokio::test]
async fn proxy_variables_are_honoured_and_named_at_start() {
    let proxied = Arc::new(AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!(
        "http://user:pw-do-not-log@{}",
        listener.local_addr().unwrap()
    );
    let server = {
        let proxied = Arc::clone(&proxied);
        HttpServer::new(move || {
            let proxied = Arc::clone(&proxied);
            App::new().default_service(web::to(move || {
                proxied.fetch_add(1, Ordering::SeqCst);
                async { HttpResponse::BadGateway().finish() }
            }))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run()
    };
    let proxy_handle = server.handle();
    tokio::spawn(server);

    let s = Setup::start("", |c| c).await;
    let app = AppDir::new("");
    let through_proxy = HandlerConfig::hosted(&app, &s.provider.base)
        .set("HTTP_PROXY", &proxy)
        .spawn()
        .await;
    let token = s.token(&["GetSecret"]);
    let a = get(&through_proxy.url("/vault/demo"), Some(&bearer(&token))).await;
    a.assert_error(503, "SigningKeysUnavailable");
    assert!(proxied.load(Ordering::SeqCst) > 0, "the proxy was not used");
    let logs = through_proxy.logs();
    assert!(logs.contains("honours HTTP_PROXY"), "{logs}");
    assert!(!logs.contains("pw-do-not-log"), "{logs}");

    let exempt = HandlerConfig::hosted(&app, &s.provider.base)
        .set("HTTP_PROXY", &proxy)
        .set("NO_PROXY", "127.0.0.1")
        .spawn()
        .await;
    exempt.wait_for_keys().await;
    let a = get(&exempt.url("/vault/demo"), Some(&bearer(&token))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    proxy_handle.stop(false).await;
}

/// Finding 9: tokens in the older Entra format name their key by `x5t` and carry no `kid`.
#[tokio::test]
async fn x5t_only_tokens_find_their_key() {
    let thumb = "nOo3ZDrODXEK1jKWhXslHR_KXEg";
    let mut k1 = TestKey::load("key1", "k1");
    k1.jwk["x5t"] = json!(thumb);
    // Entra's v1 keys use the thumbprint as the kid as well.
    let k2 = TestKey::load("key2", "Y2F0LXRodW1icHJpbnQ");
    let provider = Provider::start(vec![k1.clone(), k2.clone()]);
    let app = AppDir::new("");
    let handler = HandlerConfig::hosted(&app, &provider.base)
        .set("AUTH_DEBUG_ERRORS", "true")
        .spawn()
        .await;
    handler.wait_for_keys().await;
    let sign = |key: &TestKey, x5t: &str| {
        let mut header = Header::new(Algorithm::RS256);
        header.x5t = Some(x5t.to_owned());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(
            &header,
            &provider.v1_claims(&["GetSecret"]),
            &EncodingKey::from_rsa_pem(&key.pem).unwrap(),
        )
        .unwrap()
    };
    let url = handler.url("/vault/demo");
    for (key, x5t) in [(&k1, thumb), (&k2, "Y2F0LXRodW1icHJpbnQ")] {
        let a = get(&url, Some(&bearer(&sign(key, x5t)))).await;
        assert_eq!(a.status, 200, "{x5t}: {}", a.body);
    }
    // The thumbprint must name the key that signed it.
    get(&url, Some(&bearer(&sign(&k2, thumb))))
        .await
        .assert_error(401, "InvalidAuthorizationClaims");
    let a = get(&url, Some(&bearer(&sign(&k1, "unknown-thumbprint")))).await;
    a.assert_error(401, "InvalidAuthorizationHeader");
    assert_eq!(a.json()["description"], "Unable to find appropriate key");
}
