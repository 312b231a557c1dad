//! funcgate as a library (issue 19), through its own testing kit: an app built in the test with
//! typed state, typed claims and its own error codes, served in-process and called in both host
//! protocols, as a team's tests do.

use std::sync::atomic::{AtomicU64, Ordering};

use funcgate::testing::{IdentityProvider, TestApp, invocation_copy};
use funcgate::{ApiError, App, Function, Outcome, Reply, Request, State};
use serde::Deserialize;
use serde_json::json;

use crate::support::AppDir;

/// The app's state: one counter shared by every call.
#[derive(Default)]
struct Counter(AtomicU64);

async fn count(State(counter): State<Counter>, req: Request) -> Outcome {
    if req.method() == "POST" {
        counter.0.fetch_add(1, Ordering::SeqCst);
    }
    Ok(Reply::json(
        200,
        &json!({"count": counter.0.load(Ordering::SeqCst)}),
    ))
}

#[derive(Deserialize)]
struct Team {
    team: String,
}

async fn team(req: Request) -> Outcome {
    let Team { team } = req.claims()?;
    if team != "blue" {
        return Err(ApiError::custom(
            403,
            "WrongTeam",
            "Only the blue team may call this.",
        ));
    }
    Ok(Reply::json(
        200,
        &json!({"team": team, "upn": req.claim("upn")}),
    ))
}

/// Server-sent events, one every 300 ms: produced while they are sent.
async fn ticks(_req: Request) -> Outcome {
    let events = futures_util::stream::unfold(0u32, |n| async move {
        if n == 3 {
            return None;
        }
        if n > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        Some((format!("data: tick {n}\n\n").into(), n + 1))
    });
    Ok(Reply::stream(200, "text/event-stream", events))
}

/// A stream that does not end while the client reads it: 64 KiB pieces for ever.
async fn endless(_req: Request) -> Outcome {
    let pieces = futures_util::stream::repeat_with(|| funcgate::Bytes::from(vec![b'x'; 65536]));
    Ok(Reply::stream(200, "application/octet-stream", pieces))
}

/// Two seconds of work.
async fn slow(_req: Request) -> Outcome {
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    Ok(Reply::json(200, &json!({"done": true})))
}

/// A folder with host.json and a folder per function, as the host would find them.
fn folder() -> AppDir {
    let app = AppDir::new("api");
    for (name, methods) in [
        ("count", r#"["get","post"]"#),
        ("team", r#"["get"]"#),
        ("ticks", r#"["get"]"#),
        ("endless", r#"["get"]"#),
        ("slow", r#"["get"]"#),
    ] {
        app.write(
            &format!("{name}/function.json"),
            &format!(
                r#"{{"bindings":[{{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":{methods},"route":"{name}"}},{{"type":"http","direction":"out","name":"res"}}]}}"#
            ),
        );
    }
    // `tally` has a queue output too, so the host invokes it with payloads (and funcgate
    // takes only payloads for it), while `count` gets the request itself.
    app.write(
        "tally/function.json",
        r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get","post"]},{"type":"http","direction":"out","name":"res"},{"type":"queue","direction":"out","name":"msg","queueName":"tallies","connection":"AzureWebJobsStorage"}]}"#,
    );
    app
}

fn app() -> App<Counter> {
    App::with_state(Counter::default())
        .function(Function::new("count", count).rules("GET=authenticated;POST=roles:Writer"))
        .function(Function::new("tally", count).rules("GET=authenticated;POST=roles:Writer"))
        .function(Function::new("team", team).rules("GET=authenticated"))
        .function(Function::new("ticks", ticks).rules("GET=authenticated"))
        .function(Function::new("endless", endless).rules("GET=anonymous"))
        .function(Function::new("slow", slow).rules("GET=anonymous"))
}

#[tokio::test]
async fn an_endless_stream_is_cut_off_where_the_host_buffers() {
    let idp = IdentityProvider::start();
    let dir = folder();
    let invoked = invocation_copy(dir.path()).unwrap();
    let app = TestApp::start(app(), invoked.path(), &idp, &[]).unwrap();
    let a = app
        .invoke("endless", "GET", "/api/endless", &[], None, None)
        .await;
    assert_eq!((a.status, a.code().as_str()), (502, "ReplyTooLarge"));
}

/// Sends an invocation payload with chunked coding (as the host's JSON content goes out, with no
/// Content-Length) and returns the status inside `Outputs.res`.
fn chunked_invocation(addr: &str, function: &str) -> u64 {
    use std::io::{BufRead, BufReader, Read, Write};
    let payload = format!(
        r#"{{"Data":{{"req":{{"Method":"GET","Url":"http://localhost/api/{function}","Headers":{{}}}}}},"Metadata":{{}}}}"#
    );
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /{function} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{payload}\r\n0\r\n\r\n",
        payload.len()
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    let out: serde_json::Value = serde_json::from_slice(&body).unwrap();
    out["Outputs"]["res"]["statusCode"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_functions_never_hold_the_invocation_budget() {
    let idp = IdentityProvider::start();
    let dir = folder();
    let invoked = invocation_copy(dir.path()).unwrap();
    let app = TestApp::start(app(), invoked.path(), &idp, &[]).unwrap();
    let addr = app
        .url("")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    // Twelve chunked invocations of a two-second function at once: more than the eight
    // payloads' worth of budget, all answered together (not eight, then four).
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..12)
        .map(|_| {
            let addr = addr.clone();
            tokio::task::spawn_blocking(move || chunked_invocation(&addr, "slow"))
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    assert!(
        started.elapsed() < std::time::Duration::from_millis(3500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_streamed_reply_arrives_in_pieces_when_proxied_and_whole_when_buffered() {
    use futures_util::StreamExt;
    let idp = IdentityProvider::start();
    let dir = folder();
    let app = TestApp::start(app(), dir.path(), &idp, &[]).unwrap();
    let token = idp.token(json!({}));
    // Proxying mode: the response streams through; the first event arrives long before the
    // last is produced.
    let started = std::time::Instant::now();
    let resp = reqwest::Client::new()
        .get(app.url("/ticks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut pieces = resp.bytes_stream();
    let first = pieces.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(String::from_utf8_lossy(&first).starts_with("data: tick 0"));
    let mut rest = Vec::new();
    while let Some(piece) = pieces.next().await {
        rest.extend_from_slice(&piece.unwrap());
    }
    let done_at = started.elapsed();
    assert!(String::from_utf8_lossy(&rest).ends_with("data: tick 2\n\n"));
    assert!(
        done_at - first_at >= std::time::Duration::from_millis(500),
        "first piece at {first_at:?}, last at {done_at:?}"
    );
    // A mode that buffers (the invocation protocol) gets the same events, whole.
    let copy = invocation_copy(dir.path()).unwrap();
    let buffered = TestApp::start(self::app(), copy.path(), &idp, &[]).unwrap();
    let whole = buffered
        .invoke("ticks", "GET", "/api/ticks", &[], Some(&token), None)
        .await;
    assert_eq!(whole.status, 200);
    assert_eq!(
        whole.body,
        "data: tick 0\n\ndata: tick 1\n\ndata: tick 2\n\n"
    );
    // Refusals are not streamed: the catalogue's JSON, as ever.
    assert_eq!(
        app.get("/ticks", None).await.code(),
        "AuthorizationHeaderMissing"
    );
}

#[tokio::test]
async fn an_app_of_async_fns_with_state_claims_and_its_own_codes() {
    let idp = IdentityProvider::start();
    let dir = folder();
    let app = TestApp::start(app(), dir.path(), &idp, &[("AUTH_DEBUG_ERRORS", "true")]).unwrap();
    let writer = idp.token(json!({"roles": ["Writer"], "team": "blue", "upn": "ada@contoso.com"}));
    let reader = idp.token(json!({"team": "red"}));

    // State is shared by every call, whichever protocol carries it: `count` is forwarded,
    // `tally` (the same handler, with a queue binding) invoked with payloads.
    assert_eq!(
        app.call("POST", "/count", Some(&writer), None).await.status,
        200
    );
    let invoked = app
        .invoke("tally", "POST", "/api/tally", &[], Some(&writer), None)
        .await;
    assert_eq!(invoked.json()["count"], 2, "{}", invoked.body);
    assert_eq!(app.get("/count", Some(&reader)).await.json()["count"], 2);
    // Neither is reached in the other's protocol: the host would never send those.
    let forwarded = app.call("POST", "/tally", Some(&writer), None).await;
    assert_eq!(
        (forwarded.status, forwarded.code().as_str()),
        (404, "NotFound")
    );
    let payload = app
        .invoke("count", "POST", "/api/count", &[], Some(&writer), None)
        .await;
    assert_eq!((payload.status, payload.code().as_str()), (404, "NotFound"));
    assert_eq!(app.get("/count", Some(&reader)).await.json()["count"], 2);
    // The rules next to the function apply per method.
    let refused = app.call("POST", "/count", Some(&reader), None).await;
    assert_eq!(refused.code(), "AuthorizationRolesMissing");

    // Typed claims, a raw claim, and the function's own code.
    let blue = app.get("/team", Some(&writer)).await;
    assert_eq!(
        blue.json(),
        json!({"team": "blue", "upn": "ada@contoso.com"})
    );
    let red = app.get("/team", Some(&reader)).await;
    assert_eq!((red.status, red.code().as_str()), (403, "WrongTeam"));
    let none = app.get("/team", Some(&idp.token(json!({})))).await;
    assert_eq!(
        (none.status, none.code().as_str()),
        (401, "InvalidAuthorizationClaims")
    );
    assert!(
        none.json()["debug"].as_str().unwrap().contains("team"),
        "{}",
        none.body
    );
    // A claim of the wrong type: the reason names the claim, never its value.
    let odd = app
        .get("/team", Some(&idp.token(json!({"team": 31337}))))
        .await;
    let debug = odd.json()["debug"].as_str().unwrap().to_owned();
    assert!(debug.contains("\"team\""), "{debug}");
    assert!(!debug.contains("31337"), "{debug}");
}

#[tokio::test]
async fn a_rule_that_does_not_parse_stops_start_up_naming_the_function() {
    let idp = IdentityProvider::start();
    let dir = folder();
    let broken = app().function(Function::new("team", team).rules("GET=groups:x"));
    let Err(e) = TestApp::start(broken, dir.path(), &idp, &[]) else {
        panic!("an unparsable rule in code must stop start-up");
    };
    assert!(e.to_string().contains("team (rules in code)"), "{e}");
}

/// The kit's request builder: headers on a forwarded call, and one body type (text or bytes)
/// for both protocols.
#[tokio::test]
async fn the_kit_sends_headers_and_bodies_of_either_kind() {
    async fn echo(req: Request) -> Outcome {
        Ok(Reply::json(
            200,
            &json!({
                "tag": req.header("x-tag"),
                "bytes": req.body().len(),
                "type": req.header("content-type"),
            }),
        ))
    }
    let idp = IdentityProvider::start();
    let dir = folder();
    dir.write(
        "echo/function.json",
        r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["post"],"route":"echo"},{"type":"http","direction":"out","name":"res"}]}"#,
    );
    let with_echo = || app().function(Function::new("echo", echo).rules("POST=anonymous"));
    let served = TestApp::start(with_echo(), dir.path(), &idp, &[]).unwrap();
    let a = served
        .request("POST", "/echo")
        .header("X-Tag", "blue")
        .body("application/octet-stream", vec![0u8, 1, 2, 255])
        .send()
        .await;
    assert_eq!(
        a.json(),
        json!({"tag": "blue", "bytes": 4, "type": "application/octet-stream"})
    );
    let copy = invocation_copy(dir.path()).unwrap();
    let invoked = TestApp::start(with_echo(), copy.path(), &idp, &[]).unwrap();
    let b = invoked
        .request("POST", "/echo")
        .header("X-Tag", "red")
        .body("application/octet-stream", vec![0u8, 1, 2, 255])
        .invoke("echo")
        .await;
    assert_eq!(
        b.json(),
        json!({"tag": "red", "bytes": 4, "type": "application/octet-stream"})
    );
    let c = invoked
        .request("POST", "/echo")
        .body("text/plain", "hello")
        .invoke("echo")
        .await;
    assert_eq!(c.json()["bytes"], 5);
}
