//! Both host protocols (forwarded HTTP and invocation payloads) and both route prefixes.

use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn route_prefix_api() {
    let s = Setup::start("api", |c| c).await;
    let token = s.token(&["GetSecret"]);
    assert_eq!(get(&s.handler.url("/api/health"), None).await.status, 200);
    let a = get(&s.handler.url("/api/vault/demo"), Some(&bearer(&token))).await;
    assert_eq!(a.json()["value"], "demo-value");
    let a = get(
        &s.handler.url("/api/vault?secret=demo"),
        Some(&bearer(&token)),
    )
    .await;
    assert_eq!(a.json()["value"], "demo-value");
    get(&s.handler.url("/api/vault/demo"), None)
        .await
        .assert_error(401, "AuthorizationHeaderMissing");
    get(&s.handler.url("/health"), None)
        .await
        .assert_error(404, "NotFound");
    get(&s.handler.url("/vault/demo"), Some(&bearer(&token)))
        .await
        .assert_error(404, "NotFound");
}

/// The invocation payload the host would send for a GET at `path_and_query`.
fn payload(
    path: &str,
    query: &[(&str, &str)],
    params: Value,
    headers: &[(&str, &str)],
    method: &str,
) -> Value {
    let q: serde_json::Map<String, Value> = query
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let h: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!([v])))
        .collect();
    let flat: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({
        "Data": {"req": {
            "Url": format!("http://localhost:7071{path}"),
            "Method": method,
            "Query": q,
            "Headers": h,
            "Params": params,
            "Identities": [{"AuthenticationType": null, "IsAuthenticated": false, "Claims": []}],
        }},
        "Metadata": {"Query": q, "Headers": flat, "sys": {"MethodName": "vault", "UtcNow": "2026-01-01T00:00:00Z", "RandGuid": "x"}},
    })
}

async fn invoke(s: &Setup, function: &str, body: &Value) -> (u16, Value) {
    let resp = client()
        .post(s.invoked().await.url(&format!("/{function}")))
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "X-Azure-Functions-InvocationId",
            "00000000-0000-4000-8000-000000000001",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "invocation responses are always 200");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let out: Value = resp.json().await.unwrap();
    let res = out["Outputs"]["res"].clone();
    (res["statusCode"].as_u64().unwrap() as u16, res)
}

#[tokio::test]
async fn invocation_payloads_get_the_same_answers_as_forwarded_requests() {
    let s = Setup::start("", |c| c.set("AUTH_DEBUG_ERRORS", "true")).await;
    let good = bearer(&s.token(&["GetSecret"]));
    let norole = bearer(&s.token(&[]));
    let mut expired = s.provider.claims(&["GetSecret"]);
    expired["exp"] = json!(now() - 4000);
    let expired = bearer(&s.key.sign(&expired));
    // (path for forwarding, query, params, authorization, method)
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        Value,
        Option<&'a str>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "/vault/demo",
            vec![],
            json!({"secret_name": "demo"}),
            Some(&good),
            "GET",
        ),
        (
            "/vault?secret=demo",
            vec![("secret", "demo")],
            json!({"secret_name": null}),
            Some(&good),
            "GET",
        ),
        (
            "/vault/demo",
            vec![],
            json!({"secret_name": "demo"}),
            None,
            "GET",
        ),
        (
            "/vault/demo",
            vec![],
            json!({"secret_name": "demo"}),
            Some("Basic x"),
            "GET",
        ),
        (
            "/vault/demo",
            vec![],
            json!({"secret_name": "demo"}),
            Some(&norole),
            "GET",
        ),
        (
            "/vault/demo",
            vec![],
            json!({"secret_name": "demo"}),
            Some(&expired),
            "GET",
        ),
        ("/vault", vec![], json!({}), Some(&good), "GET"),
        (
            "/vault/bad_name",
            vec![],
            json!({"secret_name": "bad_name"}),
            Some(&good),
            "GET",
        ),
        (
            "/vault/missing",
            vec![],
            json!({"secret_name": "missing"}),
            Some(&good),
            "GET",
        ),
        (
            "/vault/demo",
            vec![],
            json!({"secret_name": "demo"}),
            Some(&good),
            "HEAD",
        ),
    ];
    for (path, query, params, auth, method) in cases {
        let method_v = Method::from_bytes(method.as_bytes()).unwrap();
        let fwd = request(method_v, &s.handler.route(path), &[("authorization", auth)]).await;
        let headers: Vec<(&str, &str)> =
            auth.map(|a| vec![("Authorization", a)]).unwrap_or_default();
        let (status, res) = invoke(
            &s,
            "vault",
            &payload(path, &query, params, &headers, method),
        )
        .await;
        assert_eq!(status, fwd.status, "{path} {auth:?}");
        assert_eq!(res["body"].as_str().unwrap(), fwd.body, "{path} {auth:?}");
        for name in [
            "Content-Type",
            "WWW-Authenticate",
            "Cache-Control",
            "Allow",
            "Retry-After",
        ] {
            let inside = res["headers"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str().unwrap().to_owned());
            assert_eq!(
                inside.as_deref(),
                fwd.header(name),
                "{name} for {path} {auth:?}"
            );
        }
    }
    // Health through both carriers.
    let (status, res) = invoke(
        &s,
        "health",
        &payload("/health", &[], json!({}), &[], "GET"),
    )
    .await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["signingKeys"]["loaded"], true);
}

#[tokio::test]
async fn invocation_identities_are_never_trusted() {
    let s = Setup::start("", |c| c).await;
    let mut body = payload(
        "/vault/demo",
        &[],
        json!({"secret_name": "demo"}),
        &[],
        "GET",
    );
    body["Data"]["req"]["Identities"] = json!([{
        "AuthenticationType": "aad", "IsAuthenticated": true,
        "Claims": [{"Type": "roles", "Value": "GetSecret"}]
    }]);
    body["Data"]["req"]["Headers"]["X-MS-CLIENT-PRINCIPAL"] = json!(["eyJjbGFpbXMiOltdfQ=="]);
    let (status, res) = invoke(&s, "vault", &body).await;
    assert_eq!(status, 401);
    let inner: Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
    assert_eq!(inner["code"], "AuthorizationHeaderMissing");
}

#[tokio::test]
async fn invocation_header_names_are_case_insensitive_and_query_may_be_a_string() {
    let s = Setup::start("", |c| c).await;
    let token = bearer(&s.token(&["GetSecret"]));
    let mut body = payload(
        "/vault",
        &[],
        json!({"secret_name": null}),
        &[("authorization", &token)],
        "get",
    );
    body["Data"]["req"]["Query"] = json!("{\"secret\":\"demo\"}");
    let (status, res) = invoke(&s, "vault", &body).await;
    assert_eq!(status, 200, "{res}");
    let inner: Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
    assert_eq!(inner["value"], "demo-value");
}

#[tokio::test]
async fn return_binding_answers_in_return_value() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    let app = AppDir::new("");
    let mut f: Value = serde_json::from_str(
        &std::fs::read_to_string(app.path().join("vault/function.json")).unwrap(),
    )
    .unwrap();
    f["bindings"][1]["name"] = json!("$return");
    app.write("vault/function.json", &f.to_string());
    let app = app.invoked_copy();
    let handler = HandlerConfig::hosted(&app, &provider.base).spawn().await;
    let resp = client()
        .post(handler.url("/vault"))
        .header("content-type", "application/json")
        .body(
            payload(
                "/vault/demo",
                &[],
                json!({"secret_name": "demo"}),
                &[],
                "GET",
            )
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["ReturnValue"]["statusCode"], 401);
    assert_eq!(out["Outputs"], json!({}));
}

#[tokio::test]
async fn non_invocation_posts_are_plain_requests() {
    let s = Setup::start("", |c| c).await;
    // Not JSON: a forwarded POST to a GET-only function.
    let a = request(
        Method::POST,
        &s.handler.url("/vault"),
        &[("content-type", Some("text/plain"))],
    )
    .await;
    a.assert_error(405, "MethodNotAllowed");
    // JSON that is not an invocation payload.
    let resp = client()
        .post(s.handler.url("/vault"))
        .header("content-type", "application/json")
        .body("{\"hello\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    // Invocation-looking POST to a folder that does not exist.
    let resp = client()
        .post(s.handler.url("/nothing"))
        .header("content-type", "application/json")
        .body(payload("/nothing", &[], json!({}), &[], "GET").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn invocation_payloads_with_the_api_prefix() {
    let s = Setup::start("api", |c| c).await;
    let token = bearer(&s.token(&["GetSecret"]));
    // Invocation requests use the folder name, whatever the route prefix.
    let body = payload(
        "/api/vault/demo",
        &[],
        json!({"secret_name": "demo"}),
        &[("Authorization", &token)],
        "GET",
    );
    let (status, res) = invoke(&s, "vault", &body).await;
    assert_eq!(status, 200, "{res}");
    // Without Params, the URL is routed as the forwarded request would be.
    let mut body = payload(
        "/api/vault/demo",
        &[],
        json!(null),
        &[("Authorization", &token)],
        "GET",
    );
    body["Data"]["req"]
        .as_object_mut()
        .unwrap()
        .remove("Params");
    let (status, res) = invoke(&s, "vault", &body).await;
    assert_eq!(status, 200, "{res}");
    let inner: Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
    assert_eq!(inner["value"], "demo-value");
}
