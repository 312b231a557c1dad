//! `cargo funcgate check`: what would break in Azure, one line per problem, before a deploy
//! finds out. The app itself says what it registers (run with `--funcgate-check`, it prints
//! its functions, rules and folders as funcgate reads them, and a setting that would stop it).

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use clap::Args;
use serde_json::Value;

use crate::Failure;
use crate::project::Project;

#[derive(Args)]
pub(crate) struct CheckArgs {}

pub(crate) fn run(_args: &CheckArgs) -> Result<ExitCode, Failure> {
    let project = Project::find()?;
    let (problems, report) = problems(&project);
    for problem in &problems {
        println!("problem: {problem}");
    }
    if let Some(line) = report.as_ref().and_then(registration) {
        println!("{line}");
    }
    if problems.is_empty() {
        println!("no problems found");
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

/// What the app registration must define for the rules in force (the scopes, app roles and
/// authentication context they name), as the setup script's command line, which a team runs
/// as it is (the script's own defaults are `Api.Read,Api.Write`, whatever the rules say);
/// `None` when the rules name none or the app is built on a funcgate that does not list them.
fn registration(report: &Value) -> Option<String> {
    let list = |kind: &str| strings(&report["names"][kind]);
    let (scopes, roles, contexts) = (list("scopes"), list("roles"), list("contexts"));
    if scopes.is_empty() && roles.is_empty() && contexts.is_empty() {
        return None;
    }
    // Empty settings, not left out: the script's defaults would add Api.Read and Api.Write.
    let mut line = format!(
        "app registration: the rules ask for these; create them with\n  SCOPES={} APP_ROLES={}",
        scopes.join(","),
        roles.join(",")
    );
    if let Some(first) = contexts.first() {
        line += &format!(" AUTH_CONTEXT=\"{first}:<its name in Entra>\"");
    }
    line += " scripts/azure-setup.sh";
    if contexts.len() > 1 {
        line += &format!(
            "\n  (the script creates one authentication context; create {} in Entra too)",
            contexts[1..].join(", ")
        );
    }
    Some(line)
}

/// Every problem, each one line, and the app's description of itself when it gave one.
pub(crate) fn problems(project: &Project) -> (Vec<String>, Option<Value>) {
    let mut out = Vec::new();
    let exe = match project.executable() {
        Ok(exe) => exe,
        Err(why) => {
            out.push(why);
            return (out, None);
        }
    };
    let built = match project.build(&[]) {
        Ok(built) => built,
        Err(why) => {
            out.push(format!(
                "host.json: the executable {exe:?} is not built: {why}"
            ));
            return (out, None);
        }
    };
    let report = match describe(&built, &project.root, &[]) {
        Ok(report) => report,
        Err(why) => {
            out.push(why);
            return (out, None);
        }
    };
    if let Some(error) = report["error"].as_str() {
        out.push(format!(
            "a setting stops start-up (from local.settings.json): {error}"
        ));
    }
    let registered: Vec<&str> = report["functions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .collect();
    let folders = project.function_folders();
    for folder in &folders {
        if !registered.iter().any(|r| r.eq_ignore_ascii_case(folder)) {
            out.push(format!(
                "{folder}/function.json: no function is registered for it in the app's code (src/functions/mod.rs, or App::function in main.rs): every call is denied"
            ));
        }
    }
    // Functions start-up placed without a folder (host.json's customHandler.http.routes, or
    // the mcp-custom-handler profile's `{*route}`) are routed too.
    let placed: Vec<&str> = report["folders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str())
        .collect();
    // Unknown when a setting stopped the app before it placed them: every function would
    // look unrouted, which the setting's own problem already explains.
    let placing_known = report["folders"].is_array();
    for name in registered.iter().filter(|_| placing_known) {
        if !folders.iter().any(|f| f.eq_ignore_ascii_case(name))
            && !placed.iter().any(|f| f.eq_ignore_ascii_case(name))
        {
            out.push(format!(
                "function {name:?} is registered but has no folder {name}/function.json: the host never routes to it"
            ));
        }
    }
    for folder in report["folders"].as_array().into_iter().flatten() {
        let methods = strings(&folder["any_token"]);
        if methods.is_empty() {
            continue;
        }
        let name = folder["name"].as_str().unwrap_or("?");
        if folder["mcp"] == true {
            // A server is reached by POST alone; what the rule lets in is the whole server.
            out.push(format!(
                "MCP server {name}: any token of the tenant may connect, list its tools and read its resources (its rule, from AUTH_POLICY_<NAME> or Mcp::rules, names no role or scope)"
            ));
        } else {
            out.push(format!(
                "function {name}: {} {} any token of the tenant (its rules name no role or scope)",
                methods.join(", "),
                if methods.len() == 1 {
                    "accepts"
                } else {
                    "accept"
                }
            ));
        }
    }
    // A server's rule that covers no POST (a rule without `POST=` covers GET and HEAD only)
    // refuses every MCP request, which start-up only warns of.
    for folder in report["folders"].as_array().into_iter().flatten() {
        let denies_post = strings(&folder["denied"]).contains(&"POST");
        if folder["mcp"] == true && denies_post {
            out.push(format!(
                "MCP server {}: its rule ({}) denies POST, so every MCP request is refused (a rule without METHODS= sections covers GET and HEAD only: write POST=..., in AUTH_POLICY_<NAME> or Mcp::rules)",
                folder["name"].as_str().unwrap_or("?"),
                folder["rules"].as_str().unwrap_or("?")
            ));
        }
    }
    let proxying = report["mode"] == "proxying"
        || project
            .host
            .pointer("/customHandler/enableProxyingHttpRequest")
            .is_some_and(|v| v == true || v == "true");
    if !proxying && let Some(file) = streaming_source(&project.root.join("src")) {
        out.push(format!(
            "{file} streams a reply (Reply::stream), but host.json does not turn on customHandler.enableProxyingHttpRequest: the host buffers it whole"
        ));
    }
    (out, Some(report))
}

/// The strings of a JSON array in the app's description (nothing when it is not one: an app
/// built on an older funcgate leaves fields out).
pub(crate) fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The app's own account of itself (`--funcgate-check`), run standalone in `root` as
/// `func start` would run it, with `settings` over local.settings.json (`cargo funcgate
/// dev`'s, so it is described as dev runs it).
pub(crate) fn describe(
    exe: &Path,
    root: &Path,
    settings: &[(String, String)],
) -> Result<Value, Failure> {
    let output = Command::new(exe)
        .arg("--funcgate-check")
        .current_dir(root)
        .env_remove("FUNCTIONS_CUSTOMHANDLER_PORT")
        .env_remove("FUNCTIONS_HTTPWORKER_PORT")
        .envs(settings.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .rev()
        .find_map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(Value::is_object)
        })
        .ok_or_else(|| {
            format!(
                "{} did not describe itself (--funcgate-check): is it built on funcgate's App?",
                exe.display()
            )
        })
}

/// The first source file under `dir` that streams a reply.
fn streaming_source(dir: &Path) -> Option<String> {
    let mut stack = vec![dir.to_owned()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    let base = dir.parent().unwrap_or(dir);
    files.into_iter().find_map(|path| {
        let text = std::fs::read_to_string(&path).ok()?;
        text.contains("Reply::stream(").then(|| {
            path.strip_prefix(base)
                .unwrap_or(&path)
                .display()
                .to_string()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::registration;
    use serde_json::json;

    #[test]
    fn the_registration_line_names_what_the_rules_ask_for() {
        let names = |scopes: &[&str], roles: &[&str], contexts: &[&str]| {
            registration(
                &json!({"names": {"scopes": scopes, "roles": roles, "contexts": contexts}}),
            )
        };
        assert_eq!(names(&[], &[], &[]), None);
        // Empty settings are given, so that the script's defaults do not creep in.
        assert_eq!(
            names(&[], &["GetSecret", "SetSecret"], &[]).as_deref(),
            Some(
                "app registration: the rules ask for these; create them with\n  SCOPES= APP_ROLES=GetSecret,SetSecret scripts/azure-setup.sh"
            )
        );
        // The script creates one authentication context; the others are named.
        assert_eq!(
            names(&["Orders.Read"], &[], &["c1", "c2", "c3"]).as_deref(),
            Some(
                "app registration: the rules ask for these; create them with\n  SCOPES=Orders.Read APP_ROLES= AUTH_CONTEXT=\"c1:<its name in Entra>\" scripts/azure-setup.sh\n  (the script creates one authentication context; create c2, c3 in Entra too)"
            )
        );
        // An app built on a funcgate that does not list names.
        assert_eq!(registration(&json!({})), None);
    }
}
