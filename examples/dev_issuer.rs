//! A local development token issuer, for `make demo` and for trying funcgate offline.
//!
//! It serves an OpenID discovery document and JWKS the way Entra ID does and mints RS256 access
//! tokens on request with a published **test** key (`tests/fixtures/key1.pem`). It is an
//! example, never part of `handler`: nothing it signs is trusted by a real deployment.
//!
//! Usage: `cargo run --example dev_issuer [PORT]` (default 7099), then
//! `curl 'http://127.0.0.1:7099/token?roles=GetSecret'`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Value, json};

/// The tenant the dev issuer speaks for.
const TENANT: &str = "dddddddd-0000-4000-8000-000000000001";
/// The API's client id in the demo.
const CLIENT: &str = "dddddddd-0000-4000-8000-0000000000a1";
const KID: &str = "dev-key-1";
const PRIVATE_KEY: &[u8] = include_bytes!("../tests/fixtures/key1.pem");
const PUBLIC_JWK: &str = include_str!("../tests/fixtures/key1.jwk.json");

struct Issuer {
    base: String,
    key: EncodingKey,
}

#[derive(Deserialize)]
struct TokenQuery {
    /// Comma-separated app roles.
    roles: Option<String>,
    /// Space-separated delegated scopes.
    scp: Option<String>,
    /// Lifetime in seconds (default 3600; negative gives an expired token).
    ttl: Option<i64>,
    /// Comma-separated authentication contexts (`acrs`), for trying step-up rules.
    acrs: Option<String>,
    /// Client capabilities (`xms_cc`, e.g. `cp1`: the client answers claims challenges).
    xms_cc: Option<String>,
    /// The user principal name (`upn`).
    upn: Option<String>,
}

async fn discovery(issuer: web::Data<Issuer>, tenant: web::Path<String>) -> HttpResponse {
    let base = &issuer.base;
    HttpResponse::Ok().json(json!({
        "issuer": format!("{base}/{tenant}/v2.0"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "token_endpoint": format!("{base}/token"),
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn jwks() -> HttpResponse {
    let mut jwk: Value = serde_json::from_str(PUBLIC_JWK).unwrap_or_default();
    jwk["kid"] = json!(KID);
    jwk["use"] = json!("sig");
    HttpResponse::Ok().json(json!({ "keys": [jwk] }))
}

async fn token(issuer: web::Data<Issuer>, q: web::Query<TokenQuery>) -> HttpResponse {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let ttl = q.ttl.unwrap_or(3600);
    let mut claims = json!({
        "aud": format!("api://{CLIENT}"),
        "iss": format!("{}/{TENANT}/v2.0", issuer.base),
        "iat": now.min(now + ttl) - 60,
        "nbf": now.min(now + ttl) - 60,
        "exp": now + ttl,
        "tid": TENANT,
        "oid": "dddddddd-0000-4000-8000-0000000000b1",
        "sub": "dev-user",
        "azp": "dddddddd-0000-4000-8000-0000000000c1",
        "ver": "2.0",
    });
    if let Some(roles) = &q.roles {
        let list: Vec<&str> = roles.split(',').filter(|r| !r.is_empty()).collect();
        claims["roles"] = json!(list);
    }
    for (name, list) in [("acrs", &q.acrs), ("xms_cc", &q.xms_cc)] {
        if let Some(list) = list {
            let list: Vec<&str> = list.split(',').filter(|v| !v.is_empty()).collect();
            claims[name] = json!(list);
        }
    }
    if let Some(upn) = &q.upn {
        claims["upn"] = json!(upn);
    }
    if let Some(scp) = &q.scp {
        claims["scp"] = json!(scp);
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.into());
    match jsonwebtoken::encode(&header, &claims, &issuer.key) {
        Ok(t) => HttpResponse::Ok().content_type("text/plain").body(t),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(7099);
    let key = EncodingKey::from_rsa_pem(PRIVATE_KEY)
        .map_err(|e| std::io::Error::other(format!("dev key: {e}")))?;
    let issuer = web::Data::new(Issuer {
        base: format!("http://127.0.0.1:{port}"),
        key,
    });
    println!(
        "dev issuer on http://127.0.0.1:{port}: AUTH_INSTANCE=http://127.0.0.1:{port} AUTH_TENANT_ID={TENANT} AUTH_CLIENT_ID={CLIENT}"
    );
    HttpServer::new(move || {
        App::new()
            .app_data(issuer.clone())
            .route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                web::get().to(discovery),
            )
            .route("/{tenant}/discovery/v2.0/keys", web::get().to(jwks))
            .route("/token", web::get().to(token))
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
