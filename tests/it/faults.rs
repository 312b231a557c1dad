//! Network faults at the identity provider and Key Vault: each gives the documented code within
//! the time budget, and everyone else keeps being served meanwhile.

use std::time::{Duration, Instant};

use crate::support::azure::{FakeAzure, IDENTITY_HEADER, ca_file};
use crate::support::faults::{Fault, FaultServer};
use crate::support::*;

const IDP_FAULTS: [Fault; 6] = [
    Fault::Reset,
    Fault::Hang,
    Fault::Drip,
    Fault::HugeBody,
    Fault::HugeChunked,
    Fault::NotJson,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_provider_faults_give_503_within_the_budget() {
    let key = TestKey::load("key1", "k1");
    let runs = IDP_FAULTS.iter().map(|fault| {
        let key = key.clone();
        async move {
            let server = FaultServer::start(*fault);
            let app = AppDir::new("");
            let handler = HandlerConfig::hosted(&app, &server.base).spawn().await;
            // Health answers at once whatever the provider does.
            let t = Instant::now();
            assert_eq!(
                get(&handler.url("/health"), None).await.status,
                200,
                "{fault:?}"
            );
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "{fault:?}: health waited"
            );
            let claims = serde_json::json!({
                "aud": format!("api://{CLIENT}"), "iss": format!("{}/{TENANT}/v2.0", server.base),
                "exp": now() + 3600, "tid": TENANT, "roles": ["GetSecret"],
        "azp": "9a8b7c6d-0000-4000-8000-000000000002",
            });
            let token = bearer(&key.sign(&claims));
            let t = Instant::now();
            let a = get(&handler.url("/vault/demo"), Some(&token)).await;
            a.assert_error(503, "SigningKeysUnavailable");
            assert!(a.header("retry-after").is_some());
            assert!(
                t.elapsed() < Duration::from_secs(12),
                "{fault:?}: {:?}",
                t.elapsed()
            );
            assert!(server.connections() >= 1, "{fault:?}");
            // Anonymous and header-only answers never wait for keys.
            let t = Instant::now();
            get(&handler.url("/vault/demo"), None)
                .await
                .assert_error(401, "AuthorizationHeaderMissing");
            assert!(t.elapsed() < Duration::from_secs(1));
            assert!(
                handler.logs().contains("signing key refresh failed"),
                "{fault:?}"
            );
        }
    });
    futures_util::future::join_all(runs).await;
}

/// A handler reading Key Vault at `url`; the fake Azure supplies its managed identity.
async fn vault_at(url: &str, extra: &[(&str, &str)]) -> (FakeAzure, Setup) {
    let azure = FakeAzure::start(&[]);
    let identity = azure.identity_endpoint.clone();
    let url = url.to_owned();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let s = Setup::start("", move |mut c| {
        c = c
            .set("KEY_VAULT_URL", &url)
            .set("IDENTITY_ENDPOINT", &identity)
            .set("IDENTITY_HEADER", IDENTITY_HEADER)
            .set("SSL_CERT_FILE", &ca_file());
        for (k, v) in &extra {
            c = c.set(k, v);
        }
        c
    })
    .await;
    (azure, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_vault_network_faults_give_502_within_the_budget() {
    let runs = [Fault::Reset, Fault::Hang, Fault::Drip, Fault::NotJson]
        .into_iter()
        .map(|fault| async move {
            let server = FaultServer::start(fault);
            let (_azure, s) = vault_at(&server.https(), &[]).await;
            let t = Instant::now();
            let a = s
                .get("/vault/db-password", Some(&s.token(&["GetSecret"])))
                .await;
            a.assert_error(502, "AzureKeyVaultFatalError");
            assert!(
                t.elapsed() < Duration::from_secs(7),
                "{fault:?}: {:?}",
                t.elapsed()
            );
            assert_eq!(
                s.get("/health", None).await.json()["secrets"]["reachable"],
                false
            );
        });
    futures_util::future::join_all(runs).await;
}

#[tokio::test]
async fn key_vault_with_the_wrong_tls_name_is_refused() {
    let wrong = FakeAzure::start_with_cert(&[("db-password", "never-served")], "wrong-name");
    let (_azure, s) = vault_at(&wrong.vault_url, &[]).await;
    let a = s
        .get("/vault/db-password", Some(&s.token(&["GetSecret"])))
        .await;
    a.assert_error(502, "AzureKeyVaultFatalError");
    assert_eq!(wrong.reads(), 0);
    assert!(!s.handler.logs().contains("never-served"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_key_vault_does_not_hold_up_other_callers() {
    let server = FaultServer::start(Fault::Hang);
    let (_azure, s) = vault_at(&server.https(), &[]).await;
    let s = std::sync::Arc::new(s);
    let slow = {
        let s = std::sync::Arc::clone(&s);
        tokio::spawn(async move {
            s.get("/vault/db-password", Some(&s.token(&["GetSecret"])))
                .await
                .status
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..20 {
        let t = Instant::now();
        assert_eq!(s.get("/health", None).await.status, 200);
        s.get("/vault/x", None)
            .await
            .assert_error(401, "AuthorizationHeaderMissing");
        assert!(t.elapsed() < Duration::from_millis(1000));
    }
    assert_eq!(slow.await.unwrap(), 502);
}
