//! Security review, round 4 (issue 26): protocol and routing confusion, each finding
//! reproduced against the real binary; these failed before the fixes.

use base64::Engine;
use serde_json::{Value, json};

use crate::support::*;

/// One HTTP-in, HTTP-out function: `route`, `methods` (JSON array text).
fn http_function(route: &str, methods: &str) -> String {
    format!(
        r#"{{"bindings":[{{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":{methods},"route":"{route}"}},{{"type":"http","direction":"out","name":"res"}}]}}"#
    )
}

/// A provider with `key1` and the repository's app at route prefix `prefix`, its function
/// folders rewritten by `functions` (folder, function.json), served by the real handler.
async fn app_with(
    prefix: &str,
    functions: &[(&str, String)],
    settings: &[(&str, &str)],
) -> (TestKey, Provider, AppDir, Handler) {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    let app = AppDir::new(prefix);
    for (folder, json) in functions {
        app.write(&format!("{folder}/function.json"), json);
    }
    let mut config = HandlerConfig::hosted(&app, &provider.base);
    for (k, v) in settings {
        config = config.set(k, v);
    }
    let handler = config.spawn().await;
    handler.wait_for_keys().await;
    (key, provider, app, handler)
}

/// `POST path` with a JSON body, as the host forwards a caller's request (or, at an
/// invocation path, as it invokes a function).
async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .post(url)
        .header("content-type", "application/json")
        .header(
            "X-Azure-Functions-InvocationId",
            "00000000-0000-4000-8000-000000000026",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Finding 1: with a root catch-all that takes POST (routePrefix ""), a caller's `POST
/// /whoami` reaches funcgate as the host forwards it. It used to be read as an invocation
/// payload, running `whoami` with the caller's headers, and with Easy Auth on, a principal in
/// the body came back as the platform's word. The layout says `whoami` is forwarded: the
/// catch-all answers, as the host chose it.
#[tokio::test]
async fn a_callers_post_is_never_read_as_an_invocation() {
    let (_key, _provider, _app, handler) = app_with(
        "",
        &[("health", http_function("{*path}", r#"["get","post"]"#))],
        &[
            ("WEBSITE_AUTH_ENABLED", "true"),
            ("AUTH_POLICY_HEALTH", "GET,HEAD,POST=anonymous"),
        ],
    )
    .await;
    let principal = base64::engine::general_purpose::STANDARD.encode(
        json!({"auth_typ": "aad", "claims": [{"typ": "roles", "val": "Admin"}]}).to_string(),
    );
    let forged = json!({"Data": {"req": {
        "Url": "http://localhost/whoami", "Method": "GET", "Query": {}, "Params": {},
        "Headers": {"X-MS-CLIENT-PRINCIPAL": [principal]},
    }}, "Metadata": {}});
    let (status, body) = post_json(&handler.url("/whoami"), &forged).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["status"], "ok",
        "the catch-all (health) answered: {body}"
    );
    let text = body.to_string();
    assert!(
        !text.contains("Admin") && !text.contains("Outputs"),
        "{text}"
    );
    assert!(handler.logs().contains("call function=health method=POST"));
}

/// Finding 1, the other way: a function with a queue output is invoked with payloads at
/// `POST /{name}` even when its own route is that path and takes POST; those invocations used
/// to be taken for public requests (401 for every call).
#[tokio::test]
async fn a_function_with_more_bindings_gets_its_invocations() {
    let queued = r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get","post"],"route":"whoami"},{"type":"http","direction":"out","name":"res"},{"type":"queue","direction":"out","name":"msg","queueName":"q","connection":"AzureWebJobsStorage"}]}"#;
    let (key, provider, _app, handler) = app_with("", &[("whoami", queued.to_owned())], &[]).await;
    let token = key.sign(&provider.claims(&[]));
    let payload = json!({"Data": {"req": {
        "Url": "http://localhost/whoami", "Method": "GET", "Query": {}, "Params": {},
        "Headers": {"Authorization": [format!("Bearer {token}")]},
    }}, "Metadata": {}});
    let (status, out) = post_json(&handler.url("/whoami"), &payload).await;
    assert_eq!(status, 200, "{out}");
    let res = &out["Outputs"]["res"];
    assert_eq!(res["statusCode"], 200, "{out}");
    let inner: Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
    assert_eq!(inner["authenticated"], true);
    // Its own route never carries a forwarded request: the host would not send one.
    get(&handler.url("/whoami"), Some(&bearer(&token)))
        .await
        .assert_error(404, "NotFound");
    // What is not a payload at an invocation path is refused, not routed.
    let (status, body) = post_json(&handler.url("/whoami"), &json!({"hello": 1})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("InvalidRequestBody"))
    );
}

/// Finding 1: a layout where a public route takes the path at which the host invokes another
/// function cannot tell the two apart: start-up refuses it, naming the file.
#[tokio::test]
async fn a_public_route_over_an_invocation_path_stops_start_up() {
    let app = AppDir::new("");
    app.write(
        "whoami/function.json",
        r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["post"],"route":"me"},{"type":"http","direction":"out","name":"res"},{"type":"queue","direction":"out","name":"msg","queueName":"q","connection":"AzureWebJobsStorage"}]}"#,
    );
    app.write(
        "health/function.json",
        &http_function("{*path}", r#"["get","post"]"#),
    );
    HandlerConfig::hosted(&app, "http://127.0.0.1:9").assert_fails_naming("health/function.json");
}

/// Finding 2: overlapping routes are chosen as the host chooses them: by method, then
/// precedence (a constrained parameter before a plain one), the constraint evaluated.
#[tokio::test]
async fn overlapping_routes_follow_the_hosts_precedence() {
    let (key, provider, _app, handler) = app_with(
        "",
        &[
            ("health", http_function("things/{id:int}", r#"["get"]"#)),
            ("whoami", http_function("things/{id}", r#"["get"]"#)),
            ("vault", http_function("things/{secret_name}", r#"["put"]"#)),
        ],
        &[],
    )
    .await;
    // An integer: the constrained route, `health` (anonymous, 200).
    let a = get(&handler.url("/things/7"), None).await;
    assert_eq!((a.status, a.json()["status"].as_str()), (200, Some("ok")));
    // Not an integer: the plain parameter, `whoami` (a token is needed).
    get(&handler.url("/things/seven"), None)
        .await
        .assert_error(401, "AuthorizationHeaderMissing");
    let token = key.sign(&provider.claims(&[]));
    let a = get(&handler.url("/things/seven"), Some(&bearer(&token))).await;
    assert_eq!(a.json()["authenticated"], true, "{}", a.body);
    // PUT: only `vault` takes it, though two routes come before it.
    let a = request(
        reqwest::Method::PUT,
        &handler.url("/things/7"),
        &[("authorization", Some(&bearer(&token)))],
    )
    .await;
    a.assert_error(403, "AuthorizationRolesMissing");
    let logs = handler.logs();
    for line in [
        "call function=health method=GET status=200",
        "call function=whoami method=GET status=200",
        "call function=vault method=PUT status=403",
    ] {
        assert!(logs.contains(line), "{line}: {logs}");
    }
}

/// Finding 4: dot segments are resolved before routing, as the host's server does, so a
/// catch-all never holds `..`; an encoded slash stays encoded and never splits a value.
#[tokio::test]
async fn route_values_are_split_before_they_are_decoded() {
    let (key, provider, _app, handler) = app_with(
        "api",
        &[("vault", http_function("vault/{*secret_name}", r#"["get"]"#))],
        &[("AUTH_DEBUG_ERRORS", "true")],
    )
    .await;
    let token = bearer(&key.sign(&provider.claims(&["GetSecret"])));
    // Sent as written: an HTTP client would resolve the dot segments itself.
    for path in [
        "/api/vault/x/../demo",
        "/api/vault/x/%2E%2E/demo",
        "/api/vault/./demo",
    ] {
        let answer = raw_get(&handler.addr(), path, &token);
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        assert!(answer.contains(r#""name":"demo""#), "{path}: {answer}");
    }
    let answer = raw_get(&handler.addr(), "/api/vault/..%2Fdemo", &token);
    assert!(answer.contains("InvalidSecretName"), "{answer}");
    assert!(
        answer.contains(r#"..%2Fdemo"#) || !answer.contains("../demo"),
        "{answer}"
    );
}

/// A GET with `path` exactly as given, and the whole answer as text.
fn raw_get(addr: &str, path: &str, authorization: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// Finding 7: with a route prefix, every 401 points at the metadata document where the host
/// serves it (`/api/.well-known/…`), and the path-inserted form answers for a resource path.
#[tokio::test]
async fn every_401_points_where_the_metadata_is_served() {
    let (_key, _provider, _app, handler) = app_with(
        "api",
        &[],
        &[("PUBLIC_BASE_URL", "https://funcgate.example")],
    )
    .await;
    let a = get(&handler.url("/api/whoami"), None).await;
    a.assert_error(401, "AuthorizationHeaderMissing");
    let challenge = a.header("www-authenticate").unwrap().to_owned();
    let url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let path = url.strip_prefix("https://funcgate.example").unwrap();
    assert_eq!(path, "/api/.well-known/oauth-protected-resource");
    let doc = get(&handler.url(path), None).await;
    assert_eq!(doc.status, 200, "{}", doc.body);
    assert_eq!(doc.json()["resource"], "https://funcgate.example");
    let inserted = get(&handler.url(&format!("{path}/api/vault")), None).await;
    assert_eq!(inserted.status, 200, "{}", inserted.body);
    assert_eq!(
        inserted.json()["resource"],
        "https://funcgate.example/api/vault"
    );
}

/// Finding 5: a reply header built from a caller's input with CR/LF used to make the server
/// answer a plain-text 500 after the function's work was done, while the call line and
/// telemetry said 201. Now the reply is the catalogue's 500, decided before it is reported.
#[tokio::test]
async fn a_reply_header_with_a_line_break_is_the_catalogues_500() {
    use funcgate::testing::{IdentityProvider, TestApp};
    use funcgate::{App, Function, Outcome, Reply, Request};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static STORED: AtomicUsize = AtomicUsize::new(0);
    async fn create(req: Request) -> Outcome {
        let id = String::from_utf8_lossy(req.body()).into_owned();
        STORED.fetch_add(1, Ordering::SeqCst);
        let mut reply = Reply::json(201, &json!({ "id": id }));
        // The mistake the example app used to make: the caller's id, raw, in a header.
        reply.header("Location", format!("/api/things/{id}"));
        Ok(reply)
    }
    let app = AppDir::new("api");
    app.write(
        "things/function.json",
        &http_function("things", r#"["post"]"#),
    );
    let idp = IdentityProvider::start();
    let served = TestApp::start(
        App::new().function(Function::new("things", create).rules("POST=anonymous")),
        app.path(),
        &idp,
        &[("AUTH_DEBUG_ERRORS", "true")],
    )
    .unwrap();
    let fine = served
        .call("POST", "/things", None, Some(("text/plain", b"a1")))
        .await;
    assert_eq!(fine.status, 201);
    assert_eq!(fine.header("location"), Some("/api/things/a1"));
    for id in ["a\r\nSet-Cookie: x=1", "a\nb", "a\0b"] {
        let a = served
            .call("POST", "/things", None, Some(("text/plain", id.as_bytes())))
            .await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (500, "InvalidReplyHeader"),
            "{}",
            a.body
        );
        assert!(a.json()["debug"].as_str().unwrap().contains("Location"));
        assert_eq!(a.header("set-cookie"), None);
    }
    assert_eq!(STORED.load(Ordering::SeqCst), 4);
}

/// Review of the fixes, finding 1: host.json is read as the host reads it, keys in any case
/// and `AzureFunctionsJobHost__…` app settings over the file. Spelled `EnableForwarding…`, the
/// switch used to be missed: funcgate took every function for invoked and read a caller's
/// forwarded JSON body as the host's payload.
#[tokio::test]
async fn host_json_is_read_as_the_host_reads_it() {
    let forged = json!({"Data": {"req": {
        "Url": "http://localhost/whoami", "Method": "GET", "Query": {}, "Params": {},
        "Headers": {"X-MS-CLIENT-PRINCIPAL": ["eyJjbGFpbXMiOltdfQ=="]},
    }}, "Metadata": {}});
    let settings = [
        ("WEBSITE_AUTH_ENABLED", "true"),
        ("AUTH_POLICY_WHOAMI", "GET,HEAD,POST=authenticated"),
    ];
    let whoami = (
        "whoami",
        http_function("whoami", r#"["get","head","post"]"#),
    );
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    for (host, extra) in [
        (
            r#"{"version":"2.0","CustomHandler":{"Description":{"DefaultExecutablePath":"handler"},"EnableForwardingHttpRequest":true},"extensions":{"http":{"routePrefix":""}}}"#,
            None,
        ),
        (
            r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"}},"extensions":{"http":{"routePrefix":""}}}"#,
            Some((
                "AzureFunctionsJobHost__customHandler__enableForwardingHttpRequest",
                "true",
            )),
        ),
    ] {
        let app = AppDir::new("");
        app.write("host.json", host);
        app.write("whoami/function.json", &whoami.1);
        let mut config = HandlerConfig::hosted(&app, &provider.base);
        for (k, v) in settings.iter().chain(extra.as_ref()) {
            config = config.set(k, v);
        }
        let handler = config.spawn().await;
        assert!(
            handler.logs().contains("host mode forwarding"),
            "{}",
            handler.logs()
        );
        let (status, body) = post_json(&handler.url("/whoami"), &forged).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("AuthorizationHeaderMissing")),
            "{host}: {body}"
        );
    }
}
