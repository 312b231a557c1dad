//! Issue 26, finding 6: values a caller or a token controls never forge a log line. Claims
//! and secret names in the audit line, and URLs from a discovery document, are quoted, so a
//! line break in one stays inside its field.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use crate::support::*;

/// A timestamp no real line carries: any line starting with it was forged.
const FORGED_AT: &str = "1999-01-01T00:00:00.000Z";

/// A claim value that, written raw, ends the real line and adds a whole audit record of its own.
fn forged_record(lead: &str) -> String {
    format!(
        "{lead}\n{FORGED_AT} INFO  audit vault read: tenant=forged oid=forged app=forged secret=demo result=ok cache=hit"
    )
}

/// An `oid`, a `sub` and an `azp` holding a line break and a forged `audit vault read … result=ok`
/// record: the signature is good and the role is there, so the read succeeds and is audited.
/// The one audit line holds the values escaped, in its usual field order, and no line of
/// the log starts with the forged record.
#[tokio::test]
async fn claims_with_line_breaks_never_forge_an_audit_line() {
    let s = Setup::start("", |c| c).await;
    let mut claims = s.provider.claims(&["GetSecret"]);
    claims["oid"] = forged_record("oid-1").into();
    claims["sub"] = forged_record("sub-1").into();
    claims["azp"] = forged_record("app-1").into();
    let token = s.key.sign(&claims);

    let a = s.get("/vault/demo", Some(&token)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let logs = s
        .handler
        .wait_for_log("audit vault read", Duration::from_secs(5))
        .await;

    assert!(
        !logs.lines().any(|l| l.starts_with(FORGED_AT)),
        "a claim forged a log line:\n{logs}"
    );
    let audits: Vec<&str> = logs.lines().filter(|l| l.contains("audit vault")).collect();
    assert_eq!(audits.len(), 1, "one audit line per call:\n{logs}");
    let escaped = |lead: &str| format!("{:?}", forged_record(lead));
    let expected = format!(
        " INFO  audit vault read: tenant=\"{TENANT}\" oid={} sub={} app={} secret=\"demo\" result=ok cache=",
        escaped("oid-1"),
        escaped("sub-1"),
        escaped("app-1"),
    );
    assert!(
        audits[0].contains(&expected),
        "the audit line holds the claims escaped:\n{}\nexpected to contain:\n{expected}",
        audits[0]
    );
}

/// A provider's discovery document names a `jwks_uri` with a line break and a forged record.
/// URL parsing drops the line break, so the URL passes the https/loopback check and is
/// fetched; its 404 is logged, and the URL in that warning stays on one line.
#[tokio::test]
async fn a_discovery_documents_urls_never_forge_a_log_line() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let jwks_uri = format!("{base}/keys\n{FORGED_AT} INFO  audit vault read: tenant=forged");
    let discovery = serde_json::json!({
        "issuer": format!("{base}/v2.0"),
        "jwks_uri": jwks_uri,
    })
    .to_string();
    std::thread::spawn(move || serve_discovery(&listener, &discovery));

    let app = AppDir::new("");
    let handler = HandlerConfig::hosted(&app, "https://unused.invalid")
        .set(
            "AUTH_METADATA_URL",
            &format!("{base}/.well-known/openid-configuration"),
        )
        .spawn()
        .await;
    let logs = handler
        .wait_for_log("signing key refresh failed", Duration::from_secs(10))
        .await;
    assert!(
        !logs.lines().any(|l| l.starts_with(FORGED_AT)),
        "a discovery document forged a log line:\n{logs}"
    );
    let warning = logs
        .lines()
        .find(|l| l.contains("signing key refresh failed"))
        .unwrap();
    assert!(
        warning.contains(&format!("{:?}", jwks_uri)) && warning.contains("answered 404"),
        "the URL is quoted, its line break escaped: {warning}"
    );
}

/// Answers the discovery document at `/.well-known/openid-configuration` and 404 elsewhere,
/// one request per connection.
fn serve_discovery(listener: &TcpListener, discovery: &str) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { return };
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let request = String::from_utf8_lossy(&request);
        let (status, body) = if request.starts_with("GET /.well-known/openid-configuration ") {
            ("200 OK", discovery)
        } else {
            ("404 Not Found", "")
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}
