//! `cargo funcgate dev`: the app it builds runs, and the lines it prints to try work as
//! printed, run by a shell as a user would paste them: the token line mints a token the app
//! accepts, and the curl it prints is answered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{edit, funcgate, new_app, new_mcp_app, target_dir};

/// Two free loopback ports, both held until both are chosen so they differ.
fn two_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// Runs `cargo funcgate dev --no-watch` in `app` on its own ports, waits for its hints, runs
/// `check` on the printed lines and the port, then stops dev (and with it the app). Dev's
/// stderr (cargo's build output) is shown when `check` fails.
fn with_dev(app: &Path, check: impl FnOnce(&[String], u16)) {
    let (port, issuer_port) = two_ports();
    edit(app, "local.settings.json", |t| {
        let mut settings: serde_json::Value = serde_json::from_str(&t).unwrap();
        settings["Host"]["LocalHttpPort"] = serde_json::json!(port);
        settings.to_string()
    });
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut dev = Command::new(env!("CARGO_BIN_EXE_cargo-funcgate"))
        .args(["funcgate", "dev", "--no-watch", "--issuer-port"])
        .arg(issuer_port.to_string())
        .current_dir(app)
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap())
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
    let mut hinted = false;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        hinted = line.starts_with("tokens with any claims");
        printed.push(line);
        if hinted {
            break;
        }
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(hinted, "no hints: {}", printed.join("\n"));
        check(&printed, port);
    }));
    // SIGTERM, which dev passes on to the app it started (a SIGKILL would leave the app on
    // its port).
    let _ = Command::new("kill").arg(dev.id().to_string()).status();
    let _ = dev.wait();
    if let Err(panic) = result {
        eprintln!(
            "cargo funcgate dev printed:\n{}\nand on stderr:\n{}",
            printed.join("\n"),
            std::fs::read_to_string(log.path()).unwrap_or_default()
        );
        std::panic::resume_unwind(panic);
    }
}

/// The printed lines from the `TOKEN=` line on (without the call that shows the 401), as one
/// shell script, with this cargo-funcgate first on the PATH; what it prints (curl's `-i`
/// answer).
fn run_printed(app: &Path, printed: &[String]) -> String {
    let from = printed
        .iter()
        .position(|l| l.trim_start().starts_with("TOKEN=$(cargo funcgate token"))
        .unwrap_or_else(|| panic!("no token line: {printed:#?}"));
    let script: Vec<&str> = printed[from..]
        .iter()
        .map(String::as_str)
        .filter(|l| !l.starts_with("tokens with any claims") && !l.contains("# 401: no token"))
        .collect();
    let tool = Path::new(env!("CARGO_BIN_EXE_cargo-funcgate"));
    let path = std::env::join_paths(std::iter::once(tool.parent().unwrap().to_owned()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(script.join("\n"))
        .current_dir(app)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The app answers once it has started; dev prints its hints as it starts it.
fn until_answered(run: impl Fn() -> String) -> String {
    let started = Instant::now();
    loop {
        let answer = run();
        if answer.starts_with("HTTP/") || started.elapsed() > Duration::from_secs(30) {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether curl is here to run the printed lines; CI must have it (a run there that only
/// read the lines would prove little).
fn has_curl() -> bool {
    let here = Command::new("curl").arg("--version").output().is_ok();
    assert!(here || std::env::var_os("CI").is_none(), "CI needs curl");
    here
}

#[test]
fn the_hint_on_an_mcp_app_lists_its_tools() {
    let (_dir, app) = new_mcp_app("dev-mcp");
    with_dev(&app, |printed, port| {
        let text = printed.join("\n");
        assert!(text.contains("# MCP server orders"), "{text}");
        assert!(text.contains("--scp=Orders.Read "), "{text}");
        assert!(
            text.contains(&format!("curl -i localhost:{port}/mcp "))
                && text.contains(r#""method":"tools/list""#),
            "{text}"
        );
        if !has_curl() {
            eprintln!("no curl here: the printed lines are checked as text only");
            return;
        }
        let answer = until_answered(|| run_printed(&app, printed));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains(r#""name":"ping""#), "{answer}");
    });
}

#[test]
fn the_hint_on_a_function_app_calls_its_guarded_get() {
    let (_dir, app) = new_app("dev-fn");
    // hello open to all; the one guarded function wants a role and step-up for GET, and a
    // scope for POST (named first, which the hint's GET must not take).
    edit(&app, "src/functions/hello.rs", |t| {
        let rules = "GET,HEAD=scopes:Api.Read|roles:Api.Read;POST,PUT,PATCH,DELETE=scopes:Api.Write|roles:Api.Write";
        assert!(t.contains(rules), "{t}");
        t.replace(rules, "GET,HEAD=anonymous")
    });
    funcgate(
        &app,
        &[
            "function",
            "stock",
            "--rules",
            "POST=scopes:Stock.Write;GET=roles:Stock.Read&acrs:c1",
        ],
    );
    with_dev(&app, |printed, port| {
        let text = printed.join("\n");
        assert!(text.contains("# function stock"), "{text}");
        let token_line = printed.iter().find(|l| l.contains("TOKEN=$(")).unwrap();
        assert!(
            token_line.contains("--roles=Stock.Read --claim='acrs=[\"c1\"]'"),
            "{text}"
        );
        assert!(!token_line.contains("Stock.Write"), "{text}");
        assert!(
            text.contains(&format!("curl -i localhost:{port}/api/stock ")),
            "the route prefix, no optional parameter: {text}"
        );
        if !has_curl() {
            eprintln!("no curl here: the printed lines are checked as text only");
            return;
        }
        let answer = until_answered(|| run_printed(&app, printed));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    });
}
