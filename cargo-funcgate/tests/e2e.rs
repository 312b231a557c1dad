//! `cargo funcgate` from an empty folder outside the repository to a packaged app started from
//! its zip, as a newcomer goes: new → function → test → check → package → start as the host
//! does → token. The app depends on this checkout by path and builds into the repository's
//! target folder with its lock file, so the dependencies compiled for `make test` are reused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use funcgate::testing::IdentityProvider;

mod common;
use common::{cargo_test, funcgate, new_app, run_funcgate};

#[test]
fn from_an_empty_folder_to_a_zip_that_starts() {
    let started = Instant::now();
    let (_outside, app) = new_app("orders-app");
    for file in [
        "Cargo.toml",
        "src/main.rs",
        "src/lib.rs",
        "src/functions/hello.rs",
        "tests/hello.rs",
        "host.json",
        "local.settings.json",
        ".gitignore",
        ".funcignore",
        "README.md",
        ".github/workflows/ci.yml",
        ".github/workflows/deploy.yml",
    ] {
        assert!(app.join(file).is_file(), "{file}");
    }
    funcgate(&app, &["function", "orders"]);
    // Other rules: each generated test calls with the claims funcgate picks to pass its rule
    // and without them (step-up, a POST-only function, an open one, a denied GET).
    for (name, rules) in [
        (
            "reports",
            "GET,HEAD=roles:Reports.Read&acrs:c1;POST=scopes:Reports.Write",
        ),
        ("inbox", "POST=scopes:Inbox.Write|roles:Inbox.Write"),
        ("open", "anonymous"),
        ("sealed", "GET=deny;DELETE=roles:Reports.Admin"),
        ("stepup", "acrs:c1"),
        ("peek", "HEAD=roles:Reports.Read"),
        ("writer", "POST=scopes:Reports.Write;*=deny"),
    ] {
        funcgate(&app, &["function", name, "--rules", rules]);
    }
    let generated = std::fs::read_to_string(app.join("tests/reports.rs")).unwrap();
    assert!(
        generated.contains(r#"idp.token(json!({"acrs":["c1"],"roles":["Reports.Read"]}))"#),
        "{generated}"
    );
    // Rules that would stop the app are refused before anything is written.
    let unparsed = run_funcgate(&app, &["function", "broken", "--rules", "GET=scopes:"]);
    assert!(!unparsed.status.success());
    assert!(
        String::from_utf8_lossy(&unparsed.stderr).contains("--rules: "),
        "{unparsed:?}"
    );
    assert!(!app.join("broken").exists() && !app.join("tests/broken.rs").exists());
    // A bad name is refused, and nothing is half-written.
    let bad = run_funcgate(&app, &["function", "Orders!"]);
    assert!(!bad.status.success());
    assert!(!app.join("Orders!").exists());

    // The app's own tests (one per function, on the built executable) pass as generated.
    cargo_test(&app);
    let checked = funcgate(&app, &["check"]);
    assert!(checked.contains("no problems found"), "{checked}");
    assert!(
        checked.contains(
            "\n  SCOPES=Api.Read,Api.Write,Inbox.Write,Reports.Write APP_ROLES=Api.Read,Api.Write,Inbox.Write,Reports.Read,Reports.Admin AUTH_CONTEXT=\"c1:<its name in Entra>\" scripts/azure-setup.sh\n"
        ),
        "what the generated rules name: {checked}"
    );

    // The package (a dev build: the release profile's LTO is minutes of CPU), checked by
    // the tool itself from the zip, then again here as the host would start it.
    let packaged = funcgate(&app, &["package", "--profile", "dev"]);
    assert!(
        packaged.contains("GET /api/health answers 200"),
        "{packaged}"
    );
    let zip_path = app.join("dist/orders-app.zip");
    let unpacked = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let target = unpacked.path().join(&name);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        std::fs::write(&target, bytes).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = entry.unix_mode().unwrap() & 0o777;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).unwrap();
        names.push((name, mode));
    }
    names.sort();
    assert_eq!(
        names,
        [
            ("health/function.json".to_owned(), 0o644),
            ("hello/function.json".to_owned(), 0o644),
            ("host.json".to_owned(), 0o644),
            ("inbox/function.json".to_owned(), 0o644),
            ("open/function.json".to_owned(), 0o644),
            ("orders-app".to_owned(), 0o755),
            ("orders/function.json".to_owned(), 0o644),
            ("peek/function.json".to_owned(), 0o644),
            ("reports/function.json".to_owned(), 0o644),
            ("sealed/function.json".to_owned(), 0o644),
            ("stepup/function.json".to_owned(), 0o644),
            ("writer/function.json".to_owned(), 0o644),
        ],
        "no sources, no local.settings.json"
    );

    // Started from the unpacked folder as the host starts it, trusting a dev issuer whose
    // tokens come from `cargo funcgate token`.
    let issuer = IdentityProvider::start_on(0).unwrap();
    let issuer_port = issuer.instance().rsplit(':').next().unwrap().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(unpacked.path().join("orders-app"))
        .current_dir(unpacked.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("FUNCTIONS_APP_ROOT_PATH", unpacked.path())
        .envs(issuer.settings())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/")).send().is_err() {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(25));
    }
    let anonymous = http.get(format!("{base}/api/orders")).send().unwrap();
    assert_eq!(anonymous.status(), 401);
    let token = funcgate(
        &app,
        &[
            "token",
            "--issuer-port",
            &issuer_port,
            "--scp",
            "Api.Read",
            "--claim",
            "upn=ada@contoso.com",
            "--claim",
            "team=blue",
            "--claim",
            "level=3",
        ],
    );
    let read = http
        .get(format!("{base}/api/orders"))
        .bearer_auth(token.trim())
        .send()
        .unwrap();
    assert_eq!(read.status(), 200);
    let health: serde_json::Value = http
        .get(format!("{base}/api/health"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["app"]["name"], "orders-app");
    assert!(
        health.get("secrets").is_none(),
        "no vault, no secrets backend"
    );
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("the walk took {:?}", started.elapsed());
}

/// The README's steps for the host's MCP profile: host.json on `mcp-custom-handler`, the
/// function folders deleted. `cargo funcgate function` then places the new function by a
/// route in its code (the host refuses folders beside the profile), and every generated test
/// passes against the built executable at paths without the `api` prefix.
#[test]
fn a_function_added_on_the_mcp_profile_gets_its_route_in_code() {
    let (_outside, app) = new_app("profile-app");
    let host_path = app.join("host.json");
    let mut host: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&host_path).unwrap()).unwrap();
    host["configurationProfile"] = serde_json::json!("mcp-custom-handler");
    if let Some(custom) = host["customHandler"].as_object_mut() {
        custom.remove("enableProxyingHttpRequest");
        custom.remove("enableForwardingHttpRequest");
    }
    if let Some(extensions) = host.as_object_mut() {
        extensions.remove("extensions");
    }
    host["customHandler"]["http"] = serde_json::json!({"defaultAuthorizationLevel": "anonymous"});
    std::fs::write(&host_path, host.to_string()).unwrap();
    for folder in ["health", "hello"] {
        std::fs::remove_dir_all(app.join(folder)).unwrap();
    }

    let said = funcgate(&app, &["function", "stock"]);
    assert!(
        said.contains("its route /stock/{id?} in its code"),
        "{said}"
    );
    assert!(!app.join("stock").exists(), "no folder beside the profile");
    let source = std::fs::read_to_string(app.join("src/functions/stock.rs")).unwrap();
    assert!(
        source.contains(
            r#".route("stock/{id?}", &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])"#
        ),
        "{source}"
    );

    cargo_test(&app);
    let checked = funcgate(&app, &["check"]);
    assert!(checked.contains("no problems found"), "{checked}");
    // The package's start check calls the health function at its path under the profile.
    let packaged = funcgate(&app, &["package", "--profile", "dev"]);
    assert!(packaged.contains("GET /health answers 200"), "{packaged}");
}

/// Options `new` writes into Cargo.toml and the workflows' shell lines are checked first: a
/// bad one is named, and nothing is written.
#[test]
fn new_refuses_an_option_that_would_break_what_it_writes() {
    let outside = tempfile::tempdir().unwrap();
    for (args, named) in [
        (
            &[
                "--funcgate-git",
                "https://github.com/example/funcgate",
                "--funcgate-rev",
                "main;id",
            ][..],
            "--funcgate-rev",
        ),
        (
            &["--funcgate-git", "https://github.com/x y"][..],
            "--funcgate-git",
        ),
        (&["--funcgate-version", ">=0.1"][..], "--funcgate-version"),
    ] {
        let out = run_funcgate(outside.path(), &[&["new", "bad-app"][..], args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(named),
            "{args:?}: {stderr}"
        );
        assert!(!outside.path().join("bad-app").exists(), "{args:?}");
    }
}
