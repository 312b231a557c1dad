//! Raw token → validated [`Identity`], in four parts: [`jws`] (the signed token's structure and
//! the crate's checks), [`claims`] (each claim's one JSON type), [`entra`] (Entra's issuer,
//! tenant and client rules) and [`identity`] (what a function gets).
//!
//! What `jsonwebtoken` does here: decoding the JOSE header, the RS256 signature (no other
//! algorithm is ever allowed), `exp` and `nbf` with the clock-skew leeway, the accepted `iss`
//! and `aud` sets, and the required claims (`exp`, `iss`, `aud`).
//!
//! What stays here, because the crate is laxer or because it is Entra's and funcgate's:
//! - structure first: exactly three non-empty base64url segments, and JSON objects with no
//!   repeated names (parsers disagree on which duplicate wins; the crate keeps the last);
//! - one exact JSON type per claim (`exp` as a string is refused, not coerced), checked before
//!   the crate sees the claims, so a malformed claim is never taken for an expired one;
//! - which issuers a token may carry: v1/v2, `{tenantid}` filled from settings or an allowed
//!   `tid`, `AUTH_ISSUERS`; then `tid` consistency, v1/v2 mixes, a key bound to its issuer,
//!   `iat`, ID-token and Graph-token refusal, the client application, and the `debug` reasons;
//! - RFC 7519 NumericDates the crate cannot represent (negative values, before 1970) get the
//!   same leeway rule here, and so does the second at which a token expires (the crate still
//!   accepts `now == exp`; RFC 7519 does not).
//!
//! Two paths, one answer. A fresh token whose key is loaded and whose issuers come from settings
//! is accepted by [`validate_at_once`]: the crate verifies the signature (with the key prepared
//! once, through its verifier hook) and then deserializes funcgate's strict claim type (the
//! claims funcgate reads, each with its type, no repeated names; no JSON map), so the payload
//! is decoded by the crate instead of once here and again there. Either path keeps the claims
//! as the token's payload, read into JSON only when a function or rule asks. Anything it does
//! not accept, for whatever reason, goes through [`parse`] and [`Parsed::validate`], which
//! check structure before any key lookup and explain every refusal; the unit tests run both
//! paths on every token and require the same verdict and the same identity.

mod claims;
mod entra;
mod identity;
mod jws;

pub use entra::{Rules, Signer, Tenancy, V1_ISSUER_CHINA, V1_ISSUER_PUBLIC, is_guid};
pub use identity::{Identity, TokenVersion};
pub use jws::validate_at_once;
pub(crate) use jws::{AtOnce, accept_at_once, named_key};
pub use jws::{Parsed, check_size, parse};

use crate::errors::{ApiError, ErrorKind};

/// A token-supplied string made safe for a reason line: escaped and cut short.
pub(super) fn quoted(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &s[..cut]),
        None => format!("{s:?}"),
    }
}

pub(super) fn unparsable(reason: &str) -> ApiError {
    ApiError::new(ErrorKind::TokenUnparsable).because(reason.to_owned())
}

pub(super) fn invalid(reason: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidClaims).because(reason)
}

#[cfg(test)]
mod proptests {
    use super::entra::check_entra_rules;
    use super::*;
    use crate::auth::bearer::token_from_header;
    use crate::auth::keys::VerifyingKey;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;
    use serde_json::Map;

    const CODES: [&str; 5] = [
        "AuthorizationHeaderMissing",
        "InvalidAuthorizationHeader",
        "AuthorizationTokenNotFound",
        "InvalidAuthorizationHeaderFormat",
        "InvalidAuthorizationClaims",
    ];

    fn rules() -> Rules {
        Rules::single(vec!["api://app".into()], 300)
    }

    /// A 2048-bit key no input is signed with.
    fn key() -> VerifyingKey {
        crate::auth::keys::rs256_key(&[0xC5; 256], &[1, 0, 1]).unwrap()
    }

    /// The whole path without the network: header → token → parse → validate.
    fn judge(header: &str) -> &'static str {
        let token = match token_from_header(Some(header)) {
            Ok(t) => t,
            Err(kind) => return kind.code(),
        };
        match parse(token) {
            Err(e) => e.kind.code(),
            Ok(p) => {
                let signer = Signer {
                    metadata_issuer: "https://login.example/11111111-2222-4333-8444-555555555555/v2.0",
                    key_issuer: None,
                };
                match p.validate(&key(), &rules(), signer, 1_800_000_000) {
                    Ok(_) => "accepted-without-signature",
                    Err(e) => e.kind.code(),
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn random_headers_map_to_a_catalogue_code(header in ".{0,300}") {
            let code = judge(&header);
            prop_assert!(CODES.contains(&code) || code == "AuthorizationTokenExpired", "{code}");
        }

        #[test]
        fn random_bytes_as_tokens_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let text = String::from_utf8_lossy(&bytes);
            let code = judge(&format!("Bearer {text}"));
            prop_assert!(CODES.contains(&code) || code == "AuthorizationTokenExpired", "{code}");
        }

        #[test]
        fn random_json_segments_never_panic(
            header in "\\{.{0,80}\\}",
            payload in "\\{.{0,200}\\}",
            sig in "[A-Za-z0-9_-]{0,40}",
        ) {
            let token = format!(
                "{}.{}.{sig}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload)
            );
            let code = judge(&format!("Bearer {token}"));
            prop_assert!(CODES.contains(&code) || code == "AuthorizationTokenExpired", "{code}");
        }

        #[test]
        fn random_claims_never_validate_into_a_panic(
            exp in proptest::option::of(any::<f64>()),
            nbf in proptest::option::of(any::<i64>()),
            aud in proptest::option::of(".{0,20}"),
            roles in proptest::option::of(proptest::collection::vec(".{0,8}", 0..3)),
            tid in proptest::option::of(".{0,40}"),
        ) {
            let mut claims = Map::new();
            if let Some(exp) = exp { claims.insert("exp".into(), serde_json::json!(exp)); }
            if let Some(nbf) = nbf { claims.insert("nbf".into(), serde_json::json!(nbf)); }
            if let Some(aud) = aud { claims.insert("aud".into(), serde_json::json!(aud)); }
            if let Some(roles) = roles { claims.insert("roles".into(), serde_json::json!(roles)); }
            if let Some(tid) = tid { claims.insert("tid".into(), serde_json::json!(tid)); }
            claims.insert("iss".into(), serde_json::json!("https://login.example/11111111-2222-4333-8444-555555555555/v2.0"));
            let signer = Signer {
                metadata_issuer: "https://login.example/11111111-2222-4333-8444-555555555555/v2.0",
                key_issuer: None,
            };
            let _ = check_entra_rules(&claims, &rules(), signer, 1_800_000_000);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::entra::tenant_in_issuer;
    use super::jws::MAX_TOKEN_BYTES;
    use super::*;
    use crate::auth::keys::{KeyRef, VerifyingKey};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::Algorithm;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::Value;
    use serde_json::json;
    use std::sync::LazyLock;

    /// Real time: jsonwebtoken checks `exp` and `nbf` against the clock.
    static NOW: LazyLock<i64> = LazyLock::new(crate::auth::unix_now);

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// The fixture key pair `key1`: signing key, and the verifying key its JWK describes.
    static KEYS: LazyLock<(EncodingKey, VerifyingKey)> = LazyLock::new(|| {
        let jwk: Value = serde_json::from_slice(&fixture("key1.jwk.json")).unwrap();
        let b64 = |f: &str| URL_SAFE_NO_PAD.decode(jwk[f].as_str().unwrap()).unwrap();
        (
            EncodingKey::from_rsa_pem(&fixture("key1.pem")).unwrap(),
            crate::auth::keys::rs256_key(&b64("n"), &b64("e")).unwrap(),
        )
    });

    /// Signs `claims` with the fixture key as kid `k`.
    fn sign(claims: &Value) -> String {
        sign_typed(claims, "JWT")
    }

    /// [`sign`] with `typ` in the header.
    fn sign_typed(claims: &Value, typ: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("k".into());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, claims, &KEYS.0).unwrap()
    }
    const TID: &str = "11111111-2222-4333-8444-555555555555";
    const OTHER: &str = "99999999-2222-4333-8444-555555555555";
    const META: &str = "https://login.example/11111111-2222-4333-8444-555555555555/v2.0";
    const META_MULTI: &str = "https://login.example/{tenantid}/v2.0";

    fn rules() -> Rules {
        Rules::single(vec!["api://app".into(), "app".into()], 300)
    }

    fn signer(meta: &str) -> Signer<'_> {
        Signer {
            metadata_issuer: meta,
            key_issuer: None,
        }
    }

    /// Signs `claims` and validates the token: signature, times, issuer and audience by
    /// jsonwebtoken, the rest here.
    fn check_with(claims: Value, rules: &Rules, signer: Signer<'_>) -> Result<Identity, ApiError> {
        check_typed(claims, "JWT", rules, signer)
    }

    /// [`check_with`] for a token whose header's `typ` is `typ`.
    fn check_typed(
        claims: Value,
        typ: &str,
        rules: &Rules,
        signer: Signer<'_>,
    ) -> Result<Identity, ApiError> {
        let token = sign_typed(&claims, typ);
        let full = parse(&token).and_then(|p| p.validate(&KEYS.1, rules, signer, *NOW));
        agree(&token, &full, rules, signer);
        full
    }

    /// The one-pass path accepts exactly what the full path accepts, with the same identity
    /// and claims (when the issuers come from settings; it declines everything otherwise); when
    /// it finds the signature forged, the full path told so refuses exactly as it would alone.
    fn agree(token: &str, full: &Result<Identity, ApiError>, rules: &Rules, signer: Signer<'_>) {
        let once = match named_key(token) {
            Some(named) => accept_at_once(token, &named, &KEYS.1, rules, signer, *NOW),
            None => AtOnce::Declined,
        };
        match (full, once) {
            (Err(_), AtOnce::Declined) => {}
            (Err(e), AtOnce::Forged) => {
                let told = parse(token)
                    .and_then(|p| p.validate_after(&KEYS.1, rules, signer, *NOW, true))
                    .unwrap_err();
                assert_eq!((told.kind, &told.reason), (e.kind, &e.reason), "{token}");
            }
            (Ok(_), AtOnce::Forged) => panic!("a valid signature taken for forged: {token}"),
            // Declining costs only time: the full path then decides. It declines what the crate
            // cannot read (dates before 1970), and every token when the issuers depend on it.
            (Ok(_), AtOnce::Declined) => {
                let claims = parse(token).unwrap().into_claims();
                let before_1970 = ["exp", "nbf"].iter().any(|c| {
                    claims
                        .get(*c)
                        .and_then(Value::as_f64)
                        .is_some_and(|t| t < 0.0)
                });
                assert!(
                    !matches!(rules.tenancy, Tenancy::Single) || before_1970,
                    "the one-pass path declined a token the full path accepts: {token}"
                );
            }
            (Ok(identity), AtOnce::Accepted(once)) => {
                assert_eq!(identity, &once);
                assert_eq!(once.claims(), &parse(token).unwrap().into_claims());
            }
            (Err(e), AtOnce::Accepted(..)) => {
                panic!("the one-pass path accepted a token refused with {e:?}")
            }
        }
    }

    fn check(claims: Value) -> Result<Identity, ApiError> {
        check_with(claims, &rules(), signer(META))
    }

    fn v2(tid: &str) -> Value {
        json!({"iss": format!("https://login.example/{tid}/v2.0"), "aud": "api://app",
               "exp": *NOW + 60, "tid": tid, "roles": ["GetSecret"], "ver": "2.0", "azp": "client-a"})
    }

    fn v1(tid: &str) -> Value {
        json!({"iss": format!("https://sts.windows.net/{tid}/"), "aud": "app",
               "exp": *NOW + 60, "tid": tid, "ver": "1.0", "appid": "client-b"})
    }

    fn base() -> Value {
        v2(TID)
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    fn reason(r: Result<Identity, ApiError>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidClaims, "{e:?}");
        e.reason.unwrap()
    }

    fn kind(r: Result<Identity, ApiError>) -> ErrorKind {
        r.unwrap_err().kind
    }

    #[test]
    fn accepts_v1_and_v2() {
        let id = check(base()).unwrap();
        assert_eq!(id.version, TokenVersion::V2);
        assert_eq!(id.client_app.as_deref(), Some("client-a"));
        let id = check(v1(TID)).unwrap();
        assert_eq!(id.version, TokenVersion::V1);
        assert_eq!(id.client_app.as_deref(), Some("client-b"));
        assert_eq!(id.tenant_id.as_deref(), Some(TID));
    }

    #[test]
    fn time_rules_with_skew() {
        use ErrorKind::*;
        // A few seconds of margin around the 300 s leeway: the crate reads the clock itself.
        let now = *NOW;
        assert!(check(with("exp", json!(now - 290))).is_ok());
        assert_eq!(kind(check(with("exp", json!(now - 310)))), TokenExpired);
        // The second the token expires, it is expired (the crate alone would still accept it).
        let zero_skew = Rules {
            clock_skew: 0,
            ..rules()
        };
        let at_exp = sign(&with("exp", json!(now)));
        let err = parse(&at_exp)
            .unwrap()
            .validate(&KEYS.1, &zero_skew, signer(META), now)
            .unwrap_err();
        assert_eq!(err.kind, TokenExpired);
        let e = check(with("exp", json!(now - 1000))).unwrap_err();
        assert_eq!(e.reason.as_deref(), Some("token expired 1000 seconds ago"));
        assert_eq!(
            kind(check(with("exp", json!(now.to_string())))),
            InvalidClaims
        );
        assert_eq!(kind(check(with("exp", json!(null)))), InvalidClaims);
        assert_eq!(kind(check(with("exp", json!(1e300)))), InvalidClaims);
        assert!(check(with("exp", json!((now + 60) as f64 + 0.5))).is_ok());
        // Before 1970: valid NumericDates the crate cannot parse, judged here.
        assert_eq!(kind(check(with("exp", json!(-1)))), TokenExpired);
        assert!(check(with("nbf", json!(-5))).is_ok());
        assert!(check(with("nbf", json!(now + 290))).is_ok());
        assert_eq!(kind(check(with("nbf", json!(now + 310)))), InvalidClaims);
        assert_eq!(kind(check(with("iat", json!(now + 310)))), InvalidClaims);
        let mut no_exp = base();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(kind(check(no_exp)), InvalidClaims);
    }

    #[test]
    fn the_signature_is_checked_by_the_crate_before_the_claims() {
        let token = sign(&base());
        let mut tampered = token.clone();
        tampered.truncate(token.len() - 4);
        tampered.push_str("AAAA");
        let err = parse(&tampered)
            .unwrap()
            .validate(&KEYS.1, &rules(), signer(META), *NOW)
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidClaims);
        assert_eq!(err.reason.as_deref(), Some("signature does not verify"));
        agree(&tampered, &Err(err), &rules(), signer(META));
        // Expired and forged: the signature answers first.
        let mut expired = base();
        expired["exp"] = json!(*NOW - 4000);
        let forged = format!(
            "{}.{}",
            &sign(&expired)[..sign(&expired).rfind('.').unwrap()],
            "AAAA"
        );
        let err = parse(&forged)
            .unwrap()
            .validate(&KEYS.1, &rules(), signer(META), *NOW)
            .unwrap_err();
        assert_eq!(err.reason.as_deref(), Some("signature does not verify"));
        agree(&forged, &Err(err), &rules(), signer(META));
    }

    #[test]
    fn issuer_audience_tenant_and_types() {
        use ErrorKind::*;
        assert!(reason(check(with("iss", json!("https://evil/")))).contains("issuer not accepted"));
        assert!(reason(check(with("ver", json!("1.0")))).contains("v1/v2 issuer mix"));
        assert_eq!(
            kind(check(with("aud", json!("api://other")))),
            InvalidClaims
        );
        assert!(check(with("aud", json!(["x", "app"]))).is_ok());
        assert_eq!(kind(check(with("aud", json!(["x", "y"])))), InvalidClaims);
        assert!(reason(check(with("tid", json!(OTHER)))).contains("not allowed"));
        assert_eq!(
            kind(check(with("roles", json!("GetSecret")))),
            InvalidClaims
        );
        assert_eq!(kind(check(with("scp", json!(["a"])))), InvalidClaims);
        assert_eq!(
            reason(check(with("aud", json!("api://other")))),
            "audience mismatch: got \"api://other\""
        );
    }

    #[test]
    fn graph_and_id_tokens_are_named() {
        let graph = reason(check(with("aud", json!("https://graph.microsoft.com"))));
        assert!(graph.contains("Microsoft Graph"), "{graph}");
        let graph = reason(check(with(
            "aud",
            json!("00000003-0000-0000-c000-000000000000"),
        )));
        assert!(graph.contains("Microsoft Graph"), "{graph}");
        let id = reason(check(with("nonce", json!("abc"))));
        assert!(id.contains("ID token"), "{id}");
    }

    #[test]
    fn multi_tenant_matrix() {
        let allow = |list: Option<Vec<&str>>| Rules {
            tenancy: Tenancy::Multi {
                allowed: list.map(|l| l.into_iter().map(String::from).collect()),
            },
            ..rules()
        };
        let listed = allow(Some(vec![TID]));
        let any = allow(None);
        let s = signer(META_MULTI);
        // (rules, claims, accepted)
        let cases = [
            (&listed, v2(TID), true),
            (&listed, v1(TID), true),
            (&listed, v2(OTHER), false),
            (&any, v2(OTHER), true),
            (&any, v1(OTHER), true),
        ];
        for (rules, claims, ok) in cases {
            assert_eq!(check_with(claims.clone(), rules, s).is_ok(), ok, "{claims}");
        }
        // tid must be present and agree with iss.
        let mut no_tid = v2(TID);
        no_tid.as_object_mut().unwrap().remove("tid");
        assert!(reason(check_with(no_tid, &any, s)).contains("tid is missing"));
        let mut mixed = v2(TID);
        mixed["tid"] = json!(OTHER);
        assert!(reason(check_with(mixed, &any, s)).contains("issuer not accepted"));
    }

    #[test]
    fn issuer_overrides_versions_and_clients() {
        let pinned = Rules {
            accept_v1: false,
            ..rules()
        };
        assert!(check_with(base(), &pinned, signer(META)).is_ok());
        assert!(reason(check_with(v1(TID), &pinned, signer(META))).contains("AUTH_TOKEN_VERSIONS"));

        let custom = Rules {
            issuers: Some(vec!["https://b2c.example/tfp/x/v2.0/".into()]),
            v1_issuer: None,
            ..rules()
        };
        let mut b2c = base();
        b2c["iss"] = json!("https://b2c.example/tfp/x/v2.0/");
        b2c["ver"] = json!("1.0");
        b2c.as_object_mut().unwrap().remove("tid");
        assert!(check_with(b2c, &custom, signer("https://b2c.example/meta")).is_ok());
        assert!(check_with(base(), &custom, signer(META)).is_err());

        let clients = Rules {
            allowed_clients: Some(vec!["client-a".into()]),
            ..rules()
        };
        assert!(check_with(base(), &clients, signer(META)).is_ok());
        assert!(reason(check_with(v1(TID), &clients, signer(META))).contains("client application"));
    }

    #[test]
    fn key_issuer_must_match_the_token() {
        let any = Rules {
            tenancy: Tenancy::Multi { allowed: None },
            ..rules()
        };
        let templated = Signer {
            metadata_issuer: META_MULTI,
            key_issuer: Some(META_MULTI),
        };
        assert!(check_with(v2(OTHER), &any, templated).is_ok());
        assert!(check_with(v1(OTHER), &any, templated).is_ok());
        let pinned = Signer {
            metadata_issuer: META_MULTI,
            key_issuer: Some(META),
        };
        assert!(check_with(v2(TID), &any, pinned).is_ok());
        assert!(reason(check_with(v2(OTHER), &any, pinned)).contains("another issuer"));
    }

    #[test]
    fn access_tokens_must_name_their_client() {
        // An authorization-code ID token asked for without a nonce: no nonce, no azp.
        let mut id_token = base();
        id_token.as_object_mut().unwrap().remove("azp");
        assert!(reason(check(id_token.clone())).contains("azp is missing"));
        // v2 must carry azp, v1 appid: the other one does not stand in for it.
        id_token["appid"] = json!("client-a");
        assert!(reason(check(id_token)).contains("azp is missing"));
        let mut v1_id = v1(TID);
        v1_id.as_object_mut().unwrap().remove("appid");
        assert!(reason(check(v1_id.clone())).contains("appid is missing"));
        // Another provider's format: either claim will do, none will not.
        let custom = Rules {
            issuers: Some(vec![format!("https://login.example/{TID}/v2.0")]),
            v1_issuer: None,
            ..rules()
        };
        let mut appid_only = base();
        appid_only.as_object_mut().unwrap().remove("azp");
        appid_only["appid"] = json!("client-c");
        assert!(check_with(appid_only.clone(), &custom, signer(META)).is_ok());
        appid_only.as_object_mut().unwrap().remove("appid");
        assert!(reason(check_with(appid_only.clone(), &custom, signer(META))).contains("missing"));
        // RFC 9068's client_id names the client there, and only there, and only in a token
        // typed as that profile's access token (an ID token may carry the same claims).
        let mut rfc9068 = appid_only;
        rfc9068["client_id"] = json!("client-d");
        let at = |claims: &Value, rules: &Rules| {
            check_typed(claims.clone(), "at+jwt", rules, signer(META))
        };
        let who = at(&rfc9068, &custom).unwrap();
        assert_eq!(who.client_app.as_deref(), Some("client-d"));
        for typ in ["AT+JWT", "application/at+jwt", "Application/AT+JWT"] {
            assert!(
                check_typed(rfc9068.clone(), typ, &custom, signer(META)).is_ok(),
                "{typ}"
            );
        }
        for typ in ["JWT", "id_token+jwt", "at+jwt2", "application/jwt"] {
            let refused = reason(check_typed(rfc9068.clone(), typ, &custom, signer(META)));
            assert!(refused.contains("typ is at+jwt"), "{typ}: {refused}");
        }
        let mut entra = base();
        entra.as_object_mut().unwrap().remove("azp");
        entra["client_id"] = json!("client-d");
        assert!(
            reason(check_typed(entra, "at+jwt", &rules(), signer(META))).contains("azp is missing")
        );
        let mut not_text = rfc9068.clone();
        not_text["client_id"] = json!(7);
        assert!(reason(at(&not_text, &custom)).contains("client_id is not a string"));
        let mut empty = rfc9068.clone();
        empty["client_id"] = json!("");
        assert!(reason(at(&empty, &custom)).contains("client_id are missing"));
        // Its client_id is what AUTH_ALLOWED_CLIENT_APPS names, exactly as registered (another
        // provider's ids are strings of its own, not GUIDs).
        let allowed = |id: &str| Rules {
            allowed_clients: Some(vec![id.into()]),
            ..custom.clone()
        };
        assert!(reason(at(&rfc9068, &allowed("client-a"))).contains("client-d"));
        assert!(at(&rfc9068, &allowed("client-d")).is_ok());
        assert!(reason(at(&rfc9068, &allowed("Client-D"))).contains("client-d"));
    }

    #[test]
    fn a_client_credentials_token_from_another_provider_is_app_only() {
        let custom = Rules {
            issuers: Some(vec![format!("https://login.example/{TID}/v2.0")]),
            v1_issuer: None,
            ..rules()
        };
        let mut token = base();
        token.as_object_mut().unwrap().remove("azp");
        token["client_id"] = json!("client-d");
        token["scope"] = json!("Orders.Read");
        // A user's token: its subject is the user.
        token["sub"] = json!("user-1");
        let who = check_typed(token.clone(), "at+jwt", &custom, signer(META)).unwrap();
        assert!(who.is_delegated());
        // The client-credentials grant: the subject is the client (RFC 9068 §2.2).
        token["sub"] = json!("client-d");
        let who = check_typed(token, "at+jwt", &custom, signer(META)).unwrap();
        assert_eq!(who.scopes, ["Orders.Read"]);
        assert!(!who.is_delegated());
    }

    #[test]
    fn another_providers_scope_claim_reads_as_scp() {
        let custom = Rules {
            issuers: Some(vec![format!("https://login.example/{TID}/v2.0")]),
            v1_issuer: None,
            ..rules()
        };
        let mut token = base();
        token["scope"] = json!("Orders.Read  Orders.Write");
        let who = check_with(token.clone(), &custom, signer(META)).unwrap();
        assert_eq!(who.scopes, ["Orders.Read", "Orders.Write"]);
        // scp wins where both are given; Entra's tokens are read on scp alone.
        token["scp"] = json!("Api.Read");
        let who = check_with(token.clone(), &custom, signer(META)).unwrap();
        assert_eq!(who.scopes, ["Api.Read"]);
        token.as_object_mut().unwrap().remove("scp");
        assert!(check(token.clone()).unwrap().scopes.is_empty());
        // The array some providers write is read as the same list; anything else is refused
        // where it is read, as every claim funcgate reads is; an Entra token is not read on it.
        token["scope"] = json!(["Orders.Read", "Orders.Write"]);
        let who = check_with(token.clone(), &custom, signer(META)).unwrap();
        assert_eq!(who.scopes, ["Orders.Read", "Orders.Write"]);
        for bad in [
            json!(["Orders.Read", 7]),
            json!([""]),
            json!(7),
            json!({"a": 1}),
        ] {
            token["scope"] = bad.clone();
            assert!(check(token.clone()).is_ok(), "{bad}");
            assert!(
                reason(check_with(token.clone(), &custom, signer(META))).contains("scope"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_templated_issuer_takes_its_tenant_from_settings_only() {
        let templated = signer(META_MULTI);
        // No tenant configured: nothing passes, whatever tid the token claims.
        for claims in [v2(TID), v2(OTHER), v1(OTHER)] {
            assert!(reason(check_with(claims, &rules(), templated)).contains("templated"));
        }
        // AUTH_TENANT_ID fills the template; other tenants are refused.
        let pinned = Rules {
            tenant: Some(TID.into()),
            ..rules()
        };
        assert!(check_with(v2(TID), &pinned, templated).is_ok());
        assert!(check_with(v1(TID), &pinned, templated).is_ok());
        assert!(reason(check_with(v2(OTHER), &pinned, templated)).contains("not allowed"));
        let mut no_tid = v2(OTHER);
        no_tid.as_object_mut().unwrap().remove("tid");
        assert!(reason(check_with(no_tid, &pinned, templated)).contains("issuer not accepted"));
        // AUTH_ISSUERS with {tenantid} is filled from settings too.
        let listed = Rules {
            issuers: Some(vec![META_MULTI.into()]),
            ..pinned.clone()
        };
        assert!(check_with(v2(TID), &listed, signer(META)).is_ok());
        let mut foreign = v2(OTHER);
        foreign.as_object_mut().unwrap().remove("tid");
        assert!(reason(check_with(foreign, &listed, signer(META))).contains("issuer not accepted"));
    }

    #[test]
    fn thumbprint_names_the_key_when_there_is_no_kid() {
        let p = URL_SAFE_NO_PAD.encode(br#"{"a":1}"#);
        let token = |header: &str| format!("{}.{p}.c2ln", URL_SAFE_NO_PAD.encode(header));
        let x5t_only = token(r#"{"alg":"RS256","x5t":"nOo3ZDrODXEK1jKWhXslHR_KXEg"}"#);
        assert_eq!(
            parse(&x5t_only).unwrap().key,
            KeyRef::Thumbprint("nOo3ZDrODXEK1jKWhXslHR_KXEg".into())
        );
        let both = token(r#"{"alg":"RS256","kid":"k","x5t":"t"}"#);
        assert_eq!(parse(&both).unwrap().key, KeyRef::Kid("k".into()));
        let empty_both = token(r#"{"alg":"RS256","kid":"","x5t":""}"#);
        assert_eq!(parse(&empty_both).unwrap_err().kind, ErrorKind::KeyNotFound);
        let long = token(&format!(r#"{{"alg":"RS256","x5t":"{}"}}"#, "t".repeat(257)));
        assert_eq!(parse(&long).unwrap_err().kind, ErrorKind::KeyNotFound);
        let numeric = token(r#"{"alg":"RS256","x5t":5}"#);
        assert_eq!(
            parse(&numeric).unwrap_err().kind,
            ErrorKind::TokenUnparsable
        );
    }

    #[test]
    fn signed_duplicates_and_wrong_types_are_refused_on_both_paths() {
        let signed = |header: &str, payload: &str| {
            let message = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload)
            );
            let sig =
                jsonwebtoken::crypto::sign(message.as_bytes(), &KEYS.0, Algorithm::RS256).unwrap();
            format!("{message}.{sig}")
        };
        let validate = |token: &str| {
            let full = parse(token).and_then(|p| p.validate(&KEYS.1, &rules(), signer(META), *NOW));
            agree(token, &full, &rules(), signer(META));
            full
        };
        let header = r#"{"alg":"RS256","kid":"k"}"#;
        let exp = *NOW + 60;
        let payload = format!(
            r#"{{"iss":"{META}","aud":"api://app","exp":{exp},"tid":"{TID}","azp":"c","ver":"2.0"}}"#
        );
        assert!(validate(&signed(header, &payload)).is_ok());
        // The key named by thumbprint, as the older Entra format does.
        // A name written with an escape is the same name; a header may carry many names.
        let many = (0..40).fold(String::from(r#"{"alg":"RS256","kid":"k""#), |h, i| {
            h + &format!(r#","x-{i}":{i}"#)
        }) + "}";
        for accepted in [
            r#"{"alg":"RS256","x5t":"k"}"#,
            r#"{"alg":"RS256","kid":"","x5t":"k"}"#,
            r#"{"alg":"RS256","\u006bid":"k","typ":"JWT"}"#,
            &many,
        ] {
            assert!(validate(&signed(accepted, &payload)).is_ok(), "{accepted}");
        }
        for refused in [
            r#"{"alg":"RS256","kid":5,"x5t":"k"}"#,
            r#"{"alg":"RS256","kid":"k","crit":["exp"]}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"RS384","kid":"k"}"#,
        ] {
            assert!(validate(&signed(refused, &payload)).is_err(), "{refused}");
        }
        for (header, payload) in [
            (header, payload.replacen('{', r#"{"aud":"other","#, 1)),
            (r#"{"alg":"RS256","kid":"k","kid":"k"}"#, payload.clone()),
            (
                r#"{"alg":"RS256","kid":"k","\u006bid":"k"}"#,
                payload.clone(),
            ),
            (r#"{"alg":"RS256","kid":"k","x":1,"x":1}"#, payload.clone()),
            (
                header,
                payload.replace(&format!(r#""exp":{exp}"#), &format!(r#""exp":"{exp}""#)),
            ),
            (header, payload.replace(r#""ver":"2.0""#, r#""ver":2"#)),
            (
                header,
                payload.replace(r#""aud":"api://app""#, r#""aud":["api://app",1]"#),
            ),
            // Each claim funcgate reads, with another type, repeated, or spelled with an escape
            // next to itself: refused on both paths.
            (header, payload.replacen('{', r#"{"roles":null,"#, 1)),
            (header, payload.replacen('{', r#"{"roles":["a",1],"#, 1)),
            (header, payload.replacen('{', r#"{"roles":"a","#, 1)),
            (header, payload.replacen('{', r#"{"oid":7,"#, 1)),
            (header, payload.replacen('{', r#"{"scp":["a"],"#, 1)),
            (header, payload.replacen('{', r#"{"nbf":"0","#, 1)),
            (header, payload.replacen('{', r#"{"iat":1e300,"#, 1)),
            (header, payload.replacen('{', r#"{"tid":null,"#, 1)),
            (header, payload.replacen('{', r#"{"nonce":"n","#, 1)),
            (header, payload.replacen('{', r#"{"x":1,"x":2,"#, 1)),
            (header, payload.replacen('{', r#"{"\u0061zp":"c","#, 1)),
            // Claims funcgate does not read, which a JSON map cannot hold either: a lone
            // surrogate, a number out of range, nesting deeper than serde_json's limit.
            (header, payload.replacen('{', r#"{"x":"\udc00","#, 1)),
            (header, payload.replacen('{', r#"{"x":"\ud800","#, 1)),
            (header, payload.replacen('{', r#"{"x":{"y":1e400},"#, 1)),
            (
                header,
                payload.replacen(
                    '{',
                    &format!(r#"{{"x":{}{},"#, "[".repeat(200), "]".repeat(200)),
                    1,
                ),
            ),
        ] {
            let refused = validate(&signed(header, &payload));
            assert!(refused.is_err(), "{header} {payload}");
        }
        // Accepted on both paths, with the same identity and claims.
        for extra in [
            r#""roles":["GetSecret","b"],"scp":"a b","oid":"o","sub":"s","#,
            r#""nested":{"a":1,"a":2},"x":[1,{"y":null}],"#,
            r#""\u0075pn":"u@example","iat":1.5,"nbf":0.25,"#,
            r#""aud":["other","api://app"],"#,
        ] {
            let payload = payload.replacen('{', &format!("{{{extra}"), 1);
            let payload = if extra.contains("\"aud\"") {
                payload.replacen(r#","aud":"api://app""#, "", 1)
            } else {
                payload
            };
            assert!(validate(&signed(header, &payload)).is_ok(), "{payload}");
        }
    }

    #[test]
    fn parse_rejects_malformed_structure() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"a":1}"#);
        let ok = format!("{h}.{p}.c2ln");
        assert_eq!(parse(&ok).unwrap().key, KeyRef::Kid("k".into()));
        for bad in [
            format!("{h}.{p}"),
            format!("{h}.{p}.c2ln.x"),
            format!("{h}.{p}."),
            format!("{h}.{p}.c2ln=="),
            format!("{h}.{p}.c2l+"),
            format!("{}.{p}.c2ln", URL_SAFE_NO_PAD.encode(b"[1]")),
            format!(
                "{}.{p}.c2ln",
                URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k"}"#)
            ),
            format!(
                "{}.{p}.c2ln",
                URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"k"}"#)
            ),
            format!("{h}.{}.c2ln", URL_SAFE_NO_PAD.encode(b"not json")),
            "a".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(
                parse(&bad).unwrap_err().kind,
                ErrorKind::TokenUnparsable,
                "{bad}"
            );
        }
        let no_kid = format!("{}.{p}.c2ln", URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#));
        assert_eq!(parse(&no_kid).unwrap_err().kind, ErrorKind::KeyNotFound);
        let long_kid = format!(
            "{}.{p}.c2ln",
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(257)))
        );
        assert_eq!(parse(&long_kid).unwrap_err().kind, ErrorKind::KeyNotFound);
        let dup = format!(
            "{h}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"aud":"x","aud":"api://app"}"#)
        );
        let err = parse(&dup).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TokenUnparsable);
        assert_eq!(err.reason.as_deref(), Some("token payload repeats a name"));
        let dup_header = format!(
            "{}.{p}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","alg":"RS256","kid":"k"}"#)
        );
        assert_eq!(
            parse(&dup_header).unwrap_err().kind,
            ErrorKind::TokenUnparsable
        );
        assert!(is_guid(TID));
        assert!(!is_guid("contoso.onmicrosoft.com"));
        assert!(!is_guid("11111111-2222-4333-8444-555555555555-1"));
        assert_eq!(tenant_in_issuer(META), Some(TID));
    }
}
