//! Running `cargo funcgate` on apps it made, outside the repository.
#![allow(dead_code, reason = "each test file uses part of it")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The funcgate checkout.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The repository's target folder, shared so nothing is compiled twice.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"))
}

/// `cargo funcgate ARGS` in `dir`; panics with its output unless it succeeds.
pub fn funcgate(dir: &Path, args: &[&str]) -> String {
    let out = run_funcgate(dir, args);
    assert!(
        out.status.success(),
        "cargo funcgate {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cargo funcgate ARGS` in `dir`, whatever it answers.
pub fn run_funcgate(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-funcgate"))
        .arg("funcgate")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A new app called `name` in a fresh folder outside the repository, depending on this
/// checkout. `new` gives it the repository's versions (already compiled) in a lock file the
/// app's own `cargo test --locked` accepts as it is.
pub fn new_app(name: &str) -> (tempfile::TempDir, PathBuf) {
    let outside = tempfile::tempdir().unwrap();
    let repo = repo();
    funcgate(
        outside.path(),
        &["new", name, "--funcgate-path", repo.to_str().unwrap()],
    );
    let app = outside.path().join(name);
    (outside, app)
}

/// A new app called `name` turned into an MCP app: host.json on the `mcp-custom-handler`
/// profile, its function folders deleted (the profile routes without them), and a server
/// `orders` whose one tool, `ping`, needs the scope `Orders.Read`; the server keeps its default
/// rule (any token may connect).
pub fn new_mcp_app(name: &str) -> (tempfile::TempDir, PathBuf) {
    let (dir, app) = new_app(name);
    std::fs::write(
        app.join("host.json"),
        format!(
            r#"{{"version": "2.0", "configurationProfile": "mcp-custom-handler",
            "customHandler": {{"description": {{"defaultExecutablePath": "{name}"}},
            "http": {{"defaultAuthorizationLevel": "anonymous"}}}}}}"#
        ),
    )
    .unwrap();
    for folder in ["health", "hello"] {
        std::fs::remove_dir_all(app.join(folder)).unwrap();
    }
    edit(&app, "src/lib.rs", |t| {
        t.replace(
            ".function(builtin::health()),",
            ".function(builtin::health())
            .mcp(funcgate::mcp::Mcp::new(\"orders\").tool(
                funcgate::mcp::Tool::new(\"ping\", ping).rules(\"scopes:Orders.Read\"),
            )),",
        ) + "\nasync fn ping(_: (), _req: funcgate::Request) -> String {\n    \"pong\".to_owned()\n}\n"
    });
    (dir, app)
}

/// Edits a file of the app.
pub fn edit(app: &Path, file: &str, change: impl FnOnce(String) -> String) {
    let path = app.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, change(text)).unwrap();
}

/// `cargo test --quiet` in the app (its generated tests on the built executable), sharing the
/// repository's target folder; panics with cargo's output unless they pass.
pub fn cargo_test(app: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tested = Command::new(&cargo)
        // As the app's CI runs them: the lock file `new` wrote must hold as it is.
        .args(["test", "--quiet", "--locked"])
        .current_dir(app)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap();
    assert!(
        tested.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&tested.stdout),
        String::from_utf8_lossy(&tested.stderr)
    );
}
