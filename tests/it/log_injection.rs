//! Issue 26, finding 6: values a caller or a token controls never forge a log line. Claims
//! and secret names in the audit line are quoted, so a line break in one stays inside its
//! field.

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

/// An `oid` and an `azp` holding a line break and a forged `audit vault read … result=ok`
/// record: the signature is good and the role is there, so the read succeeds and is audited.
/// The one audit line holds both values escaped, in its usual field order, and no line of
/// the log starts with the forged record.
#[tokio::test]
async fn claims_with_line_breaks_never_forge_an_audit_line() {
    let s = Setup::start("", |c| c).await;
    let mut claims = s.provider.claims(&["GetSecret"]);
    claims["oid"] = forged_record("oid-1").into();
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
        " INFO  audit vault read: tenant=\"{TENANT}\" oid={} app={} secret=\"demo\" result=ok cache=",
        escaped("oid-1"),
        escaped("app-1"),
    );
    assert!(
        audits[0].contains(&expected),
        "the audit line holds the claims escaped:\n{}\nexpected to contain:\n{expected}",
        audits[0]
    );
}
