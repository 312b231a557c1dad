//! `cargo funcgate check`: one test per problem it names, each on an app `cargo funcgate new`
//! made and then broken the one way.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod common;
use common::{edit, funcgate, new_app, new_mcp_app, run_funcgate};

/// The problem lines `check` prints (it exits 1 when there are any), and what it wrote to
/// stderr (cargo's own output when the build fails), for a failing test to show.
fn problems(app: &std::path::Path) -> (Vec<String>, String) {
    let out = run_funcgate(app, &["check"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("problem: "))
        .map(str::to_owned)
        .collect();
    assert_eq!(out.status.success(), lines.is_empty(), "{text}\n{stderr}");
    (lines, stderr)
}

fn one(app: &std::path::Path, needle: &str) {
    let (found, stderr) = problems(app);
    assert!(
        found.len() == 1 && found[0].contains(needle),
        "expected one problem with {needle:?}: {found:#?}\nstderr:\n{stderr}"
    );
}

#[test]
fn host_json_without_an_executable() {
    let (_dir, app) = new_app("check-exe");
    edit(&app, "host.json", |t| {
        t.replace("\"defaultExecutablePath\": \"check-exe\",", "")
    });
    one(&app, "defaultExecutablePath is missing");
}

#[test]
fn host_json_naming_an_executable_that_is_not_built() {
    let (_dir, app) = new_app("check-bin");
    edit(&app, "host.json", |t| {
        t.replace("\"check-bin\"", "\"handler\"")
    });
    one(&app, "\"handler\" is not built");
}

#[test]
fn a_streaming_function_without_proxying() {
    let (_dir, app) = new_app("check-stream");
    edit(&app, "host.json", |t| {
        t.replace(
            "\"enableProxyingHttpRequest\": true",
            "\"enableProxyingHttpRequest\": false",
        )
    });
    edit(&app, "src/functions/hello.rs", |t| {
        t + "\n/// A feed of events.\n#[allow(dead_code)]\nfn feed() -> Reply {\n    Reply::stream(200, \"text/event-stream\", futures_util::stream::empty())\n}\n"
    });
    edit(&app, "Cargo.toml", |t| {
        t.replace(
            "serde_json = \"1\"\n",
            "serde_json = \"1\"\nfutures-util = \"0.3\"\n",
        )
    });
    one(&app, "src/functions/hello.rs streams a reply");
}

#[test]
fn a_folder_without_a_registered_function() {
    let (_dir, app) = new_app("check-folder");
    let json = std::fs::read_to_string(app.join("hello/function.json")).unwrap();
    std::fs::create_dir(app.join("extra")).unwrap();
    std::fs::write(
        app.join("extra/function.json"),
        json.replace("hello/{id?}", "extra"),
    )
    .unwrap();
    one(&app, "extra/function.json: no function is registered");
}

#[test]
fn a_registered_function_without_a_folder() {
    let (_dir, app) = new_app("check-registered");
    std::fs::remove_dir_all(app.join("hello")).unwrap();
    one(&app, "function \"hello\" is registered but has no folder");
}

#[test]
fn rules_that_name_no_role_or_scope() {
    let (_dir, app) = new_app("check-rules");
    funcgate(
        &app,
        &["function", "open", "--rules", "GET,HEAD=authenticated"],
    );
    one(
        &app,
        "function open: GET, HEAD accept any token of the tenant",
    );
}

#[test]
fn a_setting_that_stops_start_up() {
    let (_dir, app) = new_app("check-settings");
    edit(&app, "local.settings.json", |t| {
        t.replace("\"your-api-client-id\"", "\"\"")
    });
    one(&app, "AUTH_CLIENT_ID");
}

#[test]
fn a_setting_that_stops_an_mcp_app_is_its_one_problem() {
    // Its functions have no folders: with the setting wrong they are not placed either, and
    // are not reported as unrouted on top of it.
    let (_dir, app) = new_mcp_app("check-mcp-settings");
    edit(&app, "local.settings.json", |t| {
        t.replace("\"your-api-client-id\"", "\"\"")
    });
    one(&app, "AUTH_CLIENT_ID");
}

#[test]
fn an_mcp_server_whose_rule_denies_post() {
    // A rule without `POST=` covers GET and HEAD only: the server refuses every request.
    let (_dir, app) = new_mcp_app("check-mcp-deny");
    edit(&app, "local.settings.json", |t| {
        let mut settings: serde_json::Value = serde_json::from_str(&t).unwrap();
        settings["Values"]["AUTH_POLICY_ORDERS"] = serde_json::json!("scopes:Orders.Read");
        settings.to_string()
    });
    one(
        &app,
        "MCP server orders: its rule (POST -> deny) denies POST, so every MCP request is refused",
    );
}

#[test]
fn an_mcp_server_any_token_may_connect_to() {
    // On the MCP profile, without folders; the server keeps its default rule.
    let (_dir, app) = new_mcp_app("check-mcp");
    one(
        &app,
        "MCP server orders: any token of the tenant may connect, list its tools",
    );
    // The registration needs the scope the tool's rule names, beside those of `hello`'s rules
    // (still registered, placed by its route in code).
    let out = run_funcgate(&app, &["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "app registration: the rules ask for these; create them with\n  SCOPES=Api.Read,Api.Write,Orders.Read APP_ROLES=Api.Read,Api.Write scripts/azure-setup.sh\n"
        ),
        "{text}"
    );
}
