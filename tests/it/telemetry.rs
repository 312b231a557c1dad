//! Telemetry (issue 15): what reaches an Application Insights ingestion endpoint on 127.0.0.1,
//! and what never does.

use serde_json::Value;

use crate::support::ingestion::{Ingestion, IngestionMode};
use crate::support::*;

const INVOCATION: &str = "x-azure-functions-invocationid";

// Invocation ids as the host sends them (GUIDs; anything else is dropped).
const INV_HEALTH: &str = "00000000-0000-4000-8000-000000000001";
const INV_401: &str = "00000000-0000-4000-8000-000000000002";
const INV_403: &str = "00000000-0000-4000-8000-000000000003";
const INV_404: &str = "00000000-0000-4000-8000-000000000004";
const INV_200: &str = "00000000-0000-4000-8000-000000000005";
const INV_INVOCATION_MODE: &str = "00000000-0000-4000-8000-000000000006";
const INV_KV: &str = "00000000-0000-4000-8000-000000000007";
const INV_TRACED: &str = "00000000-0000-4000-8000-000000000008";
const INV_LINE: &str = "00000000-0000-4000-8000-000000000009";

/// The `n`th invocation id of a series.
fn inv(n: usize) -> String {
    format!("00000000-0000-4000-8000-{:012}", 1000 + n)
}

/// A handler sending telemetry to `ingestion`, with `extra` settings; every request is sent
/// unless `extra` chooses the sampling (these tests look at what one item says).
async fn with_telemetry(ingestion: &Ingestion, extra: &[(&str, &str)]) -> Setup {
    let chooses = |k: &str| k.starts_with("TELEMETRY_");
    let mut extra = extra.to_vec();
    if !extra.iter().any(|(k, _)| chooses(k)) {
        extra.push(("TELEMETRY_SAMPLING_PERCENT", "100"));
    }
    with_settings(ingestion, &extra).await
}

/// A handler sending telemetry to `ingestion` with exactly `extra` besides the connection.
async fn with_settings(ingestion: &Ingestion, extra: &[(&str, &str)]) -> Setup {
    let mut env = ingestion.settings();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Setup::start("", move |mut c| {
        for (k, v) in &env {
            c = c.set(k, v);
        }
        c
    })
    .await
}

async fn call(s: &Setup, path: &str, token: Option<&str>, invocation: &str) -> Answer {
    let auth = token.map(bearer);
    request(
        reqwest::Method::GET,
        &s.handler.route(path),
        &[
            ("authorization", auth.as_deref()),
            (INVOCATION, Some(invocation)),
        ],
    )
    .await
}

fn property<'a>(item: &'a Value, name: &str) -> Option<&'a str> {
    item["data"]["baseData"]["properties"][name].as_str()
}

/// Every metric series in the metric items (each item carries a list of them).
fn series(metrics: &[Value]) -> impl Iterator<Item = &Value> {
    metrics.iter().flat_map(|m| {
        m["data"]["baseData"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
    })
}

fn request_with<'a>(items: &'a [Value], invocation: &str) -> &'a Value {
    items
        .iter()
        .find(|i| property(i, "InvocationId") == Some(invocation))
        .unwrap_or_else(|| panic!("no request item for {invocation}: {items:#?}"))
}

#[tokio::test]
async fn requests_dependencies_and_metrics_reach_application_insights() {
    let ingestion = Ingestion::start(IngestionMode::Up);
    let mut s = with_telemetry(&ingestion, &[]).await;
    let good = s.token(&["GetSecret"]);
    let no_role = s.token(&["Reader"]);
    assert_eq!(call(&s, "/health", None, INV_HEALTH).await.status, 200);
    call(&s, "/vault/demo", None, INV_401)
        .await
        .assert_error(401, "AuthorizationHeaderMissing");
    call(&s, "/vault/demo", Some(&no_role), INV_403)
        .await
        .assert_error(403, "AuthorizationRoleForbidden");
    call(&s, "/nothing/here", None, INV_404)
        .await
        .assert_error(404, "NotFound");
    let a = call(
        &s,
        "/vault?secret=demo&version=0123456789abcdef0123456789abcdef",
        Some(&good),
        INV_200,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // The invocation protocol: the host names the invocation on its own POST.
    let payload = serde_json::json!({"Data": {"req": {
        "Url": "http://localhost:7071/whoami", "Method": "GET",
        "Headers": {"Authorization": [bearer(&good)]}, "Query": {}, "Params": {},
    }}, "Metadata": {}});
    // (A host that invokes with payloads: the same app, its host.json forwarding nothing.)
    let resp = client()
        .post(s.invoked().await.url("/whoami"))
        .header("content-type", "application/json")
        .header(INVOCATION, INV_INVOCATION_MODE)
        .body(payload.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let logs = s.handler.logs();
    assert!(logs.contains("telemetry: Application Insights"), "{logs}");
    let invoked_logs = s.invoked().await.logs();
    assert!(
        invoked_logs.contains(&format!("invocation_id={INV_INVOCATION_MODE}")),
        "{invoked_logs}"
    );
    // SIGTERM, as the platform stops an instance: what is queued is sent before exit.
    assert!(s.handler.terminate().success());
    assert!(s.invoked_mut().unwrap().terminate().success());

    assert!(ingestion.uploads() > 0);
    let requests = ingestion.items("RequestData");
    let expect = [
        (INV_HEALTH, "health", "GET /health", "200", None, true),
        (
            INV_401,
            "vault",
            "GET /vault/{secret_name?}",
            "401",
            Some("AuthorizationHeaderMissing"),
            false,
        ),
        (
            INV_403,
            "vault",
            "GET /vault/{secret_name?}",
            "403",
            Some("AuthorizationRoleForbidden"),
            false,
        ),
        (
            INV_404,
            "-",
            "GET (no route)",
            "404",
            Some("NotFound"),
            false,
        ),
        (
            INV_200,
            "vault",
            "GET /vault/{secret_name?}",
            "200",
            None,
            true,
        ),
        (
            INV_INVOCATION_MODE,
            "whoami",
            "GET /whoami",
            "200",
            None,
            true,
        ),
    ];
    for (invocation, function, name, status, code, success) in expect {
        let item = request_with(&requests, invocation);
        let data = &item["data"]["baseData"];
        assert_eq!(property(item, "Function"), Some(function), "{item:#}");
        assert_eq!(data["name"], name, "{item:#}");
        assert_eq!(data["responseCode"], status, "{item:#}");
        // Application Insights omits `success` when it is true.
        assert_eq!(data["success"] != false, success, "{item:#}");
        assert_eq!(property(item, "Code"), code, "{item:#}");
        assert!(data["duration"].as_str().is_some(), "{item:#}");
    }
    // Signing-key fetches are dependency items to the provider's host.
    let dependencies = ingestion.items("RemoteDependencyData");
    assert!(
        dependencies.iter().any(
            |d| d["data"]["baseData"]["name"] == "GET signing keys (JWKS)"
                && d["data"]["baseData"]["target"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("127.0.0.1")
        ),
        "{dependencies:#?}"
    );
    // Metrics: calls by function, status and code; token cache; key fetches.
    let metrics = ingestion.items("MetricData");
    let names: Vec<&str> = series(&metrics)
        .filter_map(|m| m["name"].as_str())
        .collect();
    for metric in [
        "funcgate.calls",
        "funcgate.token_cache",
        "funcgate.key_fetches",
    ] {
        assert!(names.contains(&metric), "{metric} missing from {names:?}");
    }
    assert!(
        metrics
            .iter()
            .any(|m| property(m, "Function") == Some("vault")
                && property(m, "Code") == Some("AuthorizationRoleForbidden")),
        "{metrics:#?}"
    );
    // Never a token, a secret value or a query string.
    let raw = ingestion.raw();
    for leak in [
        good.as_str(),
        no_role.as_str(),
        "demo-value",
        "secret=demo",
        "0123456789abcdef0123456789abcdef",
    ] {
        assert!(!raw.contains(leak), "{leak} reached telemetry");
    }
}

#[tokio::test]
async fn key_vault_reads_are_dependencies_of_their_request() {
    let ingestion = Ingestion::start(IngestionMode::Up);
    let azure =
        crate::support::azure::FakeAzure::start(&[("db-password", "kv-value-not-for-telemetry")]);
    let env = azure.managed_identity_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut s = with_telemetry(&ingestion, &env).await;
    let token = s.token(&["GetSecret"]);
    assert_eq!(
        call(&s, "/vault/db-password", Some(&token), INV_KV)
            .await
            .status,
        200
    );
    s.handler.terminate();
    let request = request_with(&ingestion.items("RequestData"), INV_KV).clone();
    let kv: Vec<Value> = ingestion
        .items("RemoteDependencyData")
        .into_iter()
        .filter(|d| d["data"]["baseData"]["name"] == "Key Vault get secret")
        .collect();
    assert_eq!(kv.len(), 1, "{kv:#?}");
    let dep = &kv[0];
    assert_eq!(property(dep, "InvocationId"), Some(INV_KV));
    assert_ne!(dep["data"]["baseData"]["success"], false, "{dep:#}");
    assert_eq!(dep["data"]["baseData"]["resultCode"], "200", "{dep:#}");
    assert_eq!(dep["tags"]["ai.cloud.role"], "funcgate", "{dep:#}");
    // The same operation, with the request as parent.
    assert_eq!(
        dep["tags"]["ai.operation.id"],
        request["tags"]["ai.operation.id"]
    );
    assert_eq!(
        dep["tags"]["ai.operation.parentId"],
        request["data"]["baseData"]["id"]
    );
    assert!(!ingestion.raw().contains("kv-value-not-for-telemetry"));
}

#[tokio::test]
async fn a_traceparent_is_the_requests_parent() {
    let ingestion = Ingestion::start(IngestionMode::Up);
    let mut s = with_telemetry(&ingestion, &[]).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let a = request(
        reqwest::Method::GET,
        &s.handler.route("/health"),
        &[
            ("traceparent", Some(&format!("00-{trace}-{parent}-01"))),
            (INVOCATION, Some(INV_TRACED)),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
    s.handler.terminate();
    let item = request_with(&ingestion.items("RequestData"), INV_TRACED).clone();
    assert_eq!(item["tags"]["ai.operation.id"], trace, "{item:#}");
    assert_eq!(item["tags"]["ai.operation.parentId"], parent, "{item:#}");
}

#[tokio::test]
async fn sampling_zero_sends_no_requests_but_still_metrics() {
    let ingestion = Ingestion::start(IngestionMode::Up);
    let mut s = with_telemetry(&ingestion, &[("TELEMETRY_SAMPLING_PERCENT", "0")]).await;
    for i in 0..5 {
        call(&s, "/health", None, &inv(i)).await;
    }
    s.handler.terminate();
    assert!(ingestion.items("RequestData").is_empty());
    assert!(!ingestion.items("MetricData").is_empty());
}

/// `/health` from 16 connections for `seconds`: how many calls were answered.
async fn flood(s: &Setup, seconds: f64) -> usize {
    let url = s.handler.route("/health");
    let until = std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds);
    let workers = (0..16).map(|_| {
        let url = url.clone();
        async move {
            let c = client();
            let mut n = 0;
            while std::time::Instant::now() < until {
                let r = c.get(&url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                n += 1;
            }
            n
        }
    });
    futures_util::future::join_all(workers)
        .await
        .into_iter()
        .sum()
}

/// Each item's `itemCount`, as Application Insights computes it from the envelope's
/// `sampleRate` (a percentage; absent means 100).
fn item_count(item: &Value) -> f64 {
    100.0 / item["sampleRate"].as_f64().unwrap_or(100.0)
}

#[tokio::test]
async fn by_default_requests_are_rate_limited_with_whole_item_counts() {
    let ingestion = Ingestion::start(IngestionMode::Up);
    let mut s = with_settings(&ingestion, &[]).await;
    let calls = flood(&s, 1.5).await;
    s.handler.terminate();
    let items = ingestion.items("RequestData");
    // A burst is kept whole until the first 100 ms window closes, then about 5 a second.
    assert!(
        !items.is_empty() && items.len() * 4 < calls,
        "{} items for {calls} calls",
        items.len()
    );
    for item in &items {
        let count = item_count(item);
        // A whole number, up to the rounding of `100 / N` in the envelope.
        assert!(
            count >= 1.0 && (count - count.round()).abs() < 1e-6,
            "{item:#}"
        );
    }
    assert!(
        items.iter().any(|i| item_count(i) > 1.0),
        "nothing was weighted"
    );
    // Metrics are never sampled: every call is counted.
    let metrics = ingestion.items("MetricData");
    let counted: f64 = series(&metrics)
        .filter(|x| x["name"] == "funcgate.calls")
        .map(|x| x["value"].as_f64().unwrap_or(0.0))
        .sum();
    assert_eq!(counted as usize, calls);
}

#[tokio::test]
async fn sampled_totals_add_up_through_item_count() {
    let ingestion = Ingestion::start(IngestionMode::Up);
    // 500 items a second, so N stays small enough for the estimate to be tight: at 50, a
    // loaded CI machine, where a window can fill until N is in the thousands, one run
    // summed to more than half again the calls (84,287 for 55,370 in 107 items).
    let mut s = with_settings(&ingestion, &[("TELEMETRY_ITEMS_PER_SECOND", "500")]).await;
    let calls = flood(&s, 1.5).await;
    s.handler.terminate();
    let items = ingestion.items("RequestData");
    let total: f64 = items.iter().map(item_count).sum();
    // `sum(itemCount)` estimates the number of calls; at one in N its spread is about
    // sqrt(N / calls): a tenth or less here (N up to 512 in a burst, tens of thousands of calls).
    assert!(
        (0.5..=1.5).contains(&(total / calls as f64)),
        "{total} counted for {calls} calls in {} items",
        items.len()
    );
    assert!(
        items.len() * 4 < calls,
        "{} items for {calls} calls",
        items.len()
    );
}

#[tokio::test]
async fn failed_requests_are_kept_whatever_the_sampling() {
    use crate::support::azure::{FakeAzure, VaultMode};
    let ingestion = Ingestion::start(IngestionMode::Up);
    let azure = FakeAzure::start(&[("db-password", "v")]);
    azure.set_mode(VaultMode::Status(403));
    let mut env = azure.managed_identity_env();
    env.push(("TELEMETRY_SAMPLING_PERCENT".into(), "0".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut s = with_settings(&ingestion, &env).await;
    let token = s.token(&["GetSecret"]);
    for i in 0..6 {
        call(&s, "/vault/db-password", Some(&token), &inv(i))
            .await
            .assert_error(502, "AzureKeyVaultFatalError");
        assert_eq!(call(&s, "/health", None, &inv(100 + i)).await.status, 200);
    }
    s.handler.terminate();
    let items = ingestion.items("RequestData");
    assert_eq!(items.len(), 6, "{items:#?}");
    for i in 0..6 {
        let item = request_with(&items, &inv(i));
        assert_eq!(item["data"]["baseData"]["responseCode"], "502", "{item:#}");
        assert_eq!(property(item, "Code"), Some("AzureKeyVaultFatalError"));
        // Each stands for itself alone, and says nothing of how it was chosen.
        assert_eq!(item_count(item), 1.0, "{item:#}");
        assert!(!item.to_string().contains("sample_rate"), "{item:#}");
    }
    // Their Key Vault reads followed the decision made when each request started.
    assert!(
        ingestion
            .items("RemoteDependencyData")
            .iter()
            .all(|d| d["data"]["baseData"]["name"] != "Key Vault get secret")
    );
}

#[tokio::test]
async fn a_hanging_or_refusing_endpoint_never_fails_a_request() {
    for mode in [IngestionMode::Hanging, IngestionMode::Refusing] {
        let ingestion = Ingestion::start(mode);
        let s = with_telemetry(&ingestion, &[]).await;
        // Latency is the load benchmark's business; here, every call is answered.
        let token = s.token(&["GetSecret"]);
        for i in 0..40 {
            let a = call(&s, "/vault/demo", Some(&token), &inv(i)).await;
            assert_eq!(a.status, 200, "{mode:?}: {}", a.body);
        }
        assert!(s.handler.logs().contains("call function=vault"));
    }
}

#[tokio::test]
async fn the_call_line_has_fixed_key_value_fields() {
    let s = Setup::start("", |c| c.set("AUTH_DEBUG_ERRORS", "true")).await;
    call(&s, "/vault/demo", None, INV_LINE).await;
    let logs = s.handler.logs();
    let line = logs
        .lines()
        .find(|l| l.contains(&format!("invocation_id={INV_LINE}")))
        .unwrap_or_else(|| panic!("{logs}"));
    let fields: Vec<&str> = line
        .split_once("call ")
        .unwrap()
        .1
        .split(' ')
        .filter_map(|f| f.split_once('=').map(|(k, _)| k))
        .collect();
    assert_eq!(&fields[..3], ["function", "method", "status"], "{line}");
    assert!(
        line.contains(
            "function=vault method=GET status=401 code=AuthorizationHeaderMissing reason="
        ),
        "{line}"
    );
    assert!(line.contains(" duration_us="), "{line}");
    // Telemetry is off without a connection string.
    assert!(!logs.contains("telemetry: Application Insights"));
}

#[tokio::test]
async fn telemetry_settings_are_checked_at_start() {
    let app = AppDir::new("");
    let base = || HandlerConfig::hosted(&app, "http://127.0.0.1:9");
    base()
        .set(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "IngestionEndpoint=https://x/",
        )
        .assert_fails_naming("APPLICATIONINSIGHTS_CONNECTION_STRING");
    base()
        .set(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "InstrumentationKey=k",
        )
        .set("TELEMETRY_SAMPLING_PERCENT", "150")
        .assert_fails_naming("TELEMETRY_SAMPLING_PERCENT");
    for rate in ["0", "-1", "fast", "NaN"] {
        base()
            .set(
                "APPLICATIONINSIGHTS_CONNECTION_STRING",
                "InstrumentationKey=k",
            )
            .set("TELEMETRY_ITEMS_PER_SECOND", rate)
            .assert_fails_naming("TELEMETRY_ITEMS_PER_SECOND");
    }
    // One way of sampling or the other, never both.
    base()
        .set(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            "InstrumentationKey=k",
        )
        .set("TELEMETRY_ITEMS_PER_SECOND", "5")
        .set("TELEMETRY_SAMPLING_PERCENT", "50")
        .assert_fails_naming("TELEMETRY_ITEMS_PER_SECOND");
}
