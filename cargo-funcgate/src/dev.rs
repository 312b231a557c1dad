//! `cargo funcgate dev`: the app on :7071 as `func start` runs it (standalone: no host, the
//! app reads local.settings.json itself), trusting a local dev issuer started beside it, built
//! and restarted whenever a source file, Cargo.toml, host.json or a function.json changes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use clap::Args;
use funcgate::testing::IdentityProvider;
use notify::{RecursiveMode, Watcher};
use serde_json::{Value, json};

use crate::Failure;
use crate::project::Project;
use crate::token::DEFAULT_ISSUER_PORT;

#[derive(Args)]
pub(crate) struct DevArgs {
    /// The dev issuer's port (`cargo funcgate token` signs for it)
    #[arg(long, default_value_t = DEFAULT_ISSUER_PORT)]
    issuer_port: u16,
    /// Build and run once, without watching for changes
    #[arg(long)]
    no_watch: bool,
}

pub(crate) fn run(args: &DevArgs) -> Result<ExitCode, Failure> {
    let project = Project::find()?;
    let issuer = IdentityProvider::start_on(args.issuer_port).map_err(|e| {
        format!("the dev issuer: {e} (another `cargo funcgate dev` running? --issuer-port picks another)")
    })?;
    let mut settings = issuer.settings();
    settings.push(("AUTH_DEBUG_ERRORS".into(), "true".into()));
    print_settings(&project, &settings, args.issuer_port);
    // Stopped (Ctrl-C, SIGTERM from a script or a terminal closing), the app goes too: it is
    // a child process, which would otherwise keep the port.
    let running = Arc::new(AtomicU32::new(0));
    let on_stop = Arc::clone(&running);
    ctrlc::set_handler(move || {
        let pid = on_stop.load(Ordering::SeqCst);
        if pid != 0 {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        std::process::exit(130);
    })
    .map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event.kind.is_modify() | event.kind.is_create() | event.kind.is_remove()
            && event.paths.iter().any(|p| is_source(p))
        {
            let _ = tx.send(());
        }
    })
    .map_err(|e| format!("cannot watch files: {e}"))?;
    if !args.no_watch {
        watch(&mut watcher, &project)?;
    }
    let mut hinted = false;
    loop {
        let mut child = match project.build(&[]) {
            Ok(exe) => {
                // What to try, from what the built app says of itself; again after a rebuild
                // until it could describe itself (a setting stopped it, say). Printed before
                // the app starts, so its log follows the hints rather than splitting them.
                if !hinted {
                    let report = crate::check::describe(&exe, &project.root, &settings).ok();
                    hinted = print_hints(&project, report.as_ref(), args.issuer_port);
                }
                let child = start(&exe, &project.root, &settings)?;
                // At once: a stop (Ctrl-C) from here on stops the app too.
                running.store(child.id(), Ordering::SeqCst);
                Some(child)
            }
            Err(why) => {
                eprintln!("cargo funcgate dev: {why}; waiting for a change");
                None
            }
        };
        if args.no_watch {
            if let Some(child) = &mut child {
                let _ = child.wait();
            }
            return Ok(ExitCode::SUCCESS);
        }
        // One rebuild per burst of changes (an editor saves several files, or one twice);
        // meanwhile, an app that stops (a port in use, a setting) is reported once.
        loop {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(()) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(ExitCode::SUCCESS),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                        eprintln!(
                            "cargo funcgate dev: the app exited ({status}); waiting for a change"
                        );
                        child = None;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        while rx.try_recv().is_ok() {}
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
        eprintln!("cargo funcgate dev: a source changed; rebuilding");
        // New function folders are watched from now on.
        watch(&mut watcher, &project)?;
    }
}

/// Watches what the app is built and routed from; not `target/`, which every build rewrites.
fn watch(watcher: &mut impl Watcher, project: &Project) -> Result<(), Failure> {
    let root = &project.root;
    let mut paths: Vec<(PathBuf, RecursiveMode)> =
        vec![(root.clone(), RecursiveMode::NonRecursive)];
    for dir in ["src", "tests"] {
        if root.join(dir).is_dir() {
            paths.push((root.join(dir), RecursiveMode::Recursive));
        }
    }
    for folder in project.function_folders() {
        paths.push((root.join(folder), RecursiveMode::NonRecursive));
    }
    for (path, mode) in paths {
        watcher
            .watch(&path, mode)
            .map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Files whose change means a rebuild or restart.
fn is_source(path: &Path) -> bool {
    let in_target = path
        .components()
        .any(|c| matches!(c.as_os_str().to_str(), Some("target" | ".git" | "dist")));
    let wanted = path
        .extension()
        .and_then(|e| e.to_str())
        // Not Cargo.lock: cargo itself writes it during the build this would restart.
        .is_some_and(|e| matches!(e, "rs" | "toml" | "json"));
    wanted && !in_target
}

/// Starts the built app standalone in the app root, trusting the dev issuer.
fn start(exe: &Path, root: &Path, settings: &[(String, String)]) -> Result<Child, Failure> {
    Command::new(exe)
        .current_dir(root)
        // Standalone, as `func start` would run it: no host port, so the app listens on
        // local.settings.json's Host.LocalHttpPort and reads its Values.
        .env_remove("FUNCTIONS_CUSTOMHANDLER_PORT")
        .env_remove("FUNCTIONS_HTTPWORKER_PORT")
        .envs(settings.iter().map(|(k, v)| (k, v)))
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))
}

fn print_settings(project: &Project, settings: &[(String, String)], issuer_port: u16) {
    let port = project.local_port();
    println!(
        "cargo funcgate dev: http://localhost:{port}, trusting the dev issuer on 127.0.0.1:{issuer_port}"
    );
    println!("settings (over local.settings.json):");
    for (k, v) in settings {
        println!("  {k}={v}");
    }
}

/// What to try against the running app, from `report`, its `--funcgate-check` description:
/// the health check, then a first call to an MCP server (what a team that wrote one wants to
/// call) or else to a function, with a token its rule lets through, as the app computed them
/// (`try`: method, path under the route prefix, claims). False when the app described no
/// routes (it did not start, or is built on a funcgate without `try`): only the generic lines.
fn print_hints(project: &Project, report: Option<&Value>, issuer_port: u16) -> bool {
    let base = format!("localhost:{}", project.local_port());
    let folders: Vec<&Value> = report
        .and_then(|r| r["folders"].as_array())
        .into_iter()
        .flatten()
        .collect();
    let health = folders
        .iter()
        .find(|f| f["name"] == "health")
        .and_then(|f| f["path"].as_str())
        .map_or_else(|| project.public_path("health"), str::to_owned);
    println!("try, in another terminal:");
    println!("  curl -i {}", shell_word(&format!("{base}{health}")));
    // `cargo funcgate token` signs for the default port unless told another.
    let mut options = if issuer_port == DEFAULT_ISSUER_PORT {
        String::new()
    } else {
        format!(" --issuer-port {issuer_port}")
    };
    let first = |mcp: bool| {
        folders
            .iter()
            .find(|f| f["mcp"] == mcp && f["try"].is_object())
            .copied()
    };
    let Some(target) = first(true).or_else(|| first(false)) else {
        println!("  TOKEN=$(cargo funcgate token{options} --claim upn=ada@contoso.com)");
        println!("tokens with any claims (--scp, --roles, --claim): cargo funcgate token --help");
        return folders.iter().any(|f| f.get("path").is_some());
    };
    let call = &target["try"];
    let claims = |name: &str| crate::check::strings(&call["token"][name]);
    let (scopes, roles, acrs) = (claims("scp"), claims("roles"), claims("acrs"));
    if !scopes.is_empty() {
        options += &format!(" --scp={}", shell_word(&scopes.join(" ")));
    }
    if !roles.is_empty() {
        options += &format!(" --roles={}", shell_word(&roles.join(",")));
    }
    if let Some(context) = acrs.first() {
        let claim = format!("acrs={}", json!([context]));
        options += &format!(" --claim={}", shell_word(&claim));
    }
    let name = target["name"].as_str().unwrap_or_default();
    let rules = target["rules"].as_str().unwrap_or_default();
    let path = call["path"].as_str().unwrap_or_default();
    let url = shell_word(&format!("{base}{path}"));
    let mcp = target["mcp"] == true;
    if mcp {
        println!("  # MCP server {name}: {rules} (each tool has its own rule too)");
    } else {
        println!("  # function {name}: {rules}");
    }
    println!("  TOKEN=$(cargo funcgate token{options} --claim upn=ada@contoso.com)");
    if mcp {
        println!(
            "  curl -i {url} -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n    -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2025-11-25' \\\n    -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}}'"
        );
    } else {
        println!("  curl -i {url}                      # 401: no token");
        println!("  curl -i -H \"Authorization: Bearer $TOKEN\" {url}");
    }
    println!("tokens with any claims (--scp, --roles, --claim): cargo funcgate token --help");
    true
}

/// `text` as one POSIX shell word: as it is when every character is plain, otherwise in
/// single quotes (a quote inside written `'\''`).
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._/:@%+=,".contains(&b));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words_come_back_as_written() {
        for text in [
            "Orders.Read",
            "A B",
            "it's",
            "$HOME",
            "acrs=[\"c1\"]",
            "-x",
            "",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_word(text)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), text, "{text}");
        }
    }
}
