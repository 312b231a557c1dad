//! Functions behind the gate (issue 12): per-method rules, request bodies within their limits,
//! and `vault` writes through the local file and the TLS Key Vault stand-in, over both host
//! protocols.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::azure::FakeAzure;
use crate::support::*;
use serde_json::{Value, json};

/// A token with delegated scopes `scp` (space-separated) and app roles `roles`.
fn token(s: &Setup, scp: Option<&str>, roles: &[&str]) -> String {
    let mut claims = s.provider.claims(roles);
    if let Some(scp) = scp {
        claims["scp"] = json!(scp);
    }
    s.key.sign(&claims)
}

/// A request through the forwarded protocol.
async fn call(
    s: &Setup,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: &str,
) -> Answer {
    let auth = token.map(bearer);
    let mut req = client().request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        s.handler.route(path),
    );
    if let Some(a) = &auth {
        req = req.header("authorization", a);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = req.body(body.to_owned()).send().await.unwrap();
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

/// The same request as an invocation payload (`POST /vault`); `body` is put in `Data.req.Body`
/// as given (a string, a JSON value, or absent when `None`).
async fn invoke(
    s: &Setup,
    method: &str,
    secret: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut headers = serde_json::Map::new();
    if let Some(t) = token {
        headers.insert("Authorization".into(), json!([bearer(t)]));
    }
    if let Some(ct) = content_type {
        headers.insert("Content-Type".into(), json!([ct]));
    }
    let mut req = json!({
        "Url": format!("http://localhost:7071/vault/{secret}"),
        "Method": method,
        "Query": {},
        "Headers": headers,
        "Params": {"secret_name": secret},
    });
    if let Some(body) = body {
        req["Body"] = body;
    }
    let payload = json!({"Data": {"req": req}, "Metadata": {}});
    let resp = client()
        .post(s.invoked().await.url("/vault"))
        .header("content-type", "application/json")
        .body(payload.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    let res = out["Outputs"]["res"].clone();
    let body: Value =
        serde_json::from_str(res["body"].as_str().unwrap_or("")).unwrap_or(Value::Null);
    (res["statusCode"].as_u64().unwrap() as u16, body)
}

/// The app with `vault` also declaring DELETE (which no rule covers).
async fn with_methods(rules: &str, extra: &[(&str, &str)]) -> Setup {
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let rules = rules.to_owned();
    Setup::start("", move |mut c| {
        let declared = r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get","head","put","delete"],"route":"vault/{secret_name?}"},{"type":"http","direction":"out","name":"res"}]}"#;
        c.app.write("vault/function.json", declared);
        c = c.set("AUTH_POLICY_VAULT", &rules).set("AUTH_DEBUG_ERRORS", "true");
        for (k, v) in &extra {
            c = c.set(k, v);
        }
        c
    })
    .await
}

#[tokio::test]
async fn rules_apply_per_method_over_both_protocols() {
    let s = with_methods(
        "GET,HEAD=scopes:Api.Read|roles:Reader;PUT=scopes:Api.Write",
        &[],
    )
    .await;
    let read = token(&s, Some("Api.Read"), &[]);
    let write = token(&s, Some("Api.Write"), &[]);
    let reader_app = token(&s, None, &["Reader"]);
    let nothing = token(&s, Some("User.Read"), &[]);
    let json = Some("application/json");
    let put_body = r#"{"value":"v1"}"#;
    // (method, token, expected status, expected code)
    let cases: Vec<(&str, &str, u16, &str)> = vec![
        ("GET", &read, 200, ""),
        ("GET", &reader_app, 200, ""),
        ("GET", &write, 403, "AuthorizationScopeForbidden"),
        ("HEAD", &read, 200, ""),
        ("PUT", &write, 200, ""),
        ("PUT", &read, 403, "AuthorizationScopeForbidden"),
        ("PUT", &nothing, 403, "AuthorizationScopeForbidden"),
        // Declared in function.json, but no rule names it: denied.
        ("DELETE", &write, 403, "AuthorizationRoleForbidden"),
        // Not declared at all: the host would not route it.
        ("PATCH", &write, 405, "MethodNotAllowed"),
    ];
    for (method, t, status, code) in &cases {
        let a = call(&s, method, "/vault/demo", Some(t), json, put_body).await;
        assert_eq!(a.status, *status, "forwarded {method}: {}", a.body);
        if !code.is_empty() {
            assert_eq!(a.code(), *code, "forwarded {method}");
        }
        if *method == "HEAD" {
            continue;
        }
        let body = (*method == "PUT").then(|| json!(put_body));
        let (st, b) = invoke(&s, method, "demo", Some(t), json, body).await;
        assert_eq!(st, *status, "invocation {method}: {b}");
        if !code.is_empty() {
            assert_eq!(b["code"], *code, "invocation {method}");
        }
    }
    let a = call(&s, "PATCH", "/vault/demo", Some(&write), json, put_body).await;
    assert_eq!(a.header("allow"), Some("GET, HEAD, PUT, DELETE"));
    // No token: 401 before anything else, for every declared method.
    for method in ["GET", "PUT", "DELETE"] {
        call(&s, method, "/vault/demo", None, json, put_body)
            .await
            .assert_error(401, "AuthorizationHeaderMissing");
    }
    // Start-up names each method's rule.
    let logs = s.handler.logs();
    assert!(
        logs.contains("function vault: GET,HEAD -> scopes:Api.Read|roles:Reader; PUT -> scopes:Api.Write; DELETE -> deny"),
        "{logs}"
    );
}

#[tokio::test]
async fn vault_writes_round_trip_through_the_local_file_and_survive_a_restart() {
    let s = Setup::start("", |c| c).await;
    let writer = s.token(&["SetSecret", "GetSecret"]);
    let json = Some("application/json; charset=utf-8");
    let a = call(
        &s,
        "PUT",
        "/vault/new-one",
        Some(&writer),
        json,
        r#"{"value":"first"}"#,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.json(), json!({"name": "new-one"}), "never the value");
    assert_eq!(a.header("cache-control"), Some("no-store"));
    let a = call(
        &s,
        "PUT",
        "/vault?secret=new-one",
        Some(&writer),
        json,
        r#"{"value":"second"}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = s.get("/vault/NEW-ONE", Some(&writer)).await;
    assert_eq!(a.json()["value"], "second");

    // 50 writers at once, each a different name: none is lost.
    let writes = (0..50).map(|i| {
        let s = &s;
        let writer = writer.clone();
        async move {
            let body = format!(r#"{{"value":"value-{i}"}}"#);
            call(
                s,
                "PUT",
                &format!("/vault/bulk-{i}"),
                Some(&writer),
                json,
                &body,
            )
            .await
            .status
        }
    });
    for status in futures_util::future::join_all(writes).await {
        assert_eq!(status, 201);
    }
    let file = s.app.path().join("local.secrets.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the secrets file is private");
    }
    let audit = s.handler.logs();
    assert!(audit.contains("audit vault write: tenant="), "{audit}");
    assert!(
        audit.contains("secret=\"new-one\" result=created"),
        "{audit}"
    );
    assert!(
        audit.contains("secret=\"new-one\" result=updated"),
        "{audit}"
    );

    // A new process on the same folder reads every one back.
    let again = HandlerConfig::hosted(&s.app, &s.provider.base)
        .spawn()
        .await;
    again.wait_for_keys().await;
    for i in [0, 17, 49] {
        let a = get(
            &again.url(&format!("/vault/bulk-{i}")),
            Some(&bearer(&writer)),
        )
        .await;
        assert_eq!(a.json()["value"], format!("value-{i}"), "{}", a.body);
    }
    let all: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(all.as_object().unwrap().len(), 2 + 1 + 50);
}

#[tokio::test]
async fn vault_writes_reach_key_vault_and_replace_the_cached_value() {
    let azure = FakeAzure::start(&[("db-password", "old-value")]);
    let env = azure.managed_identity_env();
    let s = Setup::start("", move |mut c| {
        for (k, v) in &env {
            c = c.set(k, v);
        }
        c
    })
    .await;
    let writer = s.token(&["SetSecret", "GetSecret"]);
    let json = Some("application/json");
    // Read first, so a value is cached.
    assert_eq!(
        s.get("/vault/db-password", Some(&writer)).await.json()["value"],
        "old-value"
    );
    let a = call(
        &s,
        "PUT",
        "/vault/db-password",
        Some(&writer),
        json,
        r#"{"value":"new-value"}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}\n{}", a.body, s.handler.logs());
    assert_eq!(a.json()["name"], "db-password");
    assert_eq!(a.json()["version"].as_str().unwrap().len(), 32);
    assert!(a.json().get("value").is_none());
    assert_eq!(azure.secret("db-password").as_deref(), Some("new-value"));
    // The cache holds the new value, not the old one.
    let reads = azure.reads();
    assert_eq!(
        s.get("/vault/db-password", Some(&writer)).await.json()["value"],
        "new-value"
    );
    assert_eq!(azure.reads(), reads, "served from the replaced cache entry");
    // Over the invocation protocol too, with the body as a JSON value.
    let (status, body) = invoke(
        &s,
        "PUT",
        "api-key",
        Some(&writer),
        json,
        Some(json!({"value": "k2"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(azure.secret("api-key").as_deref(), Some("k2"));
    // Key Vault refusing the write is a 502, and nothing claims success.
    azure.set_mode(crate::support::azure::VaultMode::Status(403));
    call(
        &s,
        "PUT",
        "/vault/db-password",
        Some(&writer),
        json,
        r#"{"value":"x"}"#,
    )
    .await
    .assert_error(502, "AzureKeyVaultFatalError");
}

#[tokio::test]
async fn writes_without_set_secret_are_refused_and_write_nothing() {
    let azure = FakeAzure::start(&[]);
    let env = azure.managed_identity_env();
    let s = Setup::start("", move |mut c| {
        for (k, v) in &env {
            c = c.set(k, v);
        }
        c
    })
    .await;
    let reader = s.token(&["GetSecret"]);
    let a = call(
        &s,
        "PUT",
        "/vault/x",
        Some(&reader),
        Some("application/json"),
        r#"{"value":"v"}"#,
    )
    .await;
    a.assert_error(403, "AuthorizationRoleForbidden");
    assert_eq!(
        a.header("www-authenticate"),
        Some("Bearer error=\"insufficient_scope\", scope=\"SetSecret\"")
    );
    call(
        &s,
        "PUT",
        "/vault/x",
        None,
        Some("application/json"),
        r#"{"value":"v"}"#,
    )
    .await
    .assert_error(401, "AuthorizationHeaderMissing");
    assert_eq!(azure.writes(), 0);
    assert_eq!(azure.challenges(), 0, "Key Vault was never called");

    let local = Setup::start("", |c| c).await;
    let before = std::fs::read(local.app.path().join("local.secrets.json")).unwrap();
    call(
        &local,
        "PUT",
        "/vault/demo",
        Some(&local.token(&["GetSecret"])),
        Some("application/json"),
        r#"{"value":"v"}"#,
    )
    .await
    .assert_error(403, "AuthorizationRoleForbidden");
    assert_eq!(
        std::fs::read(local.app.path().join("local.secrets.json")).unwrap(),
        before
    );
}

#[tokio::test]
async fn bad_write_bodies_get_415_or_400_over_both_protocols() {
    let s = Setup::start("", |c| c.set("AUTH_DEBUG_ERRORS", "true")).await;
    let writer = s.token(&["SetSecret"]);
    let json = Some("application/json");
    let long = format!(r#"{{"value":"{}"}}"#, "x".repeat(25 * 1024 + 1));
    let at_limit = format!(r#"{{"value":"{}"}}"#, "x".repeat(25 * 1024));
    // (content type, body, status, code, debug contains)
    let cases: Vec<(Option<&str>, &str, u16, &str, &str)> = vec![
        (
            Some("text/plain"),
            r#"{"value":"v"}"#,
            415,
            "InvalidContentType",
            "application/json",
        ),
        (
            None,
            r#"{"value":"v"}"#,
            415,
            "InvalidContentType",
            "application/json",
        ),
        (json, "", 400, "InvalidRequestBody", "empty"),
        (
            json,
            "{\"value\": ",
            400,
            "InvalidRequestBody",
            "not valid JSON",
        ),
        (
            json,
            r#"["value"]"#,
            400,
            "InvalidRequestBody",
            "JSON object",
        ),
        (
            json,
            r#"{"other":"v"}"#,
            400,
            "InvalidRequestBody",
            "value is missing",
        ),
        (
            json,
            r#"{"value":987654321}"#,
            400,
            "InvalidRequestBody",
            "must be a string",
        ),
        (
            json,
            r#"{"value":null}"#,
            400,
            "InvalidRequestBody",
            "must be a string",
        ),
        (json, &long, 400, "InvalidRequestBody", "limit"),
        (json, &at_limit, 201, "", ""),
    ];
    for (ct, body, status, code, reason) in &cases {
        let a = call(&s, "PUT", "/vault/bodies", Some(&writer), *ct, body).await;
        assert_eq!(
            a.status,
            *status,
            "{ct:?} {}: {}",
            &body[..body.len().min(40)],
            a.body
        );
        if !code.is_empty() {
            assert_eq!(a.code(), *code);
            let debug = a.json()["debug"].as_str().unwrap_or_default().to_owned();
            assert!(debug.contains(reason), "{debug}");
        }
        let inv_body = (!body.is_empty()).then(|| json!(body));
        let (st, b) = invoke(&s, "PUT", "bodies2", Some(&writer), *ct, inv_body).await;
        let want = if *status == 201 { 201 } else { *status };
        assert_eq!(st, want, "invocation {ct:?}: {b}");
    }
    // Invocation bodies: a string, a parsed JSON object, and none at all.
    let (st, _) = invoke(
        &s,
        "PUT",
        "inv",
        Some(&writer),
        json,
        Some(json!(r#"{"value":"as-string"}"#)),
    )
    .await;
    assert_eq!(st, 201);
    let (st, _) = invoke(
        &s,
        "PUT",
        "inv",
        Some(&writer),
        json,
        Some(json!({"value": "as-object"})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, b) = invoke(&s, "PUT", "inv", Some(&writer), json, None).await;
    assert_eq!((st, b["code"].as_str()), (400, Some("InvalidRequestBody")));
    // Read back where it was written (the local secrets file is read once per process).
    let reader = s.token(&["GetSecret"]);
    let (st, b) = invoke(&s, "GET", "inv", Some(&reader), None, None).await;
    assert_eq!((st, b["value"].as_str()), (200, Some("as-object")));
}

/// Sends raw bytes and returns what came back (until the server closes or 10 s pass).
fn raw(base: &str, head: &str, body: &[u8], pause_after: Option<Duration>) -> String {
    let mut s = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    if let Some(pause) = pause_after {
        std::thread::sleep(pause);
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.windows(4).any(|w| w == b"\r\n\r\n") && String::from_utf8_lossy(&out).contains("}") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_bounded_in_size_and_time() {
    let s = Setup::start("", |c| {
        c.set("MAX_REQUEST_BODY_BYTES", "1000")
            .set("REQUEST_BODY_TIMEOUT_SECONDS", "1")
            .set("AUTH_DEBUG_ERRORS", "true")
    })
    .await;
    let writer = s.token(&["SetSecret"]);
    let json = Some("application/json");
    let body_of = |len: usize| format!(r#"{{"value":"{}"}}"#, "y".repeat(len - 12));
    assert_eq!(body_of(1000).len(), 1000);
    for (len, status) in [(999, 201), (1000, 200)] {
        let a = call(
            &s,
            "PUT",
            "/vault/sized",
            Some(&writer),
            json,
            &body_of(len),
        )
        .await;
        assert_eq!(a.status, status, "{len}: {}", a.body);
    }
    let a = call(
        &s,
        "PUT",
        "/vault/sized",
        Some(&writer),
        json,
        &body_of(1001),
    )
    .await;
    a.assert_error(413, "PayloadTooLarge");
    let (st, b) = invoke(
        &s,
        "PUT",
        "sized",
        Some(&writer),
        json,
        Some(json!(body_of(1001))),
    )
    .await;
    assert_eq!((st, b["code"].as_str()), (413, Some("PayloadTooLarge")));

    let base = s.handler.base.clone();
    let auth = bearer(&writer);
    let (base2, auth2) = (base.clone(), auth.clone());
    // Chunked, no length: cut off once it passes the limit.
    let chunked = tokio::task::spawn_blocking(move || {
        let head = format!(
            "PUT /vault/sized HTTP/1.1\r\nHost: x\r\nAuthorization: {auth2}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        let mut body = Vec::new();
        for _ in 0..3 {
            body.extend_from_slice(format!("190\r\n{}\r\n", "z".repeat(400)).as_bytes());
        }
        raw(&base2, &head, &body, None)
    })
    .await
    .unwrap();
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert!(chunked.contains("PayloadTooLarge"), "{chunked}");

    // A body that never finishes: cut off by the timeout with a catalogue answer.
    let (base3, auth3) = (base.clone(), auth.clone());
    let started = Instant::now();
    let stalled = tokio::task::spawn_blocking(move || {
        let head = format!(
            "PUT /vault/sized HTTP/1.1\r\nHost: x\r\nAuthorization: {auth3}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
        );
        raw(&base3, &head, b"{\"value\":\"only the start", None)
    })
    .await
    .unwrap();
    assert!(stalled.starts_with("HTTP/1.1 400"), "{stalled}");
    assert!(stalled.contains("InvalidRequestBody"), "{stalled}");
    assert!(
        stalled.contains("REQUEST_BODY_TIMEOUT_SECONDS"),
        "{stalled}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // A connection that ends mid-body (the client half-closes after 25 of 500 bytes).
    let (base5, auth5) = (base.clone(), auth.clone());
    let broken = tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(base5.trim_start_matches("http://")).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let head = format!(
            "PUT /vault/sized HTTP/1.1\r\nHost: x\r\nAuthorization: {auth5}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{{\"value\":\"cut short"
        );
        c.write_all(head.as_bytes()).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap();
    assert!(broken.starts_with("HTTP/1.1 400"), "{broken}");
    assert!(broken.contains("InvalidRequestBody"), "{broken}");
    assert!(
        broken.contains("the connection failed mid-body"),
        "{broken}"
    );

    // No token: answered at once, without waiting for (or buffering) a declared 50 MB body.
    let started = Instant::now();
    let base4 = base.clone();
    let anonymous = tokio::task::spawn_blocking(move || {
        let head = "PUT /vault/sized HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n";
        raw(&base4, head, b"", None)
    })
    .await
    .unwrap();
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    assert!(anonymous.contains("AuthorizationHeaderMissing"));
    assert!(started.elapsed() < Duration::from_secs(2));
    s.assert_serves_vault().await;
}

#[tokio::test]
async fn written_values_never_reach_the_logs_even_at_trace() {
    let azure = FakeAzure::start(&[]);
    let env = azure.managed_identity_env();
    let s = Setup::start("", move |mut c| {
        for (k, v) in &env {
            c = c.set(k, v);
        }
        c.set("RUST_LOG", "trace").set("AUTH_DEBUG_ERRORS", "true")
    })
    .await;
    let writer = s.token(&["SetSecret", "GetSecret"]);
    let json = Some("application/json");
    let secret = "Wr1tten-Value-do-not-log";
    assert_eq!(
        call(
            &s,
            "PUT",
            "/vault/logged",
            Some(&writer),
            json,
            &format!(r#"{{"value":"{secret}"}}"#)
        )
        .await
        .status,
        200
    );
    invoke(
        &s,
        "PUT",
        "logged2",
        Some(&writer),
        json,
        Some(json!({"value": secret})),
    )
    .await;
    // Rejected bodies must not echo what they carried either.
    call(
        &s,
        "PUT",
        "/vault/logged",
        Some(&writer),
        json,
        r#"{"value":424242424242}"#,
    )
    .await;
    call(
        &s,
        "PUT",
        "/vault/logged",
        Some(&writer),
        json,
        r#"{"valu":"Typo-Value-do-not-log"}"#,
    )
    .await;
    assert_eq!(
        s.get("/vault/logged", Some(&writer)).await.json()["value"],
        secret
    );
    let logs = s.handler.logs();
    assert!(logs.contains("audit vault write"), "{logs}");
    for leak in [
        secret,
        "424242424242",
        "Typo-Value-do-not-log",
        writer.as_str(),
    ] {
        assert!(!logs.contains(leak), "{leak} leaked into the logs");
    }
}
