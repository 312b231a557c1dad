#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `GET /api/me` against the built executable: the caller's Graph profile fetched on the
//! caller's behalf. The testing kit's identity provider plays Entra's token endpoint and the
//! managed identity endpoint; a Graph stand-in here records what reaches it.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use funcgate::testing::{CLIENT_ID, IdentityProvider, TENANT_ID, TestApp};
use serde_json::{Value, json};

/// What reached the Graph stand-in: (path, Authorization).
type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Graph's `/v1.0/me`, answering the profile named by the token it was given.
fn graph() -> (String, Seen, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let recorded = Arc::clone(&seen);
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let recorded = actix_web::web::Data::new(recorded);
            let server =
                actix_web::HttpServer::new(move || {
                    actix_web::App::new().app_data(recorded.clone()).default_service(
                    actix_web::web::to(
                        |req: actix_web::HttpRequest, seen: actix_web::web::Data<Seen>| async move {
                            let auth = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned();
                            seen.lock().unwrap().push((req.path().to_owned(), auth.clone()));
                            let claims = auth
                                .strip_prefix("Bearer ")
                                .map(payload)
                                .unwrap_or(Value::Null);
                            actix_web::HttpResponse::Ok().json(json!({
                                "userPrincipalName": claims["upn"],
                                "displayName": "Ada Lovelace",
                                "tokenAudience": claims["aud"],
                            }))
                        },
                    ),
                )
                })
                .workers(1)
                .listen(listener)
                .unwrap()
                .run();
            tx.send(server.handle()).unwrap();
            let _ = server.await;
        });
    });
    (url, seen, rx.recv().unwrap())
}

/// A JWT's payload, read (not verified) for assertions.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// The app with the managed identity as its credential, the tests' usual start.
async fn start_with_managed_identity(idp: &IdentityProvider, graph: &str) -> TestApp {
    start(
        idp,
        graph,
        &[("AUTH_CLIENT_CREDENTIAL", "managed_identity")],
    )
    .await
}

async fn start(idp: &IdentityProvider, graph: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut settings: Vec<(String, String)> = idp.managed_identity_settings();
    settings.push(("DOWNSTREAM_GRAPH_URL".into(), graph.into()));
    settings.push(("DOWNSTREAM_DIRECTORY_URL".into(), graph.into()));
    settings.push(("AUTH_DEBUG_ERRORS".into(), "true".into()));
    for (k, v) in extra {
        settings.retain(|(name, _)| name != k);
        settings.push(((*k).into(), (*v).into()));
    }
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    TestApp::start_binary(
        env!("CARGO_BIN_EXE_items-app"),
        env!("CARGO_MANIFEST_DIR"),
        idp,
        &pairs,
    )
    .await
    .unwrap()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn user(idp: &IdentityProvider, upn: &str) -> String {
    idp.token(json!({"scp": "Api.Read", "upn": upn, "oid": format!("oid-{upn}")}))
}

#[tokio::test]
async fn the_managed_identity_credential_exchanges_the_callers_token() {
    let idp = IdentityProvider::start();
    let (graph_url, seen, _graph) = graph();
    let app = start_with_managed_identity(&idp, &graph_url).await;
    let inbound = user(&idp, "ada@contoso.com");

    let a = app.get("/me", Some(&inbound)).await;
    assert_eq!(a.status, 200, "{} {}", a.body, app.logs());
    assert_eq!(a.json()["userPrincipalName"], "ada@contoso.com");
    assert_eq!(a.json()["tokenAudience"], "https://graph.microsoft.com");

    // The exact form Entra documents, with a managed identity token as the credential.
    let requests = idp.token_requests();
    assert_eq!(requests.len(), 1);
    let form = &requests[0];
    let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "grant_type",
            "client_id",
            "assertion",
            "scope",
            "requested_token_use",
            "client_assertion_type",
            "client_assertion"
        ]
    );
    assert_eq!(
        field(form, "grant_type"),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    assert_eq!(field(form, "client_id"), Some(CLIENT_ID));
    assert_eq!(field(form, "assertion"), Some(inbound.as_str()));
    assert_eq!(
        field(form, "scope"),
        Some("https://graph.microsoft.com/User.Read")
    );
    assert_eq!(field(form, "requested_token_use"), Some("on_behalf_of"));
    assert_eq!(
        field(form, "client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let proof = payload(field(form, "client_assertion").unwrap());
    assert_eq!(proof["aud"], "api://AzureADTokenExchange");
    assert_eq!(
        idp.managed_identity_requests(),
        ["api://AzureADTokenExchange"]
    );

    // Every outbound request: the inbound token only as the token endpoint's assertion.
    let graph_calls = seen.lock().unwrap().clone();
    assert_eq!(graph_calls.len(), 1);
    assert_eq!(graph_calls[0].0, "/v1.0/me");
    assert!(!graph_calls[0].1.contains(&inbound));
    for (name, value) in form {
        if name != "assertion" {
            assert!(!value.contains(&inbound), "the inbound token in {name}");
        }
    }
    assert!(
        !idp.managed_identity_requests()
            .iter()
            .any(|r| r.contains(&inbound))
    );
    // Nor in the log.
    assert!(!app.logs().contains(&inbound));
}

#[tokio::test]
async fn an_api_declared_as_the_app_gets_the_managed_identitys_own_token() {
    let idp = IdentityProvider::start();
    let (graph_url, seen, _graph) = graph();
    let app = start_with_managed_identity(&idp, &graph_url).await;
    let ada = user(&idp, "ada@contoso.com");
    // An application's token (a role, no `scp`) will do: the call is the app's, not a user's.
    let daemon = idp.token(json!({"roles": ["Api.Read"]}));

    // No token: the gate answers before any token is got.
    assert_eq!(app.get("/org", None).await.status, 401);
    assert!(idp.managed_identity_requests().is_empty());

    for caller in [&ada, &daemon, &ada] {
        let answer = app.get("/org", Some(caller)).await;
        assert_eq!(answer.status, 200, "{} {}", answer.body, app.logs());
        assert_eq!(
            answer.json()["tokenAudience"],
            "https://graph.microsoft.com"
        );
        assert_eq!(answer.json()["userPrincipalName"], Value::Null);
    }
    // One managed identity token for Graph (the scope's resource), shared by every caller;
    // Entra's token endpoint never asked, so no caller's token went anywhere.
    assert_eq!(
        idp.managed_identity_requests(),
        ["https://graph.microsoft.com"]
    );
    assert!(idp.token_requests().is_empty());
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 3);
    for (path, authorization) in &calls {
        assert_eq!(path, "/v1.0/organization");
        let token = authorization.strip_prefix("Bearer ").unwrap();
        assert_ne!(token, ada);
        assert_ne!(token, daemon);
        assert_eq!(
            payload(token)["sub"],
            "7e57da7a-0000-4000-8000-0000000000f1",
            "the managed identity's token"
        );
    }
    let logs = app.logs();
    assert!(!logs.contains(&ada) && !logs.contains(&daemon));
}

#[tokio::test]
async fn tokens_are_cached_per_caller_and_fetched_once_however_many_wait() {
    let idp = IdentityProvider::start();
    let (graph_url, seen, _graph) = graph();
    let app = start_with_managed_identity(&idp, &graph_url).await;
    let ada = user(&idp, "ada@contoso.com");
    let bob = user(&idp, "bob@contoso.com");

    // 100 concurrent first calls for one user, then for two: one token request per user.
    let calls: Vec<_> = (0..100).map(|_| app.get("/me", Some(&ada))).collect();
    for a in futures_join(calls).await {
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_eq!(
        idp.token_requests().len(),
        1,
        "one request for 100 waiting calls"
    );
    let calls: Vec<_> = (0..50)
        .flat_map(|_| [app.get("/me", Some(&ada)), app.get("/me", Some(&bob))])
        .collect();
    for a in futures_join(calls).await {
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_eq!(
        idp.token_requests().len(),
        2,
        "one more, for the second user"
    );
    assert_eq!(seen.lock().unwrap().len(), 200);
    // The managed identity's assertion is cached too.
    assert_eq!(idp.managed_identity_requests().len(), 1);
}

#[tokio::test]
async fn an_expired_token_is_fetched_again() {
    let idp = IdentityProvider::start();
    idp.token_lifetime(2);
    let (graph_url, _seen, _graph) = graph();
    let app = start_with_managed_identity(&idp, &graph_url).await;
    let ada = user(&idp, "ada@contoso.com");
    assert_eq!(app.get("/me", Some(&ada)).await.status, 200);
    assert_eq!(app.get("/me", Some(&ada)).await.status, 200);
    assert_eq!(idp.token_requests().len(), 1);
    // Used until half its life (the margin is five minutes, or half a short life).
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(app.get("/me", Some(&ada)).await.status, 200);
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn a_claims_challenge_reaches_the_caller_byte_for_byte() {
    let idp = IdentityProvider::start();
    let (graph_url, seen, _graph) = graph();
    let app = start_with_managed_identity(&idp, &graph_url).await;
    let claims = r#"{"access_token":{"capolids":{"essential":true,"values":["c1a2b3"]}}}"#;
    idp.answer_next_token_request(
        400,
        json!({
            "error": "interaction_required",
            "error_description": "AADSTS50079: Due to a configuration change made by your administrator, you must enroll in multi-factor authentication.",
            "error_codes": [50079],
            "suberror": "basic_action",
            "claims": claims,
        }),
    );
    let a = app.get("/me", Some(&user(&idp, "ada@contoso.com"))).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (401, "InsufficientClaims"),
        "{}",
        a.body
    );
    let challenge = a.header("www-authenticate").unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(claims);
    assert!(
        challenge.contains("error=\"insufficient_claims\""),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("claims=\"{encoded}\"")),
        "{challenge}"
    );
    // No Entra text beyond a code reaches the caller.
    assert!(!a.body.contains("AADSTS"), "{}", a.body);
    assert!(!a.body.contains("multi-factor"), "{}", a.body);
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn app_only_tokens_are_refused_before_any_exchange() {
    let idp = IdentityProvider::start();
    let (graph_url, seen, _graph) = graph();
    let app = start_with_managed_identity(&idp, &graph_url).await;
    let app_only = idp.token(json!({"roles": ["Api.Read"]}));
    let a = app.get("/me", Some(&app_only)).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (403, "OnBehalfOfUserRequired"),
        "{}",
        a.body
    );
    assert!(idp.token_requests().is_empty());
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_credential_is_a_5xx_and_one_warning_naming_the_setting() {
    let idp = IdentityProvider::start();
    let (graph_url, _seen, _graph) = graph();
    let app = start(
        &idp,
        &graph_url,
        &[
            ("AUTH_CLIENT_CREDENTIAL", "secret"),
            ("AUTH_CLIENT_SECRET", "dev-secret"),
        ],
    )
    .await;
    assert!(
        app.logs()
            .contains("client secret is for local development only"),
        "{}",
        app.logs()
    );
    for _ in 0..2 {
        idp.answer_next_token_request(
            401,
            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]}),
        );
        let a = app.get("/me", Some(&user(&idp, "ada@contoso.com"))).await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (500, "DownstreamCredentialRejected"),
            "{}",
            a.body
        );
        assert!(!a.body.contains("AADSTS"));
    }
    let logs = app.logs();
    assert_eq!(
        logs.matches("AUTH_CLIENT_CREDENTIAL (client secret) was refused")
            .count(),
        1,
        "{logs}"
    );
    assert!(!logs.contains("dev-secret"));
    // The secret credential's form.
    let form = &idp.token_requests()[0];
    assert_eq!(field(form, "client_secret"), Some("dev-secret"));
    assert_eq!(field(form, "client_assertion"), None);
}

#[tokio::test]
async fn the_certificate_credential_signs_an_assertion_naming_its_thumbprint() {
    let idp = IdentityProvider::start();
    let (graph_url, _seen, _graph) = graph();
    let app = start(
        &idp,
        &graph_url,
        &[
            ("AUTH_CLIENT_CREDENTIAL", "certificate"),
            (
                "AUTH_CLIENT_CERTIFICATE_PATH",
                "tests/fixtures/downstream-credential.pem",
            ),
        ],
    )
    .await;
    let a = app.get("/me", Some(&user(&idp, "ada@contoso.com"))).await;
    assert_eq!(a.status, 200, "{} {}", a.body, app.logs());
    let form = &idp.token_requests()[0];
    let proof = field(form, "client_assertion").unwrap();
    let head = header(proof);
    assert_eq!(head["alg"], "PS256");
    let thumbprint = head["x5t#S256"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(thumbprint)
            .unwrap()
            .len(),
        32
    );
    let claims = payload(proof);
    assert_eq!(
        claims["aud"],
        format!("{}/{TENANT_ID}/oauth2/v2.0/token", idp.instance())
    );
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() == 32));
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    assert!(idp.managed_identity_requests().is_empty());
}

#[tokio::test]
async fn wrong_credential_settings_stop_start_up() {
    let idp = IdentityProvider::start();
    for (settings, named) in [
        (
            vec![("AUTH_CLIENT_CREDENTIAL", "password")],
            "AUTH_CLIENT_CREDENTIAL",
        ),
        (
            vec![("AUTH_CLIENT_CREDENTIAL", "secret")],
            "AUTH_CLIENT_SECRET",
        ),
        (
            vec![
                ("AUTH_CLIENT_CREDENTIAL", "certificate"),
                ("AUTH_CLIENT_CERTIFICATE_PATH", "host.json"),
            ],
            "AUTH_CLIENT_CERTIFICATE_PATH",
        ),
        (
            vec![("DOWNSTREAM_GRAPH_URL", "http://graph.example")],
            "DOWNSTREAM_GRAPH_URL",
        ),
    ] {
        let err = TestApp::start_binary(
            env!("CARGO_BIN_EXE_items-app"),
            env!("CARGO_MANIFEST_DIR"),
            &idp,
            &settings,
        )
        .await
        .err()
        .unwrap_or_else(|| panic!("{settings:?} was accepted"))
        .to_string();
        assert!(err.contains(named), "{err}");
    }
}

#[tokio::test]
async fn a_failing_token_source_is_asked_once_for_callers_waiting_together() {
    let idp = IdentityProvider::start();
    let (graph_url, _seen, _graph) = graph();
    let app = start_with_managed_identity(&idp, &graph_url).await;
    idp.answer_next_token_request(503, json!({"error": "temporarily_unavailable"}));
    let ada = user(&idp, "ada@contoso.com");
    let calls: Vec<_> = (0..20).map(|_| app.get("/me", Some(&ada))).collect();
    for a in futures_join(calls).await {
        assert_eq!(
            (a.status, a.code().as_str()),
            (502, "DownstreamTokenUnavailable")
        );
    }
    // The failure is shared for a few seconds rather than retried by each waiter in turn.
    assert_eq!(idp.token_requests().len(), 1);
}

#[tokio::test]
async fn a_lifetime_beyond_belief_is_capped_not_a_crash() {
    let idp = IdentityProvider::start();
    let (graph_url, _seen, _graph) = graph();
    let app = start_with_managed_identity(&idp, &graph_url).await;
    idp.answer_next_token_request(
        200,
        json!({"token_type": "Bearer", "access_token": "opaque", "expires_in": 18446744073709551615u64}),
    );
    let ada = user(&idp, "ada@contoso.com");
    assert_eq!(app.get("/me", Some(&ada)).await.status, 200);
    assert_eq!(app.get("/me", Some(&ada)).await.status, 200);
    assert_eq!(idp.token_requests().len(), 1);
}

/// Runs the futures concurrently and collects their outputs in order.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::with_capacity(futures.len());
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out = Vec::with_capacity(set.len());
    // Poll all together: join_all without another dependency.
    let joined = std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out.len() <= i {
                out.push(None);
            }
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    });
    joined.await;
    out.into_iter().map(|v| v.unwrap()).collect()
}
