//! The vault function against a Key Vault, managed-identity endpoint and token endpoint played
//! on 127.0.0.1 in their documented wire formats.

use std::time::{Duration, Instant};

use crate::support::azure::{FakeAzure, IDENTITY_HEADER, VAULT_TOKEN, VaultMode, ca_file};
use crate::support::*;
use serde_json::json;

const VALUE: &str = "kv-Value-91-do-not-log";

async fn with_vault(extra: &[(&str, &str)]) -> (FakeAzure, Setup) {
    let azure = FakeAzure::start(&[("db-password", VALUE), ("api-key", "key-value-2")]);
    let env = azure.managed_identity_env();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let s = Setup::start("", move |mut c| {
        for (k, v) in env.iter().chain(extra.iter()) {
            c = c.set(k, v);
        }
        c
    })
    .await;
    (azure, s)
}

#[tokio::test]
async fn managed_identity_reads_after_the_challenge_and_caches() {
    let (azure, s) = with_vault(&[]).await;
    let token = s.token(&["GetSecret"]);
    let a = s.get("/vault/db-password", Some(&token)).await;
    assert_eq!(a.status, 200, "{}\n{}", a.body, s.handler.logs());
    assert_eq!(a.json(), json!({"name": "db-password", "value": VALUE}));
    assert_eq!(a.header("cache-control"), Some("no-store"));
    assert_eq!(azure.challenges(), 1, "the first call is challenged");
    assert_eq!(azure.identity_calls(), 1);
    assert_eq!(azure.reads(), 1);
    // Within VAULT_CACHE_SECONDS the value comes from memory.
    let a = s.get("/vault?secret=DB-PASSWORD", Some(&token)).await;
    assert_eq!(a.json()["value"], VALUE);
    assert_eq!(azure.reads(), 1);
    // A version is passed on (and cached separately).
    let a = s
        .get(
            "/vault/db-password?version=0123456789abcdef0123456789abcdef",
            Some(&token),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(azure.reads(), 2);
    s.get("/vault/db-password?version=../../x", Some(&token))
        .await
        .assert_error(404, "SecretNotFound");
    assert_eq!(azure.reads(), 2);
    // The log is read from the handler's stdout by another thread: under load its last
    // lines can arrive after the answers, so wait for the last one expected.
    let logs = s
        .handler
        .wait_for_log(
            "secret=\"DB-PASSWORD\" result=ok cache=hit",
            std::time::Duration::from_secs(10),
        )
        .await;
    assert!(
        logs.contains("managed identity (system-assigned)"),
        "{logs}"
    );
    assert!(
        logs.contains("audit vault read: tenant=\"8d3b5a7e-2c4f-4e1a-9b6d-0f1e2d3c4b5a\" oid=\"0a1b2c3d-0000-4000-8000-000000000001\" sub=\"subject-1\" app=\"9a8b7c6d-0000-4000-8000-000000000002\" secret=\"db-password\" result=ok cache=miss"),
        "{logs}"
    );
    assert!(
        logs.contains("secret=\"DB-PASSWORD\" result=ok cache=hit"),
        "{logs}"
    );
}

#[tokio::test]
async fn tokens_are_cached_until_near_expiry() {
    let (azure, s) = with_vault(&[("VAULT_CACHE_SECONDS", "0")]).await;
    let token = s.token(&["GetSecret"]);
    for _ in 0..5 {
        assert_eq!(s.get("/vault/db-password", Some(&token)).await.status, 200);
    }
    assert_eq!(
        azure.reads(),
        5,
        "no value cache with VAULT_CACHE_SECONDS=0"
    );
    assert_eq!(azure.identity_calls(), 1, "one access token for all reads");
}

#[tokio::test]
async fn key_vault_failures_map_to_catalogue_codes() {
    let (azure, s) = with_vault(&[("VAULT_CACHE_SECONDS", "0")]).await;
    let token = s.token(&["GetSecret"]);
    s.get("/vault/nope", Some(&token))
        .await
        .assert_error(404, "SecretNotFound");
    for mode in [
        VaultMode::Status(403),
        VaultMode::Status(401),
        VaultMode::Status(500),
        VaultMode::Malformed,
    ] {
        azure.set_mode(mode);
        let a = s.get("/vault/db-password", Some(&token)).await;
        a.assert_error(502, "AzureKeyVaultFatalError");
        assert_eq!(
            a.json()["description"],
            "Error getting response from Azure Key Vault."
        );
    }
    azure.set_mode(VaultMode::Hang);
    let t = Instant::now();
    let a = s.get("/vault/db-password", Some(&token)).await;
    a.assert_error(502, "AzureKeyVaultFatalError");
    assert!(
        t.elapsed() < Duration::from_secs(7),
        "5 s budget: {:?}",
        t.elapsed()
    );
    // Meanwhile, and after, everyone else is served.
    assert_eq!(s.get("/health", None).await.status, 200);
    azure.set_mode(VaultMode::Throttle(1));
    let t = Instant::now();
    let a = s.get("/vault/db-password", Some(&token)).await;
    assert_eq!(
        a.status, 200,
        "429 is retried after Retry-After: {}",
        a.body
    );
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    let logs = s.handler.logs();
    assert!(logs.contains("result=error"), "{logs}");
    assert!(logs.contains("Key Vault answered 403"), "{logs}");
}

#[tokio::test]
async fn stale_values_are_served_while_key_vault_fails() {
    let (azure, s) = with_vault(&[("VAULT_CACHE_SECONDS", "1")]).await;
    let token = s.token(&["GetSecret"]);
    assert_eq!(s.get("/vault/db-password", Some(&token)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    azure.set_mode(VaultMode::Status(503));
    let a = s.get("/vault/db-password", Some(&token)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["value"], VALUE);
    let logs = s
        .handler
        .wait_for_log("serving a cached value", Duration::from_secs(10))
        .await;
    assert!(logs.contains("result=ok cache=stale"), "{logs}");
    // A secret never cached has nothing to fall back on.
    s.get("/vault/api-key", Some(&token))
        .await
        .assert_error(502, "AzureKeyVaultFatalError");
}

#[tokio::test]
async fn authorization_runs_before_any_key_vault_call() {
    let (azure, s) = with_vault(&[]).await;
    s.get("/vault/db-password", None)
        .await
        .assert_error(401, "AuthorizationHeaderMissing");
    s.get("/vault/db-password", Some(&s.token(&["Reader"])))
        .await
        .assert_error(403, "AuthorizationRoleForbidden");
    let mut expired = s.provider.claims(&["GetSecret"]);
    expired["exp"] = json!(now() - 4000);
    s.get("/vault/db-password", Some(&s.key.sign(&expired)))
        .await
        .assert_error(401, "AuthorizationTokenExpired");
    assert_eq!(
        azure.challenges() + azure.reads() + azure.identity_calls(),
        0
    );
}

#[tokio::test]
async fn allowlist_hides_other_secrets() {
    let (azure, s) = with_vault(&[("VAULT_ALLOWED_SECRETS", "db-*, other")]).await;
    let token = s.token(&["GetSecret"]);
    assert_eq!(s.get("/vault/db-password", Some(&token)).await.status, 200);
    let reads = azure.reads();
    s.get("/vault/api-key", Some(&token))
        .await
        .assert_error(404, "SecretNotFound");
    assert_eq!(azure.reads(), reads, "not asked of Key Vault");
    assert!(
        s.handler
            .logs()
            .contains("secret=\"api-key\" result=denied")
    );
}

#[tokio::test]
async fn health_reports_reachability_without_details() {
    let (azure, s) = with_vault(&[("VAULT_CACHE_SECONDS", "0")]).await;
    let h = s.get("/health", None).await.json();
    assert_eq!(h["secrets"]["backend"], "keyvault");
    assert_eq!(h["secrets"]["reachable"], json!(null));
    let token = s.token(&["GetSecret"]);
    assert_eq!(s.get("/vault/db-password", Some(&token)).await.status, 200);
    let h = s.get("/health", None).await;
    assert_eq!(h.json()["secrets"]["reachable"], true);
    assert_eq!(h.json()["status"], "ok");
    azure.set_mode(VaultMode::Status(500));
    s.get("/vault/db-password", Some(&token))
        .await
        .assert_error(502, "AzureKeyVaultFatalError");
    let h = s.get("/health", None).await;
    assert_eq!(h.status, 200);
    assert_eq!(h.json()["secrets"]["reachable"], false);
    assert_eq!(h.json()["status"], "degraded");
    assert!(
        !h.body.contains("127.0.0.1") && !h.body.contains("500"),
        "{}",
        h.body
    );
}

#[tokio::test]
async fn values_and_credentials_never_reach_the_logs_even_at_trace() {
    let (azure, s) = with_vault(&[("RUST_LOG", "trace"), ("VAULT_CACHE_SECONDS", "1")]).await;
    let token = s.token(&["GetSecret"]);
    assert_eq!(s.get("/vault/db-password", Some(&token)).await.status, 200);
    assert_eq!(s.get("/vault/db-password", Some(&token)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    azure.set_mode(VaultMode::Status(500));
    assert_eq!(s.get("/vault/db-password", Some(&token)).await.status, 200);
    s.get("/vault/api-key", Some(&token))
        .await
        .assert_error(502, "AzureKeyVaultFatalError");
    let logs = s.handler.logs();
    assert!(logs.contains("TRACE"), "trace logging is on");
    assert!(logs.contains("audit vault read"), "{logs}");
    for needle in [
        VALUE,
        "key-value-2",
        VAULT_TOKEN,
        IDENTITY_HEADER,
        token.as_str(),
    ] {
        assert!(!logs.contains(needle), "{needle} leaked into the logs");
    }
    let signature = token.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature));
}

#[tokio::test]
async fn client_secret_credential() {
    let azure = FakeAzure::start(&[("db-password", VALUE)]);
    let s = Setup::start("", |c| {
        c.set("KEY_VAULT_URL", &azure.vault_url)
            .set("SSL_CERT_FILE", &ca_file())
            .set("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
            .set("AZURE_CLIENT_ID", "6c0a0000-0000-4000-8000-0000000000aa")
            .set("AZURE_CLIENT_SECRET", "sp-secret")
            .set("AZURE_AUTHORITY_HOST", &azure.vault_url)
    })
    .await;
    let a = s
        .get("/vault/db-password", Some(&s.token(&["GetSecret"])))
        .await;
    assert_eq!(a.status, 200, "{}\n{}", a.body, s.handler.logs());
    assert_eq!(azure.token_calls(), 1);
    assert_eq!(azure.identity_calls(), 0);
    let logs = s.handler.logs();
    assert!(logs.contains("with client secret"), "{logs}");
    assert!(!logs.contains("sp-secret"));
}

#[tokio::test]
async fn azure_cli_credential_for_developers() {
    let azure = FakeAzure::start(&[("db-password", VALUE)]);
    let bin = tempfile::tempdir().unwrap();
    let az = bin.path().join("az");
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\necho '{{\"accessToken\": \"{VAULT_TOKEN}\", \"expiresOn\": \"2030-01-02 03:04:05.000000\", \"expires_on\": {}, \"tokenType\": \"Bearer\"}}'\n",
            now() + 3600
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let s = Setup::start("", |c| {
        c.set("KEY_VAULT_URL", &azure.vault_url)
            .set("SSL_CERT_FILE", &ca_file())
            .set("PATH", &path)
    })
    .await;
    let a = s
        .get("/vault/db-password", Some(&s.token(&["GetSecret"])))
        .await;
    assert_eq!(a.status, 200, "{}\n{}", a.body, s.handler.logs());
    assert!(s.handler.logs().contains("Azure CLI login"));
}

#[test]
fn key_vault_url_must_be_https() {
    let app = AppDir::new("");
    HandlerConfig::hosted(&app, "http://127.0.0.1:9")
        .set("KEY_VAULT_URL", "http://my-vault.vault.azure.net")
        .assert_fails_naming("KEY_VAULT_URL");
}
