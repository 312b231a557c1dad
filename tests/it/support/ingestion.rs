//! The Application Insights ingestion endpoint on 127.0.0.1, over TLS with the test CA (the
//! exporter always upgrades the endpoint to https): `POST /v2/track` with a JSON array of
//! envelopes, gzip-encoded or plain, answered as the service answers. Records every envelope.

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// How the endpoint answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestionMode {
    /// Accepts everything.
    Up,
    /// Never answers.
    Hanging,
    /// Answers 503 to everything.
    Refusing,
}

#[derive(Default)]
struct State {
    envelopes: Vec<Value>,
    /// Every upload body as received (decompressed), for leak checks.
    raw: Vec<String>,
    uploads: usize,
    mode: Option<IngestionMode>,
}

/// The running endpoint.
pub struct Ingestion {
    /// `https://127.0.0.1:PORT/`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    handle: actix_web::dev::ServerHandle,
}

impl Ingestion {
    /// Starts the endpoint in `mode`.
    pub fn start(mode: IngestionMode) -> Ingestion {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!(
            "https://127.0.0.1:{}/",
            listener.local_addr().unwrap().port()
        );
        let state = Arc::new(Mutex::new(State {
            mode: Some(mode),
            ..State::default()
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let data = web::Data::from(shared);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                        .route("/v2/track", web::post().to(track))
                })
                .workers(1)
                .listen_rustls_0_23(listener, super::azure::tls_config("localhost"))
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                server.await.unwrap();
            });
        });
        Ingestion {
            endpoint,
            state,
            handle: rx.recv().unwrap(),
        }
    }

    /// Settings that send a handler's telemetry here.
    pub fn settings(&self) -> Vec<(String, String)> {
        vec![
            (
                "APPLICATIONINSIGHTS_CONNECTION_STRING".into(),
                format!(
                    "InstrumentationKey=00000000-1111-4222-8333-444444444444;IngestionEndpoint={}",
                    self.endpoint
                ),
            ),
            ("SSL_CERT_FILE".into(), super::azure::ca_file()),
        ]
    }

    /// Every envelope received so far.
    pub fn envelopes(&self) -> Vec<Value> {
        self.state.lock().unwrap().envelopes.clone()
    }

    /// Every upload body received so far, as text.
    pub fn raw(&self) -> String {
        self.state.lock().unwrap().raw.join("\n")
    }

    /// Uploads attempted (whatever the mode).
    pub fn uploads(&self) -> usize {
        self.state.lock().unwrap().uploads
    }

    /// Envelopes whose `data.baseType` is `kind` (`RequestData`, `RemoteDependencyData`,
    /// `MetricData`).
    pub fn items(&self, kind: &str) -> Vec<Value> {
        self.envelopes()
            .into_iter()
            .filter(|e| e["data"]["baseType"] == kind)
            .collect()
    }
}

impl Drop for Ingestion {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn track(state: web::Data<Mutex<State>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mode = {
        let mut s = state.lock().unwrap();
        s.uploads += 1;
        s.mode.unwrap_or(IngestionMode::Up)
    };
    match mode {
        IngestionMode::Hanging => {
            actix_web::rt::time::sleep(Duration::from_secs(60)).await;
            return HttpResponse::GatewayTimeout().finish();
        }
        IngestionMode::Refusing => return HttpResponse::ServiceUnavailable().finish(),
        IngestionMode::Up => {}
    }
    let gzip = req
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let text = if gzip {
        let mut out = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut out)
            .unwrap();
        out
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let items: Vec<Value> = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(items)) => items,
        // The track endpoint also takes newline-delimited envelopes.
        _ => text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    };
    let n = items.len();
    let mut s = state.lock().unwrap();
    s.raw.push(text);
    s.envelopes.extend(items);
    HttpResponse::Ok().json(json!({"itemsReceived": n, "itemsAccepted": n, "errors": []}))
}
