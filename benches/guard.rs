//! Micro-benchmarks of the guard's steps: header parsing, full validation of a fresh token (the
//! one-pass path and the explaining path), validation of a cached token, policy check, error
//! rendering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use funcgate::__private::{
    Policy, Rules, Signer, TokenCache, install_hook, parse, token_cache_key, token_from_header,
    validate_at_once,
};
use funcgate::{ApiError, ErrorKind, Reply};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const ISSUER: &str = "https://login.microsoftonline.com/8d3b5a7e-2c4f-4e1a-9b6d-0f1e2d3c4b5a/v2.0";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({
        "aud": "api://4f6e8a1c-3b5d-4c7e-8f9a-1b2c3d4e5f60", "iss": ISSUER, "iat": now, "nbf": now,
        "exp": now + 3600, "tid": "8d3b5a7e-2c4f-4e1a-9b6d-0f1e2d3c4b5a",
        "oid": "0a1b2c3d-0000-4000-8000-000000000001", "azp": "9a8b7c6d-0000-4000-8000-000000000002",
        "roles": ["GetSecret"], "ver": "2.0", "name": "A realistic token carries a few more claims",
        "uti": "AbCdEfGhIjKlMnOpQrSt", "rh": "0.AAAA-realistic-padding-aaaaaaaaaaaaaaaaaaaaaaaaaaa",
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k1".into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(&fixture("key1.pem")).unwrap(),
    )
    .unwrap()
}

fn key() -> funcgate::__private::VerifyingKey {
    use base64::Engine;
    let jwk: serde_json::Value = serde_json::from_slice(&fixture("key1.jwk.json")).unwrap();
    let b64 = |f: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk[f].as_str().unwrap())
            .unwrap()
    };
    funcgate::__private::rs256_key(&b64("n"), &b64("e")).unwrap()
}

fn benches(c: &mut Criterion) {
    // As the handler does at start-up, before anything signs or decodes (signing the token
    // below would install the crate's own provider): jsonwebtoken verifies with the keys
    // prepared once.
    assert!(
        install_hook(),
        "no other jsonwebtoken provider is installed first"
    );
    let token = token();
    let header = format!("Bearer {token}");
    let key = key();
    let rules = Rules::single(
        vec!["api://4f6e8a1c-3b5d-4c7e-8f9a-1b2c3d4e5f60".into()],
        300,
    );
    let signer = Signer {
        metadata_issuer: ISSUER,
        key_issuer: None,
    };
    let now = funcgate::__private::unix_now();

    c.bench_function("header parsing", |b| {
        b.iter(|| token_from_header(Some(std::hint::black_box(&header))).unwrap())
    });
    c.bench_function("full validation of a fresh token", |b| {
        b.iter(|| {
            validate_at_once(std::hint::black_box(&token), &key, &rules, signer, now).unwrap()
        })
    });
    // What a token the one-pass path does not accept goes through (refusals, multi-tenant).
    c.bench_function("full validation, the explaining path", |b| {
        b.iter(|| {
            let parsed = parse(std::hint::black_box(&token)).unwrap();
            parsed.validate(&key, &rules, signer, now).unwrap()
        })
    });
    let cache = TokenCache::new(10_000, 300);
    let identity = {
        let parsed = parse(&token).unwrap();
        Arc::new(parsed.validate(&key, &rules, signer, now).unwrap())
    };
    cache.insert(
        token_cache_key(&token),
        Arc::clone(&identity),
        identity.not_before,
        1,
    );
    c.bench_function("validation of a cached token", |b| {
        b.iter(|| {
            let k = token_cache_key(std::hint::black_box(&token));
            cache.get(&k, now, 1).unwrap()
        })
    });
    let policy = Policy::parse("roles:GetSecret|scopes:Secrets.Read").unwrap();
    c.bench_function("policy check", |b| {
        b.iter(|| policy.check(std::hint::black_box(&identity)).unwrap())
    });
    let err = ApiError::new(ErrorKind::TokenExpired).because("token expired 10 seconds ago");
    c.bench_function("error rendering", |b| {
        b.iter(|| Reply::error(std::hint::black_box(&err), false))
    });
    c.bench_function("error rendering with debug", |b| {
        b.iter(|| Reply::error(std::hint::black_box(&err), true))
    });
    // A downstream call once its on-behalf-of token is cached: the key (SHA-256 of the
    // inbound token, tenant, scopes) and the cache lookup (issue 29).
    let downstream = funcgate::__private::CachedTokenBench::new(&token);
    c.bench_function("downstream token, cached", |b| {
        b.iter(|| assert!(downstream.lookup(std::hint::black_box(&token))))
    });
}

criterion_group!(guard, benches);
criterion_main!(guard);
