//! `make smoke` (scripts/smoke.py), the post-deploy check users run against their Function App,
//! run here against the handler on loopback: it passes on a healthy app, with and without
//! Protected Resource Metadata and a token, and fails on one that answers otherwise.

use std::process::Command;

use crate::support::app::repo_root;
use crate::support::*;

fn smoke(url: &str, token: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new("python3");
    cmd.arg(repo_root().join("scripts/smoke.py")).arg(url);
    if let Some(token) = token {
        cmd.args(["--token", token]);
    }
    let out = cmd.output().expect("python3 runs the smoke check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
async fn the_smoke_check_passes_on_a_healthy_app() {
    let s = Setup::start("", |c| c).await;
    let url = s.handler.base.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || smoke(&url, None))
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains("skip resource_metadata") && out.contains("skip whoami"),
        "{out}"
    );

    // With PUBLIC_BASE_URL (the handler's own address here) and a token.
    let mut with_metadata = Setup::start("", |c| c).await;
    with_metadata.handler.terminate();
    let port = crate::support::app::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let app = AppDir::new("");
    let mut config =
        HandlerConfig::hosted(&app, &with_metadata.provider.base).set("PUBLIC_BASE_URL", &base);
    config.host_port = Some(port);
    let handler = config.spawn().await;
    handler.wait_for_keys().await;
    let token = with_metadata.token(&[]);
    let url = handler.base.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || smoke(&url, Some(&token)))
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains("ok   the metadata document is served"),
        "{out}"
    );
    assert!(
        out.contains("ok   GET /whoami with the token answers 200"),
        "{out}"
    );
}

#[tokio::test]
async fn the_smoke_check_fails_when_the_gate_is_open() {
    // vault opened to anyone: the protected path answers without a token.
    let s = Setup::start("", |c| c.set("AUTH_POLICY_VAULT", "anonymous")).await;
    let url = s.handler.base.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || smoke(&url, None))
        .await
        .unwrap();
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL GET /vault/demo without a token answers 401"),
        "{out}"
    );
}
