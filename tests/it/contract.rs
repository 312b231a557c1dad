//! The public contract of the original decorator: URLs, statuses, codes, headers.

use crate::support::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn health_is_open_and_reports_the_key_cache() {
    let s = Setup::start("", |c| c).await;
    let a = s.get("/health", None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/json"));
    let body = a.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["signingKeys"]["loaded"], true);
    assert_eq!(body["signingKeys"]["count"], 1);
    assert!(body["signingKeys"]["ageSeconds"].is_u64());
    // The readiness probe answers at once.
    assert_eq!(get(&s.handler.url("/"), None).await.status, 200);
}

#[tokio::test]
async fn missing_header_gives_the_exact_original_body() {
    let s = Setup::start("", |c| c.set("AUTH_DEBUG_ERRORS", "false")).await;
    let a = s.get("/vault?secret=demo", None).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.body,
        r#"{"code":"AuthorizationHeaderMissing","description":"Authorization header is missing from the request"}"#
    );
    assert_eq!(a.header("www-authenticate"), Some("Bearer"));
    assert_eq!(a.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn header_checks_in_the_original_order() {
    let s = Setup::start("", |c| c).await;
    let url = s.handler.route("/vault/demo");
    let cases = [
        (
            "",
            401,
            "AuthorizationHeaderMissing",
            "Authorization header is missing from the request",
        ),
        (
            "   ",
            401,
            "AuthorizationHeaderMissing",
            "Authorization header is missing from the request",
        ),
        (
            "Basic dXNlcjpwYXNz",
            401,
            "InvalidAuthorizationHeader",
            "Authorization header must start with Bearer",
        ),
        (
            "Bearer",
            401,
            "AuthorizationTokenNotFound",
            "Authorization does not contain Token",
        ),
        (
            "Bearer a b",
            401,
            "InvalidAuthorizationHeaderFormat",
            "Authorization header must be Bearer token",
        ),
        (
            "Bearer not-a-jwt",
            401,
            "InvalidAuthorizationHeader",
            "Unable to parse authentication token",
        ),
    ];
    for (header, status, code, description) in cases {
        let a = get(&url, Some(header)).await;
        a.assert_error(status, code);
        assert_eq!(a.json()["description"], description, "{header:?}");
        let challenge = a.header("www-authenticate").unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
    // No credentials → no error attribute; a rejected token → invalid_token.
    let basic = get(&url, Some("Basic dXNlcjpwYXNz")).await;
    assert_eq!(basic.header("www-authenticate"), Some("Bearer"));
    let rejected = get(&url, Some("Bearer not-a-jwt")).await;
    assert_eq!(
        rejected.header("www-authenticate"),
        Some(
            "Bearer error=\"invalid_token\", error_description=\"Unable to parse authentication token\""
        )
    );
}

#[tokio::test]
async fn valid_token_with_the_role_reads_the_secret_both_ways() {
    let s = Setup::start("", |c| c).await;
    let token = s.token(&["GetSecret"]);
    for path in [
        "/vault?secret=demo",
        "/vault/demo",
        "/vault/DEMO",
        "/vault/demo/",
    ] {
        let a = s.get(path, Some(&token)).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert_eq!(a.json()["value"], "demo-value", "{path}");
        assert_eq!(a.header("cache-control"), Some("no-store"));
        assert_eq!(a.header("content-type"), Some("application/json"));
    }
    let a = s.get("/vault/db-password", Some(&token)).await;
    assert_eq!(
        a.json(),
        json!({"name": "db-password", "value": "s3cret-Value-42"})
    );
}

#[tokio::test]
async fn v1_tokens_and_both_audiences_are_accepted() {
    let s = Setup::start("", |c| c).await;
    let v1 = s.key.sign(&s.provider.v1_claims(&["GetSecret"]));
    assert_eq!(s.get("/vault/demo", Some(&v1)).await.status, 200);
    let mut v2_bare = s.provider.claims(&["GetSecret"]);
    v2_bare["aud"] = json!(CLIENT);
    assert_eq!(
        s.get("/vault/demo", Some(&s.key.sign(&v2_bare)))
            .await
            .status,
        200
    );
    let mut v1_uri = s.provider.v1_claims(&["GetSecret"]);
    v1_uri["aud"] = json!(format!("api://{CLIENT}"));
    assert_eq!(
        s.get("/vault/demo", Some(&s.key.sign(&v1_uri)))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn role_checks_give_403_with_insufficient_scope() {
    let s = Setup::start("", |c| c).await;
    let none = s.get("/vault/demo", Some(&s.token(&[]))).await;
    none.assert_error(403, "AuthorizationRolesMissing");
    assert_eq!(
        none.header("www-authenticate"),
        Some("Bearer error=\"insufficient_scope\", scope=\"GetSecret\"")
    );
    let other = s.get("/vault/demo", Some(&s.token(&["Reader"]))).await;
    other.assert_error(403, "AuthorizationRoleForbidden");
    assert_eq!(
        other.json()["description"],
        "Access token is missing the role required for this path."
    );
    // Roles are case-sensitive in Entra.
    s.get("/vault/demo", Some(&s.token(&["getsecret"])))
        .await
        .assert_error(403, "AuthorizationRoleForbidden");
}

#[tokio::test]
async fn expired_and_invalid_tokens() {
    let s = Setup::start("", |c| c.set("AUTH_DEBUG_ERRORS", "true")).await;
    let t = now();
    let mut expired = s.provider.claims(&["GetSecret"]);
    expired["exp"] = json!(t - 3600);
    let a = s.get("/vault/demo", Some(&s.key.sign(&expired))).await;
    a.assert_error(401, "AuthorizationTokenExpired");
    assert_eq!(
        a.json()["description"],
        "Authorization bearer token is expired."
    );
    assert!(a.json()["debug"].as_str().unwrap().contains("expired"));

    // Within the default 300 s skew: still accepted.
    let mut recent = s.provider.claims(&["GetSecret"]);
    recent["exp"] = json!(t - 60);
    assert_eq!(
        s.get("/vault/demo", Some(&s.key.sign(&recent)))
            .await
            .status,
        200
    );

    let mutate = |key: &str, value: serde_json::Value| {
        let mut c = s.provider.claims(&["GetSecret"]);
        c[key] = value;
        s.key.sign(&c)
    };
    let invalid = [
        (
            "aud",
            mutate("aud", json!("api://someone-else")),
            "audience mismatch",
        ),
        (
            "iss",
            mutate("iss", json!("https://sts.windows.net/other/")),
            "issuer",
        ),
        (
            "tid",
            mutate("tid", json!("00000000-1111-2222-3333-444444444444")),
            "tenant",
        ),
        (
            "exp string",
            mutate("exp", json!((t + 3600).to_string())),
            "exp is not a number",
        ),
        ("nbf future", mutate("nbf", json!(t + 3600)), "not valid"),
        ("iat future", mutate("iat", json!(t + 3600)), "future"),
        ("roles string", mutate("roles", json!("GetSecret")), "roles"),
    ];
    for (what, token, reason) in invalid {
        let a = s.get("/vault/demo", Some(&token)).await;
        a.assert_error(401, "InvalidAuthorizationClaims");
        let debug = a.json()["debug"].as_str().unwrap().to_owned();
        assert!(debug.contains(reason), "{what}: {debug}");
        assert!(!debug.contains(&token), "debug must not echo the token");
    }
    let mut no_exp = s.provider.claims(&["GetSecret"]);
    no_exp.as_object_mut().unwrap().remove("exp");
    s.get("/vault/demo", Some(&s.key.sign(&no_exp)))
        .await
        .assert_error(401, "InvalidAuthorizationClaims");

    // Signed by a key the tenant never published, under a published kid.
    let forged = TestKey::load("other", "k1").sign(&s.provider.claims(&["GetSecret"]));
    let a = s.get("/vault/demo", Some(&forged)).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert_eq!(a.json()["debug"], "signature does not verify");
}

#[tokio::test]
async fn key_errors_and_algorithm_errors() {
    let s = Setup::start("", |c| c).await;
    let claims = s.provider.claims(&["GetSecret"]);
    let no_kid = s.key.sign_with_kid(&claims, None);
    let a = s.get("/vault/demo", Some(&no_kid)).await;
    a.assert_error(401, "InvalidAuthorizationHeader");
    assert_eq!(a.json()["description"], "Unable to find appropriate key");
    let unknown = s.key.sign_with_kid(&claims, Some("nobody"));
    let a = s.get("/vault/demo", Some(&unknown)).await;
    a.assert_error(401, "InvalidAuthorizationHeader");
    assert_eq!(a.json()["description"], "Unable to find appropriate key");

    // alg none and HS256 (keyed with anything) are never accepted.
    use base64::Engine;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let payload = b64(&claims);
    for header in [
        json!({"alg": "none", "kid": "k1"}),
        json!({"alg": "HS256", "kid": "k1"}),
        json!({"alg": "RS512", "kid": "k1"}),
    ] {
        let token = format!("{}.{payload}.c2lnbmF0dXJl", b64(&header));
        let a = s.get("/vault/demo", Some(&token)).await;
        a.assert_error(401, "InvalidAuthorizationHeader");
        assert_eq!(
            a.json()["description"],
            "Unable to parse authentication token",
            "{header}"
        );
    }
    let unsigned = format!("{}.{payload}.", b64(&json!({"alg": "none"})));
    s.get("/vault/demo", Some(&unsigned))
        .await
        .assert_error(401, "InvalidAuthorizationHeader");
}

#[tokio::test]
async fn secret_name_errors() {
    let s = Setup::start("", |c| c).await;
    let token = s.token(&["GetSecret"]);
    let a = s.get("/vault", Some(&token)).await;
    a.assert_error(400, "SecretNameMissing");
    assert_eq!(
        a.json()["description"],
        "Secret name is missing. Please use QP secret=<secret_name>"
    );
    s.get("/vault?secret=", Some(&token))
        .await
        .assert_error(400, "SecretNameMissing");
    for bad in [
        "/vault/bad_name",
        "/vault?secret=a%2Fb",
        "/vault/%C3%A9",
        "/vault?secret=a&secret=b",
    ] {
        s.get(bad, Some(&token))
            .await
            .assert_error(400, "InvalidSecretName");
    }
    let long = format!("/vault/{}", "a".repeat(128));
    s.get(&long, Some(&token))
        .await
        .assert_error(400, "InvalidSecretName");
    let a = s.get("/vault/nope", Some(&token)).await;
    a.assert_error(404, "SecretNotFound");
    assert_eq!(
        a.json()["description"],
        "Requested secret not found in Key Vault."
    );
    // The guard runs before the name is looked at.
    s.get("/vault/bad_name", None)
        .await
        .assert_error(401, "AuthorizationHeaderMissing");
}

#[tokio::test]
async fn head_routes_and_methods() {
    let s = Setup::start("", |c| c).await;
    let token = bearer(&s.token(&["GetSecret"]));
    let head = request(
        Method::HEAD,
        &s.handler.route("/vault/demo"),
        &[("authorization", Some(&token))],
    )
    .await;
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
    let head = request(Method::HEAD, &s.handler.route("/vault/demo"), &[]).await;
    assert_eq!(head.status, 401);
    assert_eq!(head.body, "");
    let head = request(Method::HEAD, &s.handler.route("/health"), &[]).await;
    assert_eq!(head.status, 200);

    let a = s.get("/nothing-here", None).await;
    a.assert_error(404, "NotFound");
    assert_eq!(a.json()["description"], "No function matches this route.");
    s.get("/vault/a/b", None)
        .await
        .assert_error(404, "NotFound");

    for method in [Method::POST, Method::DELETE, Method::PATCH] {
        let a = request(
            method.clone(),
            &s.handler.route("/vault/demo"),
            &[("authorization", Some(&token))],
        )
        .await;
        a.assert_error(405, "MethodNotAllowed");
        assert_eq!(a.header("allow"), Some("GET, HEAD, PUT"), "{method}");
    }
}

#[tokio::test]
async fn cors_preflight_needs_no_token() {
    let s = Setup::start("", |c| {
        c.set("CORS_ALLOWED_ORIGINS", "https://app.example.com")
    })
    .await;
    let url = s.handler.route("/vault/demo");
    let pre = request(
        Method::OPTIONS,
        &url,
        &[
            ("origin", Some("https://app.example.com")),
            ("access-control-request-method", Some("GET")),
            ("access-control-request-headers", Some("authorization")),
        ],
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("GET, HEAD, PUT")
    );
    assert!(
        pre.header("access-control-allow-headers")
            .unwrap()
            .contains("Authorization")
    );

    let foreign = request(
        Method::OPTIONS,
        &url,
        &[
            ("origin", Some("https://evil.example")),
            ("access-control-request-method", Some("GET")),
        ],
    )
    .await;
    assert_eq!(foreign.header("access-control-allow-origin"), None);
    foreign.assert_error(405, "MethodNotAllowed");

    // Actual requests from the allowed origin can read even error bodies.
    let a = request(
        Method::GET,
        &url,
        &[("origin", Some("https://app.example.com"))],
    )
    .await;
    a.assert_error(401, "AuthorizationHeaderMissing");
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(
        a.header("access-control-expose-headers")
            .unwrap()
            .contains("WWW-Authenticate")
    );
    assert_eq!(a.header("vary"), Some("Origin"));
}

#[tokio::test]
async fn easy_auth_principal_headers_are_not_trusted() {
    let s = Setup::start("", |c| c).await;
    // base64 of {"auth_typ":"aad","claims":[{"typ":"roles","val":"GetSecret"}]}
    let principal =
        "eyJhdXRoX3R5cCI6ImFhZCIsImNsYWltcyI6W3sidHlwIjoicm9sZXMiLCJ2YWwiOiJHZXRTZWNyZXQifV19";
    let a = request(
        Method::GET,
        &s.handler.route("/vault/demo"),
        &[
            ("x-ms-client-principal", Some(principal)),
            ("x-ms-client-principal-idp", Some("aad")),
        ],
    )
    .await;
    a.assert_error(401, "AuthorizationHeaderMissing");
}

#[tokio::test]
async fn debug_field_only_when_enabled() {
    let off = Setup::start("", |c| c).await;
    let mut claims = off.provider.claims(&["GetSecret"]);
    claims["aud"] = json!("api://wrong");
    let a = off.get("/vault/demo", Some(&off.key.sign(&claims))).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert!(a.json().get("debug").is_none(), "{}", a.body);

    let on = Setup::start("", |c| c.set("AUTH_DEBUG_ERRORS", "true")).await;
    let mut claims = on.provider.claims(&["GetSecret"]);
    claims["aud"] = json!("api://wrong");
    let a = on.get("/vault/demo", Some(&on.key.sign(&claims))).await;
    assert_eq!(a.json()["debug"], "audience mismatch: got \"api://wrong\"");
}

#[tokio::test]
async fn any_origin_and_custom_audiences() {
    let s = Setup::start("", |c| {
        c.set("CORS_ALLOWED_ORIGINS", "*").set(
            "AUTH_AUDIENCES",
            "https://api.contoso.example, other-audience",
        )
    })
    .await;
    let pre = request(
        Method::OPTIONS,
        &s.handler.route("/vault/demo"),
        &[
            ("origin", Some("https://anywhere.example")),
            ("access-control-request-method", Some("GET")),
        ],
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    let with_aud = |aud: &str| {
        let mut c = s.provider.claims(&["GetSecret"]);
        c["aud"] = json!(aud);
        s.key.sign(&c)
    };
    assert_eq!(
        s.get(
            "/vault/demo",
            Some(&with_aud("https://api.contoso.example"))
        )
        .await
        .status,
        200
    );
    assert_eq!(
        s.get("/vault/demo", Some(&with_aud("other-audience")))
            .await
            .status,
        200
    );
    // The defaults are replaced, not extended.
    s.get("/vault/demo", Some(&with_aud(&format!("api://{CLIENT}"))))
        .await
        .assert_error(401, "InvalidAuthorizationClaims");
}
