//! Tenants, issuers, clouds and permissions: who is accepted, and what `debug` says when not.

use crate::support::*;
use serde_json::{Value, json};

const T2: &str = "22222222-3333-4444-8555-666666666666";
const T3: &str = "33333333-4444-4555-8666-777777777777";

/// v2 claims for `tenant`, issued by the provider's issuer for that tenant.
fn claims_for(p: &Provider, tenant: &str, roles: &[&str]) -> Value {
    let mut c = p.claims(roles);
    c["tid"] = json!(tenant);
    c["iss"] = json!(p.issuer_for(tenant));
    c
}

fn v1_for(p: &Provider, tenant: &str, roles: &[&str]) -> Value {
    let mut c = p.v1_claims(roles);
    c["tid"] = json!(tenant);
    c["iss"] = json!(format!("https://sts.windows.net/{tenant}/"));
    c
}

#[tokio::test]
async fn multi_tenant_allowlist_uses_each_tenants_own_keys() {
    let k1 = TestKey::load("key1", "k1");
    let k2 = TestKey::load("key2", "k2");
    let provider = Provider::start(vec![]);
    provider.set_tenant_keys(TENANT, vec![k1.clone()]);
    provider.set_tenant_keys(T2, vec![k2.clone()]);
    let app = AppDir::new("");
    let handler = HandlerConfig::hosted(&app, &provider.base)
        .set("AUTH_TENANT_ID", "organizations")
        .set(
            "AUTH_ALLOWED_TENANTS",
            &format!("{TENANT}, {}", T2.to_uppercase()),
        )
        .set("AUTH_DEBUG_ERRORS", "true")
        .spawn()
        .await;
    let url = handler.url("/vault/demo");
    let ask = |token: String| {
        let url = url.clone();
        async move { get(&url, Some(&bearer(&token))).await }
    };
    // Both allowed tenants, v1 and v2, each with its own key (keys load in the background).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let a = ask(k2.sign(&claims_for(&provider, T2, &["GetSecret"]))).await;
        if a.status == 200 || std::time::Instant::now() > deadline {
            assert_eq!(a.status, 200, "{}", a.body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        ask(k1.sign(&claims_for(&provider, TENANT, &["GetSecret"])))
            .await
            .status,
        200
    );
    assert_eq!(
        ask(k1.sign(&v1_for(&provider, TENANT, &["GetSecret"])))
            .await
            .status,
        200
    );
    // A tenant's token signed with another tenant's key: that key is not in its set.
    ask(k2.sign(&claims_for(&provider, TENANT, &["GetSecret"])))
        .await
        .assert_error(401, "InvalidAuthorizationHeader");
    // A tenant that is not allowed.
    let a = ask(k1.sign(&claims_for(&provider, T3, &["GetSecret"]))).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert!(
        a.json()["debug"].as_str().unwrap().contains("not allowed"),
        "{}",
        a.body
    );
    // tid and iss must agree.
    let mut mixed = claims_for(&provider, TENANT, &["GetSecret"]);
    mixed["iss"] = json!(provider.issuer_for(T2));
    ask(k1.sign(&mixed))
        .await
        .assert_error(401, "InvalidAuthorizationClaims");
    // No tid at all.
    let mut no_tid = claims_for(&provider, TENANT, &["GetSecret"]);
    no_tid.as_object_mut().unwrap().remove("tid");
    let a = ask(k1.sign(&no_tid)).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert!(a.json()["debug"].as_str().unwrap().contains("tid"));
}

#[tokio::test]
async fn multi_tenant_any_tenant_uses_the_shared_keys_and_templated_issuer() {
    let provider = Provider::start(vec![]);
    // Entra's shared keys name a templated issuer.
    let key =
        TestKey::load("key1", "k1").with_issuer(&format!("{}/{{tenantid}}/v2.0", provider.base));
    provider.set_tenant_keys("organizations", vec![key.clone()]);
    let app = AppDir::new("");
    let handler = HandlerConfig::hosted(&app, &provider.base)
        .set("AUTH_TENANT_ID", "organizations")
        .set("AUTH_ALLOW_ANY_TENANT", "true")
        // Roles from any tenant mean nothing unless the client applications are narrowed.
        .set(
            "AUTH_ALLOWED_CLIENT_APPS",
            "9a8b7c6d-0000-4000-8000-000000000002",
        )
        .set("AUTH_DEBUG_ERRORS", "true")
        .spawn()
        .await;
    handler.wait_for_keys().await;
    let url = handler.url("/vault/demo");
    for tenant in [TENANT, T2, T3] {
        let a = get(
            &url,
            Some(&bearer(&key.sign(&claims_for(
                &provider,
                tenant,
                &["GetSecret"],
            )))),
        )
        .await;
        assert_eq!(a.status, 200, "{tenant}: {}", a.body);
        let a = get(
            &url,
            Some(&bearer(&key.sign(&v1_for(
                &provider,
                tenant,
                &["GetSecret"],
            )))),
        )
        .await;
        assert_eq!(a.status, 200, "v1 {tenant}: {}", a.body);
    }
    let mut mixed = claims_for(&provider, T2, &["GetSecret"]);
    mixed["tid"] = json!(T3);
    let a = get(&url, Some(&bearer(&key.sign(&mixed)))).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    let mut no_tid = claims_for(&provider, T2, &["GetSecret"]);
    no_tid.as_object_mut().unwrap().remove("tid");
    get(&url, Some(&bearer(&key.sign(&no_tid))))
        .await
        .assert_error(401, "InvalidAuthorizationClaims");
}

#[tokio::test]
async fn single_tenant_refuses_other_tenants() {
    let s = Setup::start("", |c| c.set("AUTH_DEBUG_ERRORS", "true")).await;
    let a = s
        .get(
            "/vault/demo",
            Some(&s.key.sign(&claims_for(&s.provider, T2, &["GetSecret"]))),
        )
        .await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert!(
        a.json()["debug"].as_str().unwrap().contains("not allowed"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn multi_tenant_settings_are_checked_at_start() {
    let app = AppDir::new("");
    let base = || HandlerConfig::hosted(&app, "http://127.0.0.1:9").set("AUTH_TENANT_ID", "common");
    base().assert_fails_naming("AUTH_ALLOWED_TENANTS");
    base()
        .set("AUTH_ALLOWED_TENANTS", T2)
        .set("AUTH_ALLOW_ANY_TENANT", "true")
        .assert_fails_naming("AUTH_ALLOW_ANY_TENANT");
}

#[tokio::test]
async fn token_versions_issuers_and_client_apps() {
    let s = Setup::start("", |c| {
        c.set("AUTH_TOKEN_VERSIONS", "2.0")
            .set(
                "AUTH_ALLOWED_CLIENT_APPS",
                "9a8b7c6d-0000-4000-8000-000000000002",
            )
            .set("AUTH_DEBUG_ERRORS", "true")
    })
    .await;
    s.assert_serves_vault().await;
    let a = s
        .get(
            "/vault/demo",
            Some(&s.key.sign(&s.provider.v1_claims(&["GetSecret"]))),
        )
        .await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert!(
        a.json()["debug"]
            .as_str()
            .unwrap()
            .contains("AUTH_TOKEN_VERSIONS")
    );
    let mut other_client = s.provider.claims(&["GetSecret"]);
    other_client["azp"] = json!("someone-else");
    let a = s.get("/vault/demo", Some(&s.key.sign(&other_client))).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert!(
        a.json()["debug"]
            .as_str()
            .unwrap()
            .contains("client application")
    );
}

#[tokio::test]
async fn metadata_url_and_issuer_overrides_serve_other_providers() {
    let key = TestKey::load("key1", "k1");
    let provider = Provider::start(vec![key.clone()]);
    let app = AppDir::new("");
    let b2c_issuer = "https://contoso.b2clogin.com/tfp/contoso/b2c_1_signin/v2.0/";
    let handler = HandlerConfig::hosted(&app, "https://unused.invalid")
        .unset("AUTH_TENANT_ID")
        .set(
            "AUTH_METADATA_URL",
            &format!(
                "{}/b2c-tenant/v2.0/.well-known/openid-configuration",
                provider.base
            ),
        )
        .set("AUTH_ISSUERS", b2c_issuer)
        .spawn()
        .await;
    handler.wait_for_keys().await;
    let mut claims = provider.claims(&["GetSecret"]);
    claims["iss"] = json!(b2c_issuer);
    claims["ver"] = json!("1.0");
    claims.as_object_mut().unwrap().remove("tid");
    let a = get(
        &handler.url("/vault/demo"),
        Some(&bearer(&key.sign(&claims))),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // The discovery issuer is not accepted when AUTH_ISSUERS replaces it.
    let a = get(
        &handler.url("/vault/demo"),
        Some(&bearer(&key.sign(&provider.claims(&["GetSecret"])))),
    )
    .await;
    a.assert_error(401, "InvalidAuthorizationClaims");
}

#[tokio::test]
async fn role_or_scope_matrix() {
    let s = Setup::start("", |c| {
        c.set("AUTH_POLICY_VAULT", "roles:GetSecret|scopes:GetSecret")
    })
    .await;
    let app_only = |roles: Option<&[&str]>| {
        let mut c = s.provider.claims(roles.unwrap_or(&[]));
        if roles.is_none() {
            c.as_object_mut().unwrap().remove("roles");
        }
        c["idtyp"] = json!("app");
        s.key.sign(&c)
    };
    let delegated = |scp: &str, roles: &[&str]| {
        let mut c = s.provider.claims(roles);
        if roles.is_empty() {
            c.as_object_mut().unwrap().remove("roles");
        }
        c["scp"] = json!(scp);
        s.key.sign(&c)
    };
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "app-only with the role",
            app_only(Some(&["GetSecret"])),
            200,
            "",
        ),
        (
            "app-only, no roles",
            app_only(None),
            403,
            "AuthorizationRolesMissing",
        ),
        (
            "app-only, other role",
            app_only(Some(&["Reader"])),
            403,
            "AuthorizationRoleForbidden",
        ),
        (
            "delegated with the scope",
            delegated("User.Read GetSecret", &[]),
            200,
            "",
        ),
        (
            "delegated, other scope",
            delegated("User.Read", &[]),
            403,
            "AuthorizationScopeForbidden",
        ),
        (
            "delegated user holding the role",
            delegated("User.Read", &["GetSecret"]),
            200,
            "",
        ),
    ];
    for (what, token, status, code) in cases {
        let a = s.get("/vault/demo", Some(&token)).await;
        assert_eq!(a.status, status, "{what}: {}", a.body);
        if status == 403 {
            a.assert_error(403, code);
            assert!(
                a.header("www-authenticate")
                    .unwrap()
                    .starts_with("Bearer error=\"insufficient_scope\", scope=\"GetSecret\"")
            );
        }
    }
    // With a scope-only policy, app-only tokens can never pass.
    let s2 = Setup::start("", |c| {
        c.set("AUTH_POLICY_VAULT", "all-scopes:Secrets.Read,Secrets.List")
    })
    .await;
    let mut c = s2.provider.claims(&["GetSecret"]);
    c["scp"] = json!("Secrets.Read");
    s2.get("/vault/demo", Some(&s2.key.sign(&c)))
        .await
        .assert_error(403, "AuthorizationScopeForbidden");
    c["scp"] = json!("Secrets.List Secrets.Read");
    assert_eq!(
        s2.get("/vault/demo", Some(&s2.key.sign(&c))).await.status,
        200
    );
    s2.get("/vault/demo", Some(&s2.token(&["GetSecret"])))
        .await
        .assert_error(403, "AuthorizationScopeForbidden");
}

#[tokio::test]
async fn debug_reasons_name_the_real_problem() {
    let s = Setup::start("", |c| c.set("AUTH_DEBUG_ERRORS", "true")).await;
    let debug = |a: &Answer| a.json()["debug"].as_str().unwrap_or("").to_owned();
    let with = |k: &str, v: Value| {
        let mut c = s.provider.claims(&["GetSecret"]);
        c[k] = v;
        s.key.sign(&c)
    };
    let a = s
        .get("/vault/demo", Some(&with("aud", json!("api://other-app"))))
        .await;
    assert_eq!(debug(&a), "audience mismatch: got \"api://other-app\"");
    let a = s
        .get(
            "/vault/demo",
            Some(&with("aud", json!("https://graph.microsoft.com"))),
        )
        .await;
    assert!(debug(&a).contains("Microsoft Graph"), "{}", a.body);
    let a = s
        .get("/vault/demo", Some(&with("nonce", json!("n-0S6_WzA2Mj"))))
        .await;
    assert!(debug(&a).contains("ID token"), "{}", a.body);
    let a = s.get("/vault/demo", Some(&with("ver", json!("1.0")))).await;
    assert!(debug(&a).contains("v1/v2 issuer mix"), "{}", a.body);
    let a = s
        .get(
            "/vault/demo",
            Some(&with(
                "iss",
                json!("https://login.microsoftonline.com/common/v2.0"),
            )),
        )
        .await;
    assert!(debug(&a).contains("issuer not accepted"), "{}", a.body);
    let a = s
        .get("/vault/demo", Some(&with("exp", json!(now() - 1000))))
        .await;
    a.assert_error(401, "AuthorizationTokenExpired");
    assert!(debug(&a).starts_with("token expired 10"), "{}", a.body);
    // Graph tokens carry a nonce in their header and cannot be verified by anyone but Graph.
    use base64::Engine;
    let token = s.token(&["GetSecret"]);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let header = json!({"alg": "RS256", "kid": "k1", "nonce": "abc", "typ": "JWT"});
    parts[0] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(header.to_string());
    let a = s.get("/vault/demo", Some(&parts.join("."))).await;
    a.assert_error(401, "InvalidAuthorizationClaims");
    assert!(debug(&a).contains("Microsoft Graph"), "{}", a.body);
}

#[tokio::test]
async fn whoami_echoes_the_validated_identity() {
    let s = Setup::start("", |c| c).await;
    s.get("/whoami", None)
        .await
        .assert_error(401, "AuthorizationHeaderMissing");
    let a = s.get("/whoami", Some(&s.token(&[]))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let body = a.json();
    assert_eq!(body["authenticated"], true);
    assert_eq!(body["tenantId"], TENANT);
    assert_eq!(body["objectId"], "0a1b2c3d-0000-4000-8000-000000000001");
    assert_eq!(body["clientApp"], "9a8b7c6d-0000-4000-8000-000000000002");
    assert_eq!(body["tokenVersion"], "2.0");
    assert_eq!(body["roles"], json!([]));
    assert!(body["expiresAt"].as_i64().unwrap() > now());
    let mut c = s.provider.v1_claims(&["GetSecret"]);
    c["scp"] = json!("User.Read Files.Read");
    let body = s.get("/whoami", Some(&s.key.sign(&c))).await.json();
    assert_eq!(body["tokenVersion"], "1.0");
    assert_eq!(body["scopes"], json!(["User.Read", "Files.Read"]));
    assert_eq!(body["roles"], json!(["GetSecret"]));
    assert_eq!(body["clientApp"], "9a8b7c6d-0000-4000-8000-000000000002");
}
