//! funcgate as a library (issue 19), through its own testing kit: an app built in the test with
//! typed state, typed claims and its own error codes, served in-process and called in both host
//! protocols, as a team's tests do.

use std::sync::atomic::{AtomicU64, Ordering};

use funcgate::testing::{IdentityProvider, TestApp};
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

/// A folder with host.json and a folder per function, as the host would find them.
fn folder() -> AppDir {
    let app = AppDir::new("api");
    for (name, methods) in [
        ("count", r#"["get","post"]"#),
        ("team", r#"["get"]"#),
        ("ticks", r#"["get"]"#),
    ] {
        app.write(
            &format!("{name}/function.json"),
            &format!(
                r#"{{"bindings":[{{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":{methods},"route":"{name}"}},{{"type":"http","direction":"out","name":"res"}}]}}"#
            ),
        );
    }
    app
}

fn app() -> App<Counter> {
    App::with_state(Counter::default())
        .function(Function::new("count", count).rules("GET=authenticated;POST=roles:Writer"))
        .function(Function::new("team", team).rules("GET=authenticated"))
        .function(Function::new("ticks", ticks).rules("GET=authenticated"))
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
    let whole = app
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

    // State is shared by every call, whichever protocol carries it.
    assert_eq!(
        app.call("POST", "/count", Some(&writer), None).await.status,
        200
    );
    let invoked = app
        .invoke("count", "POST", "/api/count", &[], Some(&writer), None)
        .await;
    assert_eq!(invoked.json()["count"], 2, "{}", invoked.body);
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
