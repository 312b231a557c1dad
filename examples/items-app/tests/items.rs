#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The items API and the echo, through funcgate's testing kit: a loopback identity provider
//! with a test key, and the app served in-process, called in both host protocols.

use funcgate::testing::{IdentityProvider, TestApp, invocation_copy};
use serde_json::{Value, json};

fn start(idp: &IdentityProvider) -> TestApp {
    TestApp::start(
        items_app::app(),
        env!("CARGO_MANIFEST_DIR"),
        idp,
        &[("AUTH_DEBUG_ERRORS", "true")],
    )
    .unwrap()
}

#[tokio::test]
async fn items_follow_the_sample_contract() {
    let idp = IdentityProvider::start();
    let app = start(&idp);
    let read = idp.token(json!({"scp": "Api.Read"}));
    let write = idp.token(json!({"scp": "Api.Write"}));
    let json = "application/json";
    let body = |v: Value| v.to_string().into_bytes();

    // No token, and the wrong scope for each kind of method.
    assert_eq!(
        app.get("/items", None).await.code(),
        "AuthorizationHeaderMissing"
    );
    let a = app.get("/items", Some(&write)).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (403, "AuthorizationScopeForbidden")
    );
    let a = app
        .call(
            "POST",
            "/items",
            Some(&read),
            Some((json, &body(json!({"id": "1", "name": "a"})))),
        )
        .await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (403, "AuthorizationScopeForbidden")
    );

    // Create, conflict, read, list.
    let a = app
        .call(
            "POST",
            "/items",
            Some(&write),
            Some((json, &body(json!({"id": "1", "name": "a"})))),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.header("location"), Some("/api/items/1"));
    let a = app
        .call(
            "POST",
            "/items",
            Some(&write),
            Some((json, &body(json!({"id": "1", "name": "b"})))),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (409, "ItemExists"));
    assert_eq!(app.get("/items/1", Some(&read)).await.json()["name"], "a");
    assert_eq!(
        app.get("/items", Some(&read))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let a = app.get("/items/9", Some(&read)).await;
    assert_eq!((a.status, a.code().as_str()), (404, "ItemNotFound"));

    // Replace, change, refuse bad bodies.
    let a = app
        .call(
            "PUT",
            "/items/1",
            Some(&write),
            Some((json, &body(json!({"name": "c", "price": 2.5})))),
        )
        .await;
    assert_eq!((a.status, a.json()["name"].clone()), (200, json!("c")));
    let a = app
        .call(
            "PATCH",
            "/items/1",
            Some(&write),
            Some((json, &body(json!({"price": 3.0})))),
        )
        .await;
    assert_eq!(
        (
            a.status,
            a.json()["price"].clone(),
            a.json()["name"].clone()
        ),
        (200, json!(3.0), json!("c"))
    );
    let a = app
        .call(
            "PATCH",
            "/items/1",
            Some(&write),
            Some((json, &body(json!({"colour": "red"})))),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (400, "InvalidRequestBody"));
    assert!(
        a.json()["debug"]
            .as_str()
            .unwrap()
            .contains("unknown field"),
        "{}",
        a.body
    );
    let a = app
        .call(
            "PUT",
            "/items/1",
            Some(&write),
            Some(("text/plain", b"name=c".as_slice())),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (415, "InvalidContentType"));
    let a = app
        .call(
            "PUT",
            "/items/9",
            Some(&write),
            Some((json, &body(json!({"name": "x"})))),
        )
        .await;
    assert_eq!((a.status, a.code().as_str()), (404, "ItemNotFound"));

    // Delete, then it is gone.
    assert_eq!(
        app.call("DELETE", "/items/1", Some(&write), None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.call("DELETE", "/items/1", Some(&write), None)
            .await
            .status,
        404
    );

    // App roles work as well as delegated scopes.
    let app_only = idp.token(json!({"roles": ["Api.Read"]}));
    assert_eq!(app.get("/items", Some(&app_only)).await.status, 200);
}

/// An id is the caller's text: one with a line break, a `/` and spaces is stored, answered
/// 201 with a `Location` that percent-encodes it (raw, it is no valid header value and the
/// app could only fail after storing the item), and a GET of that `Location` finds it.
#[tokio::test]
async fn ids_are_percent_encoded_in_location() {
    let idp = IdentityProvider::start();
    let app = start(&idp);
    let read = idp.token(json!({"scp": "Api.Read"}));
    let write = idp.token(json!({"scp": "Api.Write"}));
    // An id no path segment can name is refused before anything is stored.
    for bad in ["a/b", "..", "."] {
        let a = app
            .call(
                "POST",
                "/items",
                Some(&write),
                Some((
                    "application/json",
                    json!({"id": bad, "name": "odd"}).to_string().as_bytes(),
                )),
            )
            .await;
        assert_eq!(
            (a.status, a.code().as_str()),
            (400, "InvalidItemId"),
            "{bad}"
        );
    }
    let id = "a?b c\r\nSet-Cookie: x=1";
    let a = app
        .call(
            "POST",
            "/items",
            Some(&write),
            Some((
                "application/json",
                json!({"id": id, "name": "odd"}).to_string().as_bytes(),
            )),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.json()["id"], id);
    assert_eq!(a.header("set-cookie"), None, "no header was injected");
    let location = a.header("location").unwrap();
    assert_eq!(location, "/api/items/a%3Fb%20c%0D%0ASet-Cookie%3A%20x%3D1");
    // The app's route prefix is `api`; the test kit adds it back.
    let a = app
        .get(location.strip_prefix("/api").unwrap(), Some(&read))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["id"], id);
}

#[tokio::test]
async fn the_same_calls_arrive_as_invocation_payloads() {
    let idp = IdentityProvider::start();
    // The host sends payloads only where host.json forwards nothing (or a function has more
    // bindings than HTTP in and out): the same app, its host.json changed so.
    let invoked = invocation_copy(env!("CARGO_MANIFEST_DIR")).unwrap();
    let app = TestApp::start(
        items_app::app(),
        invoked.path(),
        &idp,
        &[("AUTH_DEBUG_ERRORS", "true")],
    )
    .unwrap();
    let write = idp.token(json!({"roles": ["Api.Write", "Api.Read"]}));
    let created = app
        .invoke(
            "items",
            "POST",
            "/api/items",
            &[],
            Some(&write),
            Some(("application/json", r#"{"id":"7","name":"seven"}"#)),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let read = app
        .invoke(
            "items",
            "GET",
            "/api/items/7",
            &[("id", "7")],
            Some(&write),
            None,
        )
        .await;
    assert_eq!(read.json()["name"], "seven");
    let missing = app
        .invoke(
            "items",
            "GET",
            "/api/items/8",
            &[("id", "8")],
            Some(&write),
            None,
        )
        .await;
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (404, "ItemNotFound")
    );
    let anonymous = app
        .invoke("items", "GET", "/api/items", &[], None, None)
        .await;
    assert_eq!(anonymous.code(), "AuthorizationHeaderMissing");
}

#[tokio::test]
async fn echo_returns_the_callers_upn() {
    let idp = IdentityProvider::start();
    let app = start(&idp);
    let user = idp.token(json!({"scp": "User.Read", "upn": "ada@contoso.com", "name": "Ada"}));
    let a = app.get("/echo", Some(&user)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json(), json!({"upn": "ada@contoso.com", "name": "Ada"}));
    // An app-only token has no upn: the claim is absent, not an error.
    let service = idp.token(json!({"roles": ["Api.Read"]}));
    assert_eq!(
        app.get("/echo", Some(&service)).await.json()["upn"],
        Value::Null
    );
    // A upn of the wrong type is refused with the catalogue's claims error.
    let odd = idp.token(json!({"upn": 42}));
    let a = app.get("/echo", Some(&odd)).await;
    assert_eq!(
        (a.status, a.code().as_str()),
        (401, "InvalidAuthorizationClaims")
    );
    // health is funcgate's own, registered beside the team's functions.
    assert_eq!(app.get("/health", None).await.status, 200);
}

#[tokio::test]
async fn the_built_executable_answers_the_same() {
    let idp = IdentityProvider::start();
    let app = TestApp::start_binary(
        env!("CARGO_BIN_EXE_items-app"),
        env!("CARGO_MANIFEST_DIR"),
        &idp,
        &[],
    )
    .await
    .unwrap();
    let write = idp.token(json!({"scp": "Api.Write Api.Read", "upn": "ada@contoso.com"}));
    let item = json!({"id": "1", "name": "a"}).to_string();
    let a = app
        .call(
            "POST",
            "/items",
            Some(&write),
            Some(("application/json", item.as_bytes())),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = app.get("/items/2", Some(&write)).await;
    assert_eq!((a.status, a.code().as_str()), (404, "ItemNotFound"));
    assert_eq!(app.get("/items/1", Some(&write)).await.json()["name"], "a");
    assert_eq!(
        app.get("/echo", Some(&write)).await.json()["upn"],
        "ada@contoso.com"
    );
    assert_eq!(
        app.get("/items", None).await.code(),
        "AuthorizationHeaderMissing"
    );
    // The team's own codes reach the call line like the gate's.
    let logs = app.logs();
    assert!(
        logs.contains("call function=items method=GET status=404 code=ItemNotFound"),
        "{logs}"
    );
}

#[tokio::test]
async fn events_stream_through_the_built_executable() {
    let idp = IdentityProvider::start();
    let app = TestApp::start_binary(
        env!("CARGO_BIN_EXE_items-app"),
        env!("CARGO_MANIFEST_DIR"),
        &idp,
        &[],
    )
    .await
    .unwrap();
    let reader = idp.token(json!({"roles": ["Api.Read"]}));
    // As proxying mode passes it on: the first event long before the last.
    let (head, pieces) = app.get_pieces("/events", Some(&reader)).await;
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    let text: String = pieces.iter().map(|(_, p)| p.as_str()).collect();
    assert_eq!(text.matches("event: count").count(), 3, "{text}");
    let (first, last) = (pieces[0].0, pieces[pieces.len() - 1].0);
    assert!(pieces[0].1.starts_with("event: count"));
    assert!(
        last - first >= std::time::Duration::from_millis(700),
        "{pieces:?}"
    );
    // As the invocation protocol (a mode that buffers) carries it: whole.
    let invoked = invocation_copy(env!("CARGO_MANIFEST_DIR")).unwrap();
    let app = TestApp::start_binary(env!("CARGO_BIN_EXE_items-app"), invoked.path(), &idp, &[])
        .await
        .unwrap();
    let whole = app
        .invoke("events", "GET", "/api/events", &[], Some(&reader), None)
        .await;
    assert_eq!(whole.status, 200, "{}", whole.body);
    assert_eq!(whole.body.matches("event: count").count(), 3);
}
