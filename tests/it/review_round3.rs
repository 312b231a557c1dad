//! The third security review and the soak under faults (issue 18), each finding reproduced
//! against the real binary: every test here failed before its fix.

use std::time::{Duration, Instant};

use crate::support::azure::{FakeAzure, VaultMode};
use crate::support::ingestion::{Ingestion, IngestionMode};
use crate::support::*;
use serde_json::json;

const INVOCATION_HEADER: &str = "x-azure-functions-invocationid";

/// Finding 1: a rule written without method sections (as the README showed before `vault`
/// could write) covers reads only; it never grants PUT, and start-up says so.
#[tokio::test]
async fn a_rule_without_method_sections_never_grants_a_write() {
    let s = Setup::start("", |c| {
        c.set("AUTH_POLICY_VAULT", "roles:GetSecret|scopes:Secrets.Read")
            .set("AUTH_DEBUG_ERRORS", "true")
    })
    .await;
    let reader = s.token(&["GetSecret"]);
    assert_eq!(s.get("/vault/demo", Some(&reader)).await.status, 200);
    let a = s.put_secret("/vault/demo", &reader, "overwritten").await;
    a.assert_error(403, "AuthorizationRoleForbidden");
    // Even a token with the write role: the bare rule names no rule for PUT.
    let writer = s.token(&["GetSecret", "SetSecret"]);
    s.put_secret("/vault/demo", &writer, "overwritten")
        .await
        .assert_error(403, "AuthorizationRoleForbidden");
    assert_eq!(
        s.get("/vault/demo", Some(&reader)).await.json()["value"],
        "demo-value",
        "the secret was not overwritten"
    );
    let logs = s.handler.logs();
    assert!(
        logs.contains("AUTH_POLICY_VAULT: a rule without METHODS= sections covers GET and HEAD only; PUT is denied"),
        "{logs}"
    );
    assert!(
        logs.contains(
            "function vault: GET,HEAD -> roles:GetSecret|scopes:Secrets.Read; PUT -> deny"
        ),
        "{logs}"
    );
}

/// A handler reading from the TLS Key Vault stand-in (managed identity), with `extra` settings.
async fn with_vault(secrets: &[(&str, &str)], extra: &[(&str, &str)]) -> (FakeAzure, Setup) {
    let azure = FakeAzure::start(secrets);
    let mut env = azure.managed_identity_env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let s = Setup::start("", move |mut c| {
        for (k, v) in &env {
            c = c.set(k, v);
        }
        c
    })
    .await;
    (azure, s)
}

/// Finding 2: a read that was in flight when a write landed does not put the old value back
/// in the cache.
#[tokio::test]
async fn a_slow_read_never_undoes_a_write_in_the_cache() {
    let (azure, s) = with_vault(&[("db-password", "old")], &[("VAULT_CACHE_SECONDS", "60")]).await;
    let writer = s.token(&["GetSecret", "SetSecret"]);
    // The credential's first round trips, out of the way.
    assert_eq!(s.get("/vault/other", Some(&writer)).await.status, 404);
    azure.set_mode(VaultMode::Slow(1500));
    let slow = {
        let url = s.handler.route("/vault/db-password");
        let auth = bearer(&writer);
        tokio::spawn(async move { get(&url, Some(&auth)).await })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let a = s.put_secret("/vault/db-password", &writer, "new").await;
    assert_eq!(a.status, 200, "{}", a.body);
    let raced = slow.await.unwrap();
    assert_eq!(raced.status, 200, "{}", raced.body);
    // Every later read sees the write, from the cache (the vault is not asked again).
    let reads = azure.reads();
    for _ in 0..3 {
        let a = s.get("/vault/db-password", Some(&writer)).await;
        assert_eq!(a.json()["value"], "new", "{}", a.body);
    }
    assert_eq!(azure.reads(), reads, "served from the cache");
}

/// Finding 9: during a Key Vault outage a value past its TTL is served at once, not after the
/// SDK's retries (500) or the whole budget (a vault that never answers); a secret never cached
/// still fails within the budget.
#[tokio::test]
async fn a_stale_read_during_an_outage_answers_without_waiting_for_retries() {
    for mode in [VaultMode::Status(500), VaultMode::Hang] {
        let (azure, s) = with_vault(
            &[("db-password", "kept"), ("api-key", "k")],
            &[("VAULT_CACHE_SECONDS", "1")],
        )
        .await;
        let token = s.token(&["GetSecret"]);
        assert_eq!(s.get("/vault/db-password", Some(&token)).await.status, 200);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        azure.set_mode(mode);
        let mut took = Vec::new();
        for round in 0..12 {
            // Some rounds several at once: they share one read of the vault.
            let at_once = if round % 4 == 0 { 8 } else { 1 };
            let t = Instant::now();
            let answers = futures_util::future::join_all(
                (0..at_once).map(|_| s.get("/vault/db-password", Some(&token))),
            )
            .await;
            took.push(t.elapsed());
            for a in answers {
                assert_eq!(a.status, 200, "{mode:?}: {}", a.body);
                assert_eq!(a.json()["value"], "kept");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        eprintln!("{mode:?}: stale reads took {took:?}");
        // Retries take 1.6 s or more and a hanging vault 5 s; the grace is 250 ms.
        let slowest = took.iter().max().unwrap();
        assert!(*slowest < Duration::from_millis(1000), "{mode:?}: {took:?}");
        let logs = s.handler.logs();
        assert!(logs.contains("cache=stale"), "{logs}");
        let t = Instant::now();
        s.get("/vault/api-key", Some(&token))
            .await
            .assert_error(502, "AzureKeyVaultFatalError");
        assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    }
}

/// A handler sending telemetry to `ingestion`, with `extra` settings; every request is sent
/// unless `extra` chooses the sampling (these tests count items).
async fn with_telemetry(ingestion: &Ingestion, extra: &[(String, String)]) -> Setup {
    let mut env = ingestion.settings();
    if !extra.iter().any(|(k, _)| k.starts_with("TELEMETRY_")) {
        env.push(("TELEMETRY_SAMPLING_PERCENT".into(), "100".into()));
    }
    env.extend(extra.iter().cloned());
    Setup::start("", move |mut c| {
        for (k, v) in &env {
            c = c.set(k, v);
        }
        c
    })
    .await
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// `GET /health` with a caller's `traceparent` carrying `flags`.
async fn traced_health(s: &Setup, flags: &str) -> Answer {
    let parent = format!("00-{TRACE}-00f067aa0ba902b7-{flags}");
    request(
        reqwest::Method::GET,
        &s.handler.route("/health"),
        &[("traceparent", Some(&parent))],
    )
    .await
}

/// Finding 3: the caller's trace flags do not decide sampling: flag `00` does not hide a
/// request item, and flag `01` does not force one past 0 % sampling.
#[tokio::test]
async fn a_callers_trace_flags_never_decide_sampling() {
    let ingestion = Ingestion::start(IngestionMode::Up);
    let mut s = with_telemetry(&ingestion, &[]).await;
    for _ in 0..3 {
        assert_eq!(traced_health(&s, "00").await.status, 200);
    }
    s.handler.terminate();
    let items = ingestion.items("RequestData");
    assert_eq!(items.len(), 3, "{items:#?}");
    for item in &items {
        assert_eq!(
            item["tags"]["ai.operation.id"], TRACE,
            "parent kept: {item:#}"
        );
    }

    let ingestion = Ingestion::start(IngestionMode::Up);
    let none = [("TELEMETRY_SAMPLING_PERCENT".to_owned(), "0".to_owned())];
    let mut s = with_telemetry(&ingestion, &none).await;
    for _ in 0..3 {
        assert_eq!(traced_health(&s, "01").await.status, 200);
    }
    s.handler.terminate();
    assert!(ingestion.items("RequestData").is_empty());
}

/// Finding 4: an invocation id that is not a GUID never reaches a log line or telemetry:
/// no forged `key=value` fields, no 20 KB lines, no forged audit line from the payload's copy.
#[tokio::test]
async fn invocation_ids_other_than_guids_are_dropped() {
    let ingestion = Ingestion::start(IngestionMode::Up);
    let debug = [("RUST_LOG".to_owned(), "debug".to_owned())];
    let mut s = with_telemetry(&ingestion, &debug).await;
    let reader = s.token(&["GetSecret"]);
    let forged_fields = "x status=200 code=- function=forged";
    let huge = "7".repeat(20 * 1024);
    for id in [forged_fields, huge.as_str()] {
        let a = request(
            reqwest::Method::GET,
            &s.handler.route("/vault/demo"),
            &[(INVOCATION_HEADER, Some(id))],
        )
        .await;
        a.assert_error(401, "AuthorizationHeaderMissing");
    }
    // The invocation protocol's copy, in Metadata, with a line break and a forged audit line.
    let forged_audit =
        "x\n2026-01-01T00:00:00.000Z INFO  audit vault read: tenant=forged oid=forged";
    let payload = json!({
        "Data": {"req": {
            "Url": "http://localhost:7071/vault/demo", "Method": "GET", "Query": {},
            "Headers": {"Authorization": [bearer(&reader)]}, "Params": {"secret_name": "demo"},
        }},
        "Metadata": {"InvocationId": forged_audit},
    });
    let invoked = s.invoked().await;
    let resp = client()
        .post(invoked.url("/vault"))
        .header("content-type", "application/json")
        .body(payload.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let logs = s.handler.logs()
        + &invoked
            .wait_for_log("audit vault read", Duration::from_secs(5))
            .await;
    assert!(!logs.contains("function=forged"), "{logs}");
    assert!(!logs.contains("tenant=forged"), "{logs}");
    assert!(logs.lines().all(|l| l.len() < 2048), "no line is 20 KB");
    assert!(
        logs.contains("dropped an invocation id that is not a GUID"),
        "{logs}"
    );
    s.handler.terminate();
    s.invoked_mut().unwrap().terminate();
    let raw = ingestion.raw();
    assert!(!raw.contains("forged"), "forged ids reached telemetry");
    assert!(
        !raw.contains(&huge[..1024]),
        "the 20 KB id reached telemetry"
    );
    assert_eq!(ingestion.items("RequestData").len(), 3);
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Finding 5: with the ingestion endpoint hanging, unauthenticated requests with 100 KB header
/// values fill the span queue with small items only; memory stays within a few MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_headers_never_swell_the_telemetry_queue() {
    let ingestion = Ingestion::start(IngestionMode::Hanging);
    let s = with_telemetry(&ingestion, &[]).await;
    let before = rss_kib(s.handler.pid());
    let big = "a".repeat(100 * 1024);
    let state = format!("k={}", "b".repeat(200)).repeat(400);
    let parent = format!("00-{TRACE}-00f067aa0ba902b7-01");
    let url = s.handler.route("/vault/demo");
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let (big, state, parent, url) =
                (big.clone(), state.clone(), parent.clone(), url.clone());
            tokio::spawn(async move {
                let http = client();
                for i in 0..160 {
                    let req = http.get(&url);
                    let req = if (c + i) % 2 == 0 {
                        req.header(INVOCATION_HEADER, &big)
                    } else {
                        req.header("traceparent", &parent)
                            .header("tracestate", &state)
                    };
                    let resp = req.send().await.unwrap();
                    assert_eq!(resp.status(), 401);
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    let after = rss_kib(s.handler.pid());
    let grown_mib = after.saturating_sub(before) / 1024;
    eprintln!("RSS {} MiB -> {} MiB", before / 1024, after / 1024);
    // 2,560 items of 100 KB would be 250 MiB; bounded items are under 1 KB each.
    assert!(grown_mib < 40, "RSS grew by {grown_mib} MiB");
}

/// Finding 6: a call refused before its body was read closes the connection after the reply,
/// instead of reading and discarding a chunked body for as long as the client sends one.
#[tokio::test]
async fn a_refused_chunked_upload_is_not_drained() {
    let s = Setup::start("", |c| c).await;
    let addr = s.handler.addr();
    let (status, sent, closed_after) = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .write_all(
                b"PUT /vault/x HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            )
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let feeder = std::thread::spawn(move || {
            let chunk = [b'x'; 64 * 1024];
            let head = format!("{:x}\r\n", chunk.len());
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut sent = 0u64;
            while Instant::now() < deadline {
                let ok = writer.write_all(head.as_bytes()).is_ok()
                    && writer.write_all(&chunk).is_ok()
                    && writer.write_all(b"\r\n").is_ok();
                if !ok {
                    break;
                }
                sent += chunk.len() as u64;
            }
            sent
        });
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let t = Instant::now();
        // Read the rest of the reply, then wait for the server to close.
        let mut rest = Vec::new();
        loop {
            let mut buf = [0u8; 4096];
            match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest.extend_from_slice(&buf[..n]),
            }
        }
        let closed_after = t.elapsed();
        (status, feeder.join().unwrap(), closed_after)
    })
    .await
    .unwrap();
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    eprintln!(
        "sent {} MiB before the close, {closed_after:?} after the reply",
        sent >> 20
    );
    // Closed within the quarter-second linger (REQUEST_BODY_TIMEOUT_SECONDS is 30 s), not
    // when the client gives up after 20 s.
    assert!(
        closed_after < Duration::from_secs(5),
        "still open {closed_after:?} after the reply ({} MiB sent)",
        sent >> 20
    );
}

/// Finding 7: a temporary file or symlink planted under the old predictable name is never
/// used: the secrets file stays 0600, a regular file, and nobody else's file gets the secrets.
#[cfg(unix)]
#[tokio::test]
async fn the_local_store_never_writes_through_a_planted_file() {
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::start("", |c| c).await;
    let writer = s.token(&["GetSecret", "SetSecret"]);
    let dir = s.app.path();
    let secrets = dir.join("local.secrets.json");
    let planted = dir.join(format!(".local.secrets.json.{}.tmp", s.handler.pid()));
    std::fs::write(&planted, "").unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(s.put_secret("/vault/demo", &writer, "v1").await.status, 200);
    let meta = std::fs::symlink_metadata(&secrets).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    std::fs::remove_file(&planted).unwrap();
    let theirs = dir.join("attacker.json");
    std::fs::write(&theirs, "").unwrap();
    std::os::unix::fs::symlink(&theirs, &planted).unwrap();
    assert_eq!(s.put_secret("/vault/demo", &writer, "v2").await.status, 200);
    let meta = std::fs::symlink_metadata(&secrets).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the secrets file is not a symlink"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(&theirs).unwrap(),
        "",
        "nothing written there"
    );
    assert_eq!(
        s.get("/vault/demo", Some(&writer)).await.json()["value"],
        "v2"
    );
}

/// Finding 8: an ingestion endpoint that refuses is named in one warning (not one per upload),
/// and a plain-http endpoint, which the exporter would dial with TLS anyway, stops start-up.
#[tokio::test]
async fn telemetry_failures_are_logged_once_a_minute_and_http_is_refused() {
    let ingestion = Ingestion::start(IngestionMode::Refusing);
    let mut s = with_telemetry(&ingestion, &[]).await;
    assert_eq!(s.get("/health", None).await.status, 200);
    let logs = s
        .handler
        .wait_for_log("telemetry: uploading", Duration::from_secs(20))
        .await;
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("the endpoint answered 503"), "{logs}");
    // More failed uploads (the flush at shutdown among them) within the minute: no new line.
    assert_eq!(s.get("/health", None).await.status, 200);
    s.handler.terminate();
    let logs = s.handler.logs();
    assert!(ingestion.uploads() >= 2, "{}", ingestion.uploads());
    assert_eq!(logs.matches("telemetry: uploading").count(), 1, "{logs}");

    let app = AppDir::new("");
    HandlerConfig::hosted(&app, "http://127.0.0.1:9")
        .set(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "InstrumentationKey=00000000-1111-4222-8333-444444444444;IngestionEndpoint=http://127.0.0.1:9/",
        )
        .assert_fails_naming("APPLICATIONINSIGHTS_CONNECTION_STRING");
}

/// Finding 11: a Key Vault 404 is recorded as what Key Vault answered, not as a success.
#[tokio::test]
async fn a_key_vault_404_is_recorded_as_a_404() {
    let ingestion = Ingestion::start(IngestionMode::Up);
    let azure = FakeAzure::start(&[("db-password", "v")]);
    let mut s = with_telemetry(&ingestion, &azure.managed_identity_env()).await;
    let token = s.token(&["GetSecret"]);
    s.get("/vault/missing", Some(&token))
        .await
        .assert_error(404, "SecretNotFound");
    s.handler.terminate();
    let kv: Vec<_> = ingestion
        .items("RemoteDependencyData")
        .into_iter()
        .filter(|d| d["data"]["baseData"]["name"] == "Key Vault get secret")
        .collect();
    assert_eq!(kv.len(), 1, "{kv:#?}");
    let data = &kv[0]["data"]["baseData"];
    assert_eq!(data["resultCode"], "404", "{data:#}");
    assert_eq!(data["success"], false, "{data:#}");
}

/// Peak resident memory of process `pid`, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Review of the fixes, finding 1: invocation payloads are read field by field, never as a
/// JSON tree, and their bytes count against the buffer budget for the whole call: sixteen
/// 4 MiB `"Body":[0,0,...]` payloads at once (which took the peak from 11 to 229 MB as a
/// tree) stay within the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocation_payloads_never_become_json_trees() {
    let s = Setup::start("", |c| c).await;
    let invoked = s.invoked().await;
    let before = peak_kib(invoked.pid());
    let zeros = vec!["0"; 2 * 1024 * 1024].join(",");
    let payload = format!(
        r#"{{"Data":{{"req":{{"Method":"PUT","Url":"http://localhost/vault/x","Headers":{{"Content-Type":["application/json"]}},"Params":{{"secret_name":"x"}},"Body":[{zeros}]}}}},"Metadata":{{}}}}"#
    );
    let calls = (0..16).map(|_| {
        let (url, payload) = (invoked.url("/vault"), payload.clone());
        tokio::spawn(async move {
            let resp = client()
                .post(url)
                .header("content-type", "application/json")
                .body(payload)
                .send()
                .await
                .unwrap();
            // Answered (401: no token), or, when the budget is full of payloads still
            // arriving, 503 ServiceBusy with Retry-After: never a tree, never a deadlock.
            match resp.status().as_u16() {
                200 => {
                    let out: serde_json::Value = resp.json().await.unwrap();
                    assert_eq!(out["Outputs"]["res"]["statusCode"], 401, "{out}");
                    true
                }
                503 => {
                    assert_eq!(resp.headers()["retry-after"], "1");
                    false
                }
                other => panic!("status {other}"),
            }
        })
    });
    let mut answered = 0;
    for call in calls.collect::<Vec<_>>() {
        answered += usize::from(call.await.unwrap());
    }
    assert!(answered >= 8, "{answered} of 16 answered");
    let grown = peak_kib(invoked.pid()).saturating_sub(before) / 1024;
    eprintln!("peak grew by {grown} MiB");
    // The budget is 8 payloads of 4.25 MiB; a tree of one such payload is ~60 MiB.
    assert!(grown < 100, "peak grew by {grown} MiB");
}

/// Review of the fixes, finding 2: the readiness path never drains a chunked body either.
#[tokio::test]
async fn the_readiness_probe_does_not_drain_a_chunked_body() {
    let s = Setup::start("", |c| c).await;
    let addr = s.handler.addr();
    let closed_after = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        std::thread::spawn(move || {
            let chunk = format!("{:x}\r\n{}\r\n", 65536, "x".repeat(65536));
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && writer.write_all(chunk.as_bytes()).is_ok() {}
        });
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let t = Instant::now();
        let mut buf = [0u8; 4096];
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        t.elapsed()
    })
    .await
    .unwrap();
    assert!(closed_after < Duration::from_secs(5), "{closed_after:?}");
}

/// Review of the fixes, finding 3: every `IngestionEndpoint` in the string must be https, not
/// only the first (the exporter takes the last).
#[tokio::test]
async fn every_ingestion_endpoint_must_be_https() {
    let app = AppDir::new("");
    HandlerConfig::hosted(&app, "http://127.0.0.1:9")
        .set(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "InstrumentationKey=00000000-1111-4222-8333-444444444444;IngestionEndpoint=https://127.0.0.1:1/;IngestionEndpoint=HTTP://127.0.0.1:9/",
        )
        .assert_fails_naming("APPLICATIONINSIGHTS_CONNECTION_STRING");
}

/// Review of the fixes, finding 4: payloads that trickle in hold only the bytes they sent, so
/// a real invocation is not held up behind them.
#[tokio::test]
async fn trickling_payloads_do_not_hold_up_invocations() {
    let s = Setup::start("", |c| c).await;
    let invoked = s.invoked().await;
    let addr = invoked.addr();
    let mut trickles = Vec::new();
    for _ in 0..12 {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .write_all(b"POST /vault HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n\r\n{")
            .unwrap();
        trickles.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let payload = json!({"Data": {"req": {"Method": "GET", "Url": "http://localhost/health",
        "Headers": {}, "Params": {}}}, "Metadata": {}});
    let t = Instant::now();
    let resp = client()
        .post(invoked.url("/health"))
        .header("content-type", "application/json")
        .body(payload.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    drop(trickles);
}

/// Payloads that the budget could not hold while others waited used to deadlock until the
/// body timeout and then be answered as the route would (405). Over-limit payloads get 413.
#[tokio::test]
async fn an_invocation_payload_over_its_limit_gets_413() {
    let s = Setup::start("", |c| c.set("MAX_REQUEST_BODY_BYTES", "1024")).await;
    let invoked = s.invoked().await;
    let big = format!(
        r#"{{"Data":{{"req":{{"Method":"GET","Body":"{}"}}}}}}"#,
        "a".repeat(300_000)
    );
    let resp = client()
        .post(invoked.url("/vault"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "PayloadTooLarge");
}
