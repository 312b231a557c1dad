//! Start-up: standalone mode, bad settings, identity provider down and recovering, key
//! rotation, policy settings.

use std::time::{Duration, Instant};

use crate::support::app::free_port;
use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn standalone_reads_local_settings_json() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    let app = AppDir::new("");
    let port = free_port();
    app.write(
        "local.settings.json",
        &json!({
            "IsEncrypted": false,
            "Values": {
                "FUNCTIONS_WORKER_RUNTIME": "custom",
                "AUTH_TENANT_ID": TENANT,
                "AUTH_CLIENT_ID": CLIENT,
                "AUTH_INSTANCE": provider.base,
                "AUTH_DEBUG_ERRORS": "true",
            },
            "Host": {"LocalHttpPort": port},
        })
        .to_string(),
    );
    let config = HandlerConfig {
        env: vec![],
        host_port: None,
        app: &app,
        binary: None,
    };
    let handler = config.start(port).await;
    handler.wait_for_keys().await;
    let token = key.sign(&provider.claims(&["GetSecret"]));
    let a = get(&handler.url("/vault/demo"), Some(&bearer(&token))).await;
    assert_eq!(a.json()["value"], "demo-value");
    // AUTH_DEBUG_ERRORS came from local.settings.json too.
    let mut claims = provider.claims(&["GetSecret"]);
    claims["aud"] = json!("api://x");
    let a = get(
        &handler.url("/vault/demo"),
        Some(&bearer(&key.sign(&claims))),
    )
    .await;
    assert!(a.json()["debug"].is_string(), "{}", a.body);
    assert!(handler.logs().contains("standalone"));
}

#[test]
fn bad_settings_stop_start_up_with_one_line() {
    let app = AppDir::new("");
    let base = || HandlerConfig::hosted(&app, "http://127.0.0.1:9");
    base()
        .unset("AUTH_TENANT_ID")
        .assert_fails_naming("AUTH_TENANT_ID");
    base()
        .unset("AUTH_CLIENT_ID")
        .assert_fails_naming("AUTH_CLIENT_ID");
    base()
        .set("AUTH_CLOCK_SKEW_SECONDS", "abc")
        .assert_fails_naming("AUTH_CLOCK_SKEW_SECONDS");
    base()
        .set("AUTH_INSTANCE", "http://login.example.com")
        .assert_fails_naming("AUTH_INSTANCE");
    base()
        .set("AUTH_DEBUG_ERRORS", "sometimes")
        .assert_fails_naming("AUTH_DEBUG_ERRORS");
    base()
        .set("AUTH_POLICY_VAULT", "groups:x")
        .assert_fails_naming("AUTH_POLICY_VAULT");
    base()
        .set("CORS_ALLOWED_ORIGINS", "not an origin")
        .assert_fails_naming("CORS_ALLOWED_ORIGINS");
    let mut bad_port = base();
    bad_port.host_port = None;
    let bad_port = bad_port.set("FUNCTIONS_CUSTOMHANDLER_PORT", "seventy");
    bad_port.assert_fails_naming("FUNCTIONS_CUSTOMHANDLER_PORT");

    let broken = AppDir::new("");
    broken.write("local.secrets.json", "{not json");
    HandlerConfig::hosted(&broken, "http://127.0.0.1:9").assert_fails_naming("LOCAL_SECRETS_FILE");
    let broken = AppDir::new("");
    broken.write("host.json", "{");
    HandlerConfig::hosted(&broken, "http://127.0.0.1:9").assert_fails_naming("host.json");
    let broken = AppDir::new("");
    broken.write("local.settings.json", "[]");
    let config = HandlerConfig {
        env: vec![],
        host_port: None,
        app: &broken,
        binary: None,
    };
    config.assert_fails_naming("local.settings.json");
}

async fn wait_for_status(url: &str, token: &str, want: u16, within: Duration) -> Answer {
    let deadline = Instant::now() + within;
    loop {
        let a = get(url, Some(&bearer(token))).await;
        if a.status == want || Instant::now() > deadline {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn provider_unreachable_at_start_then_recovering() {
    let key = TestKey::load("key1", "k1");
    let port = free_port();
    let app = AppDir::new("");
    let handler = HandlerConfig::hosted(&app, &format!("http://127.0.0.1:{port}"))
        .spawn()
        .await;
    let health = get(&handler.url("/health"), None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["signingKeys"]["loaded"], false);
    assert_eq!(health.json()["status"], "degraded");

    // A token can only be minted once we know the issuer, which is fixed by the port.
    let issuer_claims = json!({
        "aud": format!("api://{CLIENT}"), "iss": format!("http://127.0.0.1:{port}/{TENANT}/v2.0"),
        "exp": now() + 3600, "tid": TENANT, "roles": ["GetSecret"],
        "azp": "9a8b7c6d-0000-4000-8000-000000000002",
    });
    let token = key.sign(&issuer_claims);
    let a = get(&handler.url("/vault/demo"), Some(&bearer(&token))).await;
    a.assert_error(503, "SigningKeysUnavailable");
    assert_eq!(
        a.json()["description"],
        "Unable to retrieve token signing keys."
    );
    assert!(a.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);
    // Header errors still come first: no token needs no keys.
    get(&handler.url("/vault/demo"), None)
        .await
        .assert_error(401, "AuthorizationHeaderMissing");

    let provider = Provider::start_on_port(port, vec![key.clone()]);
    let a = wait_for_status(
        &handler.url("/vault/demo"),
        &token,
        200,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(provider.jwks_hits() >= 1);
}

#[tokio::test]
async fn provider_failing_at_start_then_recovering() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    provider.set_mode(ProviderMode::Failing);
    let app = AppDir::new("");
    let handler = HandlerConfig::hosted(&app, &provider.base).spawn().await;
    let token = key.sign(&provider.claims(&["GetSecret"]));
    get(&handler.url("/vault/demo"), Some(&bearer(&token)))
        .await
        .assert_error(503, "SigningKeysUnavailable");
    provider.set_mode(ProviderMode::Garbage);
    get(&handler.url("/vault/demo"), Some(&bearer(&token)))
        .await
        .assert_error(503, "SigningKeysUnavailable");
    provider.set_mode(ProviderMode::Up);
    let a = wait_for_status(
        &handler.url("/vault/demo"),
        &token,
        200,
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn hanging_provider_does_not_block_readiness_or_health() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    provider.set_mode(ProviderMode::Hanging);
    let app = AppDir::new("");
    let started = Instant::now();
    let handler = HandlerConfig::hosted(&app, &provider.base).spawn().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "ready while the fetch hangs"
    );
    let t = Instant::now();
    assert_eq!(get(&handler.url("/health"), None).await.status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "health never waits for keys"
    );
    let token = key.sign(&provider.claims(&["GetSecret"]));
    let t = Instant::now();
    get(&handler.url("/vault/demo"), Some(&bearer(&token)))
        .await
        .assert_error(503, "SigningKeysUnavailable");
    assert!(
        t.elapsed() < Duration::from_secs(12),
        "bounded by the fetch timeout"
    );
}

#[tokio::test]
async fn provider_down_after_start_keeps_cached_keys() {
    let s = Setup::start("", |c| c).await;
    s.provider.set_mode(ProviderMode::Failing);
    let a = s.get("/vault/demo", Some(&s.token(&["GetSecret"]))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // An unknown kid while the provider is down: a key error, not an outage.
    let stray = s
        .key
        .sign_with_kid(&s.provider.claims(&["GetSecret"]), Some("rotated"));
    s.get("/vault/demo", Some(&stray))
        .await
        .assert_error(401, "InvalidAuthorizationHeader");
    s.assert_serves_vault().await;
}

#[tokio::test]
async fn rotated_key_is_picked_up_once_then_unknown_kids_wait_for_the_cooldown() {
    let s = Setup::start("", |c| c).await;
    let before = s.provider.jwks_hits();
    let k2 = TestKey::load("key2", "k2");
    s.provider.set_keys(vec![s.key.clone(), k2.clone()]);
    let token = k2.sign(&s.provider.claims(&["GetSecret"]));
    let a = s.get("/vault/demo", Some(&token)).await;
    assert_eq!(
        a.status, 200,
        "a key rotated just after start is used at once: {}",
        a.body
    );
    assert_eq!(s.provider.jwks_hits(), before + 1);
    for kid in ["x1", "x2", "x3"] {
        let stray = k2.sign_with_kid(&s.provider.claims(&["GetSecret"]), Some(kid));
        s.get("/vault/demo", Some(&stray))
            .await
            .assert_error(401, "InvalidAuthorizationHeader");
    }
    assert_eq!(
        s.provider.jwks_hits(),
        before + 1,
        "no fetch within the cooldown"
    );
    assert_eq!(s.get("/vault/demo", Some(&token)).await.status, 200);
}

#[tokio::test]
async fn weak_keys_in_the_jwks_are_ignored() {
    let weak = TestKey::load("weak1024", "weak");
    let strong = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![weak.clone(), strong.clone()]);
    let app = AppDir::new("");
    let handler = HandlerConfig::hosted(&app, &provider.base).spawn().await;
    handler.wait_for_keys().await;
    let health = get(&handler.url("/health"), None).await;
    assert_eq!(health.json()["signingKeys"]["count"], 1);
    // aws-lc refuses to sign with a 1024-bit key; the signature is never reached anyway.
    let token = strong.sign_with_kid(&provider.claims(&["GetSecret"]), Some("weak"));
    get(&handler.url("/vault/demo"), Some(&bearer(&token)))
        .await
        .assert_error(401, "InvalidAuthorizationHeader");
    assert!(handler.logs().contains("too short"));
}

#[tokio::test]
async fn policies_can_be_overridden_by_settings() {
    let s = Setup::start("", |c| {
        c.set("AUTH_POLICY_VAULT", "authenticated")
            .set("AUTH_POLICY_HEALTH", "roles:Monitor")
    })
    .await;
    assert_eq!(s.get("/vault/demo", Some(&s.token(&[]))).await.status, 200);
    s.get("/health", None)
        .await
        .assert_error(401, "AuthorizationHeaderMissing");
    s.get("/health", Some(&s.token(&["GetSecret"])))
        .await
        .assert_error(403, "AuthorizationRoleForbidden");
    assert_eq!(
        s.get("/health", Some(&s.token(&["Monitor"]))).await.status,
        200
    );
}

#[tokio::test]
async fn bare_scope_names_with_entra_are_warned_about() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    let app = AppDir::new("");
    let warning = "AUTH_SCOPE_PREFIX=none with Entra";
    let handler = HandlerConfig::hosted(&app, &provider.base)
        .set("AUTH_SCOPE_PREFIX", "none")
        .spawn()
        .await;
    handler.wait_for_keys().await;
    let logs = handler.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("WARN") && l.contains(warning)),
        "{logs}"
    );
    // Unset there is nothing to say (with another provider's document: tests/it/third_party.rs).
    let handler = HandlerConfig::hosted(&app, &provider.base).spawn().await;
    handler.wait_for_keys().await;
    assert!(!handler.logs().contains(warning), "{}", handler.logs());
}

#[tokio::test]
async fn function_folders_without_a_policy_are_denied_and_named() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    let app = AppDir::new("");
    app.write(
        "reports/function.json",
        &std::fs::read_to_string(app.path().join("health/function.json"))
            .unwrap()
            .replace("\"health\"", "\"reports\""),
    );
    let handler = HandlerConfig::hosted(&app, &provider.base).spawn().await;
    handler.wait_for_keys().await;
    let logs = handler.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("WARN") && l.contains("\"reports\"")),
        "{logs}"
    );
    get(&handler.url("/reports"), None)
        .await
        .assert_error(401, "AuthorizationHeaderMissing");
    let token = key.sign(&provider.claims(&["GetSecret"]));
    get(&handler.url("/reports"), Some(&bearer(&token)))
        .await
        .assert_error(403, "AuthorizationRoleForbidden");
}

#[tokio::test]
async fn scope_policies_give_scope_forbidden() {
    let s = Setup::start("", |c| {
        c.set("AUTH_POLICY_VAULT", "roles:GetSecret|scopes:Secrets.Read")
    })
    .await;
    let delegated = |scp: &str| {
        let mut c = s.provider.claims(&[]);
        c.as_object_mut().unwrap().remove("roles");
        c["scp"] = json!(scp);
        s.key.sign(&c)
    };
    let ok = s
        .get("/vault/demo", Some(&delegated("User.Read Secrets.Read")))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let a = s.get("/vault/demo", Some(&delegated("User.Read"))).await;
    a.assert_error(403, "AuthorizationScopeForbidden");
    assert_eq!(
        a.json()["description"],
        "Access token is missing the scope required for this path."
    );
    assert_eq!(
        a.header("www-authenticate"),
        Some("Bearer error=\"insufficient_scope\", scope=\"Secrets.Read\"")
    );
    // An app-only token still passes with the role.
    s.assert_serves_vault().await;
}

#[test]
fn finds_host_json_beside_the_executable() {
    // Started from elsewhere, without FUNCTIONS_APP_ROOT_PATH: the app root is where the
    // handler sits, as in a deployed package.
    let app = AppDir::new("");
    let exe = app.path().join("handler");
    std::fs::copy(crate::support::app::handler_binary(), &exe).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(&exe)
        .env_clear()
        .env("AUTH_TENANT_ID", TENANT)
        .env("AUTH_CLIENT_ID", CLIENT)
        .env("AUTH_INSTANCE", "http://127.0.0.1:9")
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .current_dir(elsewhere.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            break out;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("exited with {status}");
        }
        assert!(Instant::now() < deadline, "never answered");
        std::thread::sleep(Duration::from_millis(25));
    };
    child.kill().ok();
    child.wait().ok();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
