//! `cargo funcgate dev`: the app it builds runs, and the commands it prints to try work as
//! printed. On an MCP app the hint is the server's `tools/list` with a token carrying the
//! scopes its tools' rules name, so the list is not empty.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{edit, new_mcp_app, target_dir};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_hint_on_an_mcp_app_lists_its_tools() {
    let (_dir, app) = new_mcp_app("dev-mcp");
    let port = free_port();
    edit(&app, "local.settings.json", |t| {
        let mut settings: serde_json::Value = serde_json::from_str(&t).unwrap();
        settings["Host"]["LocalHttpPort"] = serde_json::json!(port);
        settings.to_string()
    });
    let issuer_port = free_port().to_string();

    let mut dev = Command::new(env!("CARGO_BIN_EXE_cargo-funcgate"))
        .args([
            "funcgate",
            "dev",
            "--no-watch",
            "--issuer-port",
            &issuer_port,
        ])
        .current_dir(&app)
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Lines as they come, so a dev that never prints its hints fails the test instead of
    // hanging it.
    let (tx, rx) = mpsc::channel();
    let stdout = dev.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut printed = Vec::new();
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.starts_with("tokens with any claims");
                printed.push(line);
                if done {
                    break Ok(());
                }
            }
            Err(e) => break Err(e),
        }
    };
    let result = std::panic::catch_unwind(|| {
        let text = printed.join("\n");
        assert!(outcome.is_ok(), "no hints: {text}");
        assert!(text.contains("# MCP server orders"), "{text}");
        let token_line = printed
            .iter()
            .find(|l| l.trim_start().starts_with("TOKEN=$(cargo funcgate token"))
            .unwrap_or_else(|| panic!("no token line: {text}"));
        assert!(token_line.contains("--scp 'Orders.Read'"), "{text}");
        assert!(
            text.contains(&format!("curl -i localhost:{port}/mcp "))
                && text.contains(r#""method":"tools/list""#),
            "{text}"
        );

        // The token line as printed, run by a shell with this cargo-funcgate on its PATH.
        let tool = std::path::Path::new(env!("CARGO_BIN_EXE_cargo-funcgate"));
        let path = std::env::join_paths(std::iter::once(tool.parent().unwrap().to_owned()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let minted = Command::new("sh")
            .arg("-c")
            .arg(format!("{}; printf %s \"$TOKEN\"", token_line.trim()))
            .current_dir(&app)
            .env("PATH", path)
            .env("CARGO_TARGET_DIR", target_dir())
            .output()
            .unwrap();
        let token = String::from_utf8_lossy(&minted.stdout).into_owned();
        assert!(token.split('.').count() == 3, "{token_line}: {minted:?}");
        let http = reqwest::blocking::Client::builder()
            .no_proxy()
            .build()
            .unwrap();
        let call = || {
            http.post(format!("http://127.0.0.1:{port}/mcp"))
                .bearer_auth(token.trim())
                .header("Content-Type", "application/json")
                .header("Accept", "application/json, text/event-stream")
                .header("MCP-Protocol-Version", "2025-11-25")
                .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
                .send()
        };
        let started = Instant::now();
        let answer = loop {
            match call() {
                Ok(answer) => break answer,
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("the app never answered: {e}"),
            }
        };
        assert_eq!(answer.status(), 200);
        let listed: serde_json::Value = answer.json().unwrap();
        assert_eq!(listed["result"]["tools"][0]["name"], "ping", "{listed}");
    });
    // SIGTERM, which dev passes on to the app it started (a SIGKILL would leave the app on
    // its port).
    let _ = Command::new("kill").arg(dev.id().to_string()).status();
    let _ = dev.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
