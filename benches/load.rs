//! Load benchmark: the real binary, an in-process OpenID provider, and `wrk`.
//!
//! Reports req/s and p50/p99 for `/health`, `/vault` with one reused token and `/vault` with a
//! unique token per request, at 16 and 64 connections; start-up time (exec to the first 200 on
//! `/health`, median of 20); idle RSS and RSS after the unique-token runs; binary size. Then
//! checks the targets of the performance issue. Run with `make bench`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::app::{free_port, handler_binary};
use support::ingestion::{Ingestion, IngestionMode};
use support::*;

const RUN_SECONDS: u64 = 3;
/// Unique-token runs are short because every token costs an RSA signature to mint.
const UNIQUE_SECONDS: u64 = 1;
/// Each scenario runs this many times, interleaved, and reports its median: a shared 2-core
/// machine swings by a third from one run to the next.
const ROUNDS: usize = 3;
/// Six parts, one per unique-token round; each part serves a fresh handler process once, so
/// the baseline comparison reuses them without any process seeing a token twice. A part
/// (70,000) outlasts a one-second run at the fastest rate seen (about 52,000 a second): a run
/// that ran out would serve cached tokens, flattering whichever build is faster.
const UNIQUE_TOKENS: usize = 420_000;
/// Rounds of the baseline comparison: more than the others, since it compares two builds
/// whose difference is smaller than one run's swing on this machine.
const BASELINE_ROUNDS: usize = 5;
/// Rounds of the telemetry comparison, for the same reason.
const TELEMETRY_ROUNDS: usize = 5;

struct Run {
    name: String,
    conns: u32,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non2xx: u64,
    note: String,
}

const RESULT_LUA: &str = r#"
done = function(summary, latency, requests)
  local cycled = false
  for _, t in ipairs(threads or {}) do
    if t:get("cycled") then cycled = true end
  end
  io.write(string.format("RESULT %d %.6f %.3f %.3f %d %s\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, tostring(cycled)))
end
"#;

const UNIQUE_LUA: &str = r#"
threads = {}
local next_id = 0
setup = function(thread)
  thread:set("id", next_id)
  thread:set("nthreads", 2)
  next_id = next_id + 1
  table.insert(threads, thread)
end
init = function(args)
  mine = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then mine[#mine + 1] = "Bearer " .. line end
    i = i + 1
  end
  idx = 0
  cycled = false
end
request = function()
  idx = idx + 1
  if idx > #mine then idx = 1; cycled = true end
  return wrk.format("GET", nil, { ["Authorization"] = mine[idx] })
end
"#;

/// One wrk run: req/s, p50 ms, p99 ms, non-2xx answers, whether unique tokens ran out.
type Sample = (f64, f64, f64, u64, bool);

fn wrk(
    url: &str,
    conns: u32,
    seconds: u64,
    auth: Option<&str>,
    script: &str,
    args: &[&str],
) -> Sample {
    let dir = std::env::temp_dir().join(format!("funcgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lua = dir.join("script.lua");
    std::fs::write(&lua, format!("{script}\n{RESULT_LUA}")).unwrap();
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{conns}"),
        &format!("-d{seconds}s"),
        "--timeout",
        "5s",
        "-s",
    ])
    .arg(&lua);
    if let Some(a) = auth {
        cmd.args(["-H", &format!("Authorization: {a}")]);
    }
    cmd.arg(url);
    if !args.is_empty() {
        cmd.arg("--").args(args);
    }
    let out = cmd
        .output()
        .expect("wrk is installed (make bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "no result from wrk: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let f: Vec<&str> = line.split_whitespace().collect();
    let requests: f64 = f[1].parse().unwrap();
    let duration: f64 = f[2].parse().unwrap();
    (
        requests / duration,
        f[3].parse().unwrap(),
        f[4].parse().unwrap(),
        f[5].parse().unwrap(),
        f[6] == "true",
    )
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn mint_unique(provider: &Provider, key: &TestKey, n: usize) -> PathBuf {
    let started = Instant::now();
    let claims = provider.claims(&["GetSecret"]);
    let tokens: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|part| {
                let claims = claims.clone();
                scope.spawn(move || {
                    (0..n / 2)
                        .map(|i| {
                            let mut c = claims.clone();
                            c["uti"] = serde_json::json!(format!("u{part}-{i}"));
                            key.sign(&c)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let path = std::env::temp_dir().join(format!(
        "funcgate-bench-tokens-{}-{n}.txt",
        std::process::id()
    ));
    std::fs::write(&path, tokens.join("\n")).unwrap();
    eprintln!(
        "minted {} unique tokens in {:.1} s",
        tokens.len(),
        started.elapsed().as_secs_f64()
    );
    path
}

/// Exec to the first `200` on `/health`, polling as fast as a client can.
fn startup_ms(provider: &Provider) -> f64 {
    let app = AppDir::new("");
    let port = free_port();
    let started = Instant::now();
    let mut child = Command::new(handler_binary())
        .env_clear()
        .env("AUTH_TENANT_ID", TENANT)
        .env("AUTH_CLIENT_ID", CLIENT)
        .env("AUTH_INSTANCE", &provider.base)
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("RUST_LOG", "warn")
        .current_dir(app.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let elapsed = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buf = [0u8; 16];
            if s.read(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 200") {
                break started.elapsed();
            }
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never started");
        std::thread::sleep(Duration::from_micros(200));
    };
    child.kill().ok();
    child.wait().ok();
    elapsed.as_secs_f64() * 1000.0
}

/// CPU time `pid` has used so far, in nanoseconds (all its threads).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A fresh handler (this build, or `binary`) with `settings`, once its signing keys are loaded.
fn spawn_ready(
    rt: &tokio::runtime::Runtime,
    provider: &Provider,
    app: &AppDir,
    binary: Option<&std::path::Path>,
    settings: &[(String, String)],
) -> Handler {
    let mut config = HandlerConfig::hosted(app, &provider.base).set("RUST_LOG", "warn");
    config.binary = binary.map(|b| b.to_path_buf());
    for (k, v) in settings {
        config = config.set(k, v);
    }
    let handler = rt.block_on(config.spawn());
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(&handler.route("/health"), None).await.json()["signingKeys"]["loaded"] != true {
            assert!(Instant::now() < deadline, "keys never loaded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    handler
}

/// The median of `samples` by req/s, and whether any run ran out of unique tokens.
fn median(samples: &[Sample]) -> (Sample, bool) {
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    (s[s.len() / 2], s.iter().any(|r| r.4))
}

/// One line of the baseline comparison: scenario, connections, this build's and the
/// baseline's median req/s and median handler CPU µs per request, and whether unique tokens
/// ran out.
type Compared = (&'static str, u32, f64, f64, f64, f64, bool);

/// `/health`, reused-token and unique-token `/vault` on this build and on `baseline` (the last
/// commit that validated without jsonwebtoken), fresh processes of both, rounds interleaved
/// and their order alternated so that neither build always runs on a warmer or quieter
/// machine. The first two tell what the rest of a request costs in each build.
fn baseline_comparison(
    rt: &tokio::runtime::Runtime,
    provider: &Provider,
    baseline: &std::path::Path,
    reused: &str,
    parts: &[PathBuf],
) -> Vec<Compared> {
    let mut lines = Vec::new();
    let mut next = parts.iter().cycle();
    for conns in [16u32, 64] {
        let app = AppDir::new("");
        let ours = spawn_ready(rt, provider, &app, None, &[]);
        let theirs = spawn_ready(rt, provider, &app, Some(baseline), &[]);
        for h in [&ours, &theirs] {
            let _ = wrk(&h.route("/health"), conns, 1, None, "", &[]);
        }
        let mut samples: [(Vec<Sample>, Vec<Sample>); 3] = Default::default();
        let mut cpu: [(Vec<f64>, Vec<f64>); 3] = Default::default();
        for round in 0..BASELINE_ROUNDS {
            let file = next.next().unwrap().to_string_lossy().into_owned();
            let wrk_on = |h: &Handler, scenario: usize| match scenario {
                0 => wrk(&h.route("/health"), conns, RUN_SECONDS, None, "", &[]),
                1 => wrk(
                    &h.route("/vault/demo"),
                    conns,
                    RUN_SECONDS,
                    Some(reused),
                    "",
                    &[],
                ),
                _ => wrk(
                    &h.route("/vault/demo"),
                    conns,
                    UNIQUE_SECONDS,
                    None,
                    UNIQUE_LUA,
                    &[&file],
                ),
            };
            // Throughput, and the handler's own CPU per request, which the load generator
            // sharing the cores does not blur.
            let run = |h: &Handler, scenario: usize| {
                let before = cpu_ns(h.pid());
                let sample = wrk_on(h, scenario);
                let seconds = if scenario == 2 {
                    UNIQUE_SECONDS
                } else {
                    RUN_SECONDS
                };
                let per_request = (cpu_ns(h.pid()) - before) as f64
                    / 1000.0
                    / (sample.0 * seconds as f64).max(1.0);
                (sample, per_request)
            };
            for (scenario, ((a, b), (ca, cb))) in samples.iter_mut().zip(cpu.iter_mut()).enumerate()
            {
                let mut record = |mine: bool| {
                    let (sample, per_request) = run(if mine { &ours } else { &theirs }, scenario);
                    if mine {
                        a.push(sample);
                        ca.push(per_request);
                    } else {
                        b.push(sample);
                        cb.push(per_request);
                    }
                };
                let first = round % 2 == 0;
                record(first);
                record(!first);
            }
        }
        let mid = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v[v.len() / 2]
        };
        for ((name, (a, b)), (ca, cb)) in
            ["/health", "/vault, reused token", "/vault, unique tokens"]
                .into_iter()
                .zip(&samples)
                .zip(&cpu)
        {
            let ((ours_rps, ..), ours_cycled) = median(a);
            let ((theirs_rps, ..), theirs_cycled) = median(b);
            assert!(
                a.iter().chain(b).all(|r| r.3 == 0),
                "non-2xx answers in the baseline comparison"
            );
            lines.push((
                name,
                conns,
                ours_rps,
                theirs_rps,
                mid(ca),
                mid(cb),
                ours_cycled || theirs_cycled,
            ));
        }
    }
    lines
}

/// req/s, p50 ms, p99 ms, RSS MB after, handler CPU µs per request.
type TelemetryFigures = (f64, f64, f64, f64, f64);

/// A telemetry scenario: the ingestion endpoint's mode (`None`: telemetry off) and extra
/// settings.
type TelemetrySetup<'a> = (Option<IngestionMode>, &'a [(&'a str, &'a str)]);

/// Reused-token `/vault` on fresh handlers, one per `(settings, ingestion mode)`: telemetry
/// off (`None`) or sending to an ingestion endpoint in that mode. All run side by side and
/// their rounds are interleaved (each round starting with a different one), so the machine's
/// drift falls on all of them alike; medians of the rounds.
fn telemetry_runs(
    rt: &tokio::runtime::Runtime,
    provider: &Provider,
    reused: &str,
    setups: &[TelemetrySetup<'_>],
) -> Vec<TelemetryFigures> {
    let mut ingestions = Vec::new();
    let mut handlers = Vec::new();
    let app = AppDir::new("");
    for (mode, extra) in setups {
        let ingestion = mode.map(Ingestion::start);
        let mut settings: Vec<(String, String)> =
            ingestion.iter().flat_map(|i| i.settings()).collect();
        settings.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        handlers.push(spawn_ready(rt, provider, &app, None, &settings));
        ingestions.push(ingestion);
    }
    for h in &handlers {
        let _ = wrk(&h.route("/vault/demo"), 16, 1, Some(reused), "", &[]);
    }
    let mut samples: Vec<Vec<(Sample, f64)>> = vec![Vec::new(); handlers.len()];
    for round in 0..TELEMETRY_ROUNDS {
        for i in 0..handlers.len() {
            let i = (i + round) % handlers.len();
            let h = &handlers[i];
            let before = cpu_ns(h.pid());
            let sample = wrk(
                &h.route("/vault/demo"),
                16,
                RUN_SECONDS,
                Some(reused),
                "",
                &[],
            );
            let per_request = (cpu_ns(h.pid()) - before) as f64
                / 1000.0
                / (sample.0 * RUN_SECONDS as f64).max(1.0);
            samples[i].push((sample, per_request));
        }
    }
    handlers
        .iter()
        .zip(samples)
        .map(|(h, mut s)| {
            let mut cpu: Vec<f64> = s.iter().map(|(_, c)| *c).collect();
            cpu.sort_by(|a, b| a.partial_cmp(b).unwrap());
            s.sort_by(|a, b| a.0.0.partial_cmp(&b.0.0).unwrap());
            let ((rps, p50, p99, _, _), _) = s[s.len() / 2];
            let rss = rss_kib(h.pid()) as f64 / 1024.0;
            (rps, p50, p99, rss, cpu[cpu.len() / 2])
        })
        .collect()
}

/// `tools/call` of `get_order` through the MCP gate beside the plain function `GET
/// /orders/7` of the same app (`examples/orders-mcp`), with the same reused token, fresh
/// process, rounds interleaved: the median req/s of each at 16 connections.
fn mcp_runs(
    rt: &tokio::runtime::Runtime,
    provider: &Provider,
    key: &TestKey,
    binary: &std::path::Path,
) -> (McpFigure, McpFigure, McpFigure) {
    // The example's host.json (the mcp-custom-handler profile) in a scratch app folder.
    let app = AppDir::new("");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/orders-mcp");
    app.write(
        "host.json",
        &std::fs::read_to_string(root.join("host.json")).unwrap(),
    );
    // The profile's `{*route}` and function folders cannot go together (the host refuses it).
    for entry in std::fs::read_dir(app.path()).unwrap().flatten() {
        if entry.path().join("function.json").is_file() {
            std::fs::remove_dir_all(entry.path()).unwrap();
        }
    }
    let mut config = HandlerConfig::hosted(&app, &provider.base).set("RUST_LOG", "warn");
    config.binary = Some(binary.to_path_buf());
    let handler = rt.block_on(config.spawn());
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while get(&handler.url("/health"), None).await.json()["signingKeys"]["loaded"] != true {
            assert!(Instant::now() < deadline, "keys never loaded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let token = format!("Bearer {}", key.sign(&provider.claims(&["Orders.Read"])));
    let call = r#"
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_order","arguments":{"id":7}}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
"#;
    let find = r#"
wrk.method = "POST"
wrk.body = '{"id":7}'
wrk.headers["Content-Type"] = "application/json"
"#;
    // Each run with the handler's CPU time per request: how much of a gap is the handler's
    // own work and how much the machine's (the load generator shares its 2 cores).
    let pid = handler.pid();
    let run = |path: &str, script: &str| {
        let before = cpu_ns(pid);
        let sample = wrk(
            &handler.url(path),
            16,
            RUN_SECONDS,
            Some(&token),
            script,
            &[],
        );
        let cpu_us =
            (cpu_ns(pid) - before) as f64 / 1000.0 / (sample.0 * RUN_SECONDS as f64).max(1.0);
        (sample, cpu_us)
    };
    let (mut plain, mut posted, mut mcp) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        plain.push(run("/orders/7", ""));
        posted.push(run("/orders/find", find));
        mcp.push(run("/mcp", call));
    }
    let figures = |runs: &mut Vec<(Sample, f64)>| {
        let mut cpu: Vec<f64> = runs.iter().map(|r| r.1).collect();
        cpu.sort_by(|a, b| a.partial_cmp(b).unwrap());
        runs.sort_by(|a, b| a.0.0.partial_cmp(&b.0.0).unwrap());
        assert!(
            runs.iter().all(|r| r.0.3 == 0),
            "non-2xx answers in the MCP runs"
        );
        let sample = runs[runs.len() / 2].0;
        McpFigure {
            rps: sample.0,
            cpu_us: cpu[cpu.len() / 2],
        }
    };
    (figures(&mut plain), figures(&mut posted), figures(&mut mcp))
}

/// One path of the MCP comparison: median req/s and the handler's median CPU µs per request.
#[derive(Clone, Copy)]
struct McpFigure {
    rps: f64,
    cpu_us: f64,
}

/// Which parts run: all, or only the one `FUNCGATE_BENCH_ONLY` names (`load`, `mcp`,
/// `telemetry`, `baseline`), for iterating on one of them.
fn runs_part(name: &str) -> bool {
    match std::env::var("FUNCGATE_BENCH_ONLY") {
        Ok(only) if !only.is_empty() => only == name,
        _ => true,
    }
}

/// The main scenarios on one handler: req/s per scenario, idle RSS, RSS after.
fn load_runs(
    rt: &tokio::runtime::Runtime,
    provider: &Provider,
    reused: &str,
    parts: &[PathBuf],
) -> (Vec<Run>, u64, u64) {
    let app = AppDir::new("");
    let handler = spawn_ready(rt, provider, &app, None, &[]);
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = rss_kib(handler.pid());
    let health_url = handler.route("/health");
    let vault_url = handler.route("/vault/demo");
    let mut runs = Vec::new();
    let mut parts = parts.iter();
    for conns in [16u32, 64] {
        // Warm-up so the first measured run is not paying for lazy initialisation.
        let _ = wrk(&health_url, conns, 1, None, "", &[]);
        let mut samples: [Vec<Sample>; 3] = Default::default();
        for _ in 0..ROUNDS {
            samples[0].push(wrk(&health_url, conns, RUN_SECONDS, None, "", &[]));
            samples[1].push(wrk(&vault_url, conns, RUN_SECONDS, Some(reused), "", &[]));
            let file = parts.next().unwrap().to_string_lossy().into_owned();
            samples[2].push(wrk(
                &vault_url,
                conns,
                UNIQUE_SECONDS,
                None,
                UNIQUE_LUA,
                &[&file],
            ));
        }
        for (i, name) in ["/health", "/vault, reused token", "/vault, unique tokens"]
            .iter()
            .enumerate()
        {
            let mut s = samples[i].clone();
            s.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            let (rps, p50, p99, _, _) = s[ROUNDS / 2];
            let non2xx = s.iter().map(|r| r.3).sum();
            let cycled = s.iter().any(|r| r.4);
            let spread = format!("rounds {:.0}..{:.0} req/s", s[0].0, s[ROUNDS - 1].0);
            runs.push(Run {
                name: name.to_string(),
                conns,
                rps,
                p50_ms: p50,
                p99_ms: p99,
                non2xx,
                note: if cycled {
                    format!("{spread}; tokens ran out and were reused")
                } else {
                    spread
                },
            });
        }
    }
    let after_rss = rss_kib(handler.pid());
    (runs, idle_rss, after_rss)
}

/// The unique tokens, minted once and cut into one file per round.
fn token_parts(provider: &Provider, key: &TestKey) -> Vec<PathBuf> {
    let unique_tokens = mint_unique(provider, key, UNIQUE_TOKENS);
    let all = std::fs::read_to_string(&unique_tokens).unwrap();
    let _ = std::fs::remove_file(unique_tokens);
    let lines: Vec<&str> = all.lines().collect();
    lines
        .chunks(UNIQUE_TOKENS / (2 * ROUNDS))
        .enumerate()
        .map(|(i, part)| {
            let path = std::env::temp_dir().join(format!(
                "funcgate-bench-part-{}-{i}.txt",
                std::process::id()
            ));
            std::fs::write(&path, part.join("\n")).unwrap();
            path
        })
        .collect()
}

fn main() {
    // Only `cargo bench` (which passes --bench) runs the load benchmark; `cargo test
    // --all-targets` runs bench targets too, and a list request wants nothing.
    if !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    let binary = handler_binary();
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    let reused = format!("Bearer {}", key.sign(&provider.claims(&["GetSecret"])));
    // The baseline build `make bench` puts beside this one (see BENCHMARKS.md).
    let baseline = std::env::var_os("FUNCGATE_BASELINE_BIN")
        .and_then(|p| std::fs::canonicalize(p).ok())
        .filter(|p| p.is_file());
    let parts = if runs_part("load") || (runs_part("baseline") && baseline.is_some()) {
        token_parts(&provider, &key)
    } else {
        Vec::new()
    };

    println!();
    println!(
        "funcgate load benchmark ({} cores, binary {})",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        binary.display()
    );
    let mut all = true;
    let mut check = |what: String, ok: bool| {
        all &= ok;
        println!("  [{}] {what}", if ok { "ok" } else { "MISSED" });
    };

    if runs_part("load") {
        let mut startups: Vec<f64> = (0..20).map(|_| startup_ms(&provider)).collect();
        startups.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let startup = (startups[9] + startups[10]) / 2.0;
        let (runs, idle_rss, after_rss) = load_runs(&rt, &provider, &reused, &parts);
        println!("scenario                 conns      req/s    p50 ms    p99 ms non-2xx  note");
        for r in &runs {
            println!(
                "{:<24} {:>5} {:>10.0} {:>9.3} {:>9.3} {:>7}  {}",
                r.name, r.conns, r.rps, r.p50_ms, r.p99_ms, r.non2xx, r.note
            );
        }
        println!(
            "start-up (exec → first 200 on /health), median of 20: {startup:.2} ms (min {:.2}, max {:.2})",
            startups[0], startups[19]
        );
        println!(
            "RSS idle: {:.1} MB; after the unique-token runs: {:.1} MB",
            idle_rss as f64 / 1024.0,
            after_rss as f64 / 1024.0
        );
        println!("binary: {:.2} MB", size as f64 / 1_048_576.0);
        for conns in [16u32, 64] {
            let find = |n: &str| {
                runs.iter()
                    .find(|r| r.conns == conns && r.name == n)
                    .map(|r| r.rps)
                    .unwrap_or(0.0)
            };
            let health = find("/health");
            let reused = find("/vault, reused token");
            let unique = find("/vault, unique tokens");
            check(
                format!(
                    "{conns} conns: reused-token /vault at {:.0} % of /health (target ≥ 80 %)",
                    100.0 * reused / health
                ),
                reused >= 0.8 * health,
            );
            check(
                format!(
                    "{conns} conns: unique-token /vault at {:.0} % of /health (target ≥ 40 %)",
                    100.0 * unique / health
                ),
                unique >= 0.4 * health,
            );
        }
        check(
            format!("start-up median {startup:.2} ms (target ≤ 10 ms)"),
            startup <= 10.0,
        );
        check(
            format!(
                "idle RSS {:.1} MB (target ≤ 10 MB)",
                idle_rss as f64 / 1024.0
            ),
            idle_rss as f64 <= 10.0 * 1024.0,
        );
        check(
            format!("binary {:.2} MB (target ≤ 8 MB)", size as f64 / 1_048_576.0),
            size as f64 <= 8.0 * 1_048_576.0,
        );
        check(
            "no non-2xx answers in any run".into(),
            runs.iter().all(|r| r.non2xx == 0),
        );
    }

    if runs_part("mcp") {
        // The team's MCP example, built by `make bench` beside the handler.
        let mcp_binary = std::env::var_os("FUNCGATE_MCP_BIN")
            .and_then(|p| std::fs::canonicalize(p).ok())
            .filter(|p| p.is_file());
        match mcp_binary {
            None => println!(
                "MCP comparison skipped: FUNCGATE_MCP_BIN is not a built orders-mcp (make bench builds it)"
            ),
            Some(path) => {
                let (plain, posted, mcp) = mcp_runs(&rt, &provider, &key, &path);
                println!();
                println!("MCP, reused token, 16 conns                 req/s   CPU µs/req");
                for (name, f) in [
                    ("GET /orders/7 (plain function)", plain),
                    ("POST /orders/find (plain, JSON body)", posted),
                    ("POST /mcp tools/call get_order", mcp),
                ] {
                    println!("  {name:<36} {:>9.0} {:>12.1}", f.rps, f.cpu_us);
                }
                let (plain, posted, mcp) = (plain.rps, posted.rps, mcp.rps);
                println!(
                    "  tools/call at {:.0} % of the plain POST with a body",
                    100.0 * mcp / posted
                );
                check(
                    format!(
                        "tools/call through the gate at {:.0} % of the plain GET's req/s (target ≥ 80 %)",
                        100.0 * mcp / plain
                    ),
                    mcp >= 0.8 * plain,
                );
            }
        }
    }

    if runs_part("telemetry") {
        // Telemetry's cost: the same run on fresh handlers side by side, off, on at the default
        // sampling, on with every request sent, and with the ingestion endpoint hanging (every
        // request still only enqueues its items).
        let every = [("TELEMETRY_SAMPLING_PERCENT", "100")];
        let names = [
            "off",
            "on, default sampling",
            "on, every request (100 %)",
            "on, endpoint hanging",
        ];
        let setups: [TelemetrySetup<'_>; 4] = [
            (None, &[]),
            (Some(IngestionMode::Up), &[]),
            (Some(IngestionMode::Up), &every),
            (Some(IngestionMode::Hanging), &[]),
        ];
        let figures = telemetry_runs(&rt, &provider, &reused, &setups);
        let telemetry: Vec<(&str, TelemetryFigures)> = names.into_iter().zip(figures).collect();
        println!();
        println!(
            "telemetry, /vault reused token, 16 conns   req/s    p50 ms    p99 ms   RSS after   CPU µs/request"
        );
        for (name, (rps, p50, p99, rss, cpu)) in &telemetry {
            println!("  {name:<36} {rps:>9.0} {p50:>9.3} {p99:>9.3} {rss:>8.1} MB {cpu:>9.1}");
        }
        let (off, on, hanging) = (telemetry[0].1, telemetry[1].1, telemetry[3].1);
        check(
            format!(
                "telemetry on at default settings: {:.0} % of the req/s with it off (target ≥ 90 %)",
                100.0 * on.0 / off.0
            ),
            on.0 >= 0.9 * off.0,
        );
        // An endpoint that hangs must not slow requests compared with one that answers, nor
        // grow memory.
        check(
            format!(
                "telemetry endpoint hanging: {:.0} % of the req/s with it answering, p50 {:.3} vs {:.3} ms, RSS {:.1} MB (targets ≥ 90 %, ≤ 32 MB)",
                100.0 * hanging.0 / on.0,
                hanging.1,
                on.1,
                hanging.3
            ),
            hanging.0 >= 0.9 * on.0 && hanging.3 <= 32.0,
        );
    }

    if runs_part("baseline") {
        println!();
        match &baseline {
            None => println!(
                "baseline comparison skipped: FUNCGATE_BASELINE_BIN is not a built handler (make bench builds it)"
            ),
            Some(path) => {
                let lines = baseline_comparison(&rt, &provider, path, &reused, &parts);
                println!(
                    "against the baseline        conns   this build     baseline   ratio   CPU µs/request (this, baseline)"
                );
                for (name, conns, ours, theirs, ours_cpu, theirs_cpu, cycled) in &lines {
                    println!(
                        "  {name:<24} {conns:>5} {ours:>12.0} {theirs:>12.0} {:>6.1} %   {ours_cpu:>6.1} {theirs_cpu:>6.1}{}",
                        100.0 * ours / theirs,
                        if *cycled {
                            "  (tokens ran out and were reused)"
                        } else {
                            ""
                        }
                    );
                }
                println!("  baseline: {}", path.display());
                for (_, conns, ours, theirs, ..) in
                    lines.iter().filter(|l| l.0 == "/vault, unique tokens")
                {
                    check(
                        format!(
                            "{conns} conns: unique-token req/s at {:.1} % of the baseline (target ≥ 95 %)",
                            100.0 * ours / theirs
                        ),
                        *ours >= 0.95 * theirs,
                    );
                }
            }
        }
    }

    println!(
        "{}",
        if all {
            "all targets hold"
        } else {
            "some targets missed (see BENCHMARKS.md)"
        }
    );
    for f in parts {
        let _ = std::fs::remove_file(f);
    }
}
