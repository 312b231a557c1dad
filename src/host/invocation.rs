//! Invocation requests: `POST /{function}` with the host's `Data`/`Metadata` JSON.
//!
//! Only the request data the host copied from the HTTP request is used (method, headers,
//! query, route parameters, body); `Identities` and every other claim-like field are ignored,
//! so the guard runs on exactly what a forwarded request would carry. The host sends `Body` as
//! a string, or as the parsed JSON value for JSON content; both become the same bytes.

use std::borrow::Cow;

use actix_web::HttpResponse;
use serde_json::{Map, Value, json};

use crate::layout::{FunctionDef, Layout};
use actix_web::web::Bytes;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::call::{Body, Call, Headers};
use crate::reply::Reply;

/// A field by name, exact first, then case-insensitively (the host's serialiser is lenient).
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// A JSON object, borrowed, or parsed from a string holding one (older hosts send
/// `"Query": "{}"`).
fn object(value: Option<&Value>) -> Option<Cow<'_, Map<String, Value>>> {
    match value? {
        Value::Object(map) => Some(Cow::Borrowed(map)),
        Value::String(s) => match serde_json::from_str(s) {
            Ok(Value::Object(map)) => Some(Cow::Owned(map)),
            _ => None,
        },
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Content the host sends base64-encoded in `Body`.
fn is_binary(content_type: Option<&str>) -> bool {
    let essence = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/octet-stream" || essence.starts_with("multipart/")
}

/// The call an invocation payload describes; `None` when the body is not one.
pub(crate) fn to_call(body: &[u8], function: &FunctionDef, layout: &Layout) -> Option<Call> {
    let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let data = object(field(&root, "Data"))?;
    let req = object(field(&data, &function.trigger_name))?;
    let method = field(&req, "Method")?.as_str()?.to_ascii_uppercase();
    // A method is an HTTP token; anything else is not a request the host would forward.
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let headers = Headers::from_pairs(
        object(field(&req, "Headers"))
            .unwrap_or_default()
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), text(v)?))),
    );
    let body = match field(&req, "Body") {
        None | Some(Value::Null) => Body::Empty,
        Some(Value::String(s)) if s.is_empty() => Body::Empty,
        // The host base64-encodes binary content (octet-stream, multipart); text arrives as is.
        Some(Value::String(s)) if is_binary(headers.first("content-type")) => {
            Body::Bytes(Bytes::from(STANDARD.decode(s).ok()?))
        }
        Some(Value::String(s)) => Body::Bytes(Bytes::copy_from_slice(s.as_bytes())),
        // JSON content arrives parsed; the function gets it back as JSON text.
        Some(value) => Body::Bytes(Bytes::from(serde_json::to_vec(value).ok()?)),
    };
    let query = object(field(&req, "Query"))
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
        .collect();
    let params = match object(field(&req, "Params")) {
        Some(p) => p
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
            .collect(),
        // Without `Params`, route the URL's path exactly as a forwarded request would be.
        None => field(&req, "Url")
            .and_then(Value::as_str)
            .and_then(|u| reqwest::Url::parse(u).ok())
            .and_then(|u| {
                layout
                    .route(u.path())
                    .filter(|(f, _)| f.name == function.name)
                    .map(|(_, p)| p)
            })
            .unwrap_or_default(),
    };
    let mut headers = headers;
    // Some hosts name the invocation in `Metadata`; the POST's own header, when present,
    // replaces it (see `host::dispatch`).
    if let Some(id) = field(&root, "Metadata")
        .and_then(|m| {
            m.get("InvocationId")
                .or_else(|| m.pointer("/sys/InvocationId"))
        })
        .and_then(Value::as_str)
    {
        headers.set(crate::telemetry::INVOCATION_HEADER, id.to_owned());
    }
    Some(Call {
        method,
        params,
        query,
        headers,
        body,
    })
}

/// Wraps a reply in the invocation response: always 200 JSON, the real status inside.
pub(crate) fn render(function: &FunctionDef, reply: &Reply) -> HttpResponse {
    let headers: Map<String, Value> = reply
        .headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect();
    let res = json!({
        "statusCode": reply.status,
        "headers": headers,
        "body": String::from_utf8_lossy(&reply.body),
    });
    let out = if function.output_name == "$return" {
        json!({"Outputs": {}, "Logs": [], "ReturnValue": res})
    } else {
        let mut outputs = Map::new();
        outputs.insert(function.output_name.clone(), res);
        json!({"Outputs": outputs, "Logs": [], "ReturnValue": null})
    };
    HttpResponse::Ok()
        .content_type("application/json")
        .body(out.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use serde_json::json;

    fn app() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("host.json"), r#"{"version":"2.0"}"#).unwrap();
        std::fs::create_dir(dir.path().join("echo")).unwrap();
        std::fs::write(
            dir.path().join("echo/function.json"),
            r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous"},{"type":"http","direction":"out","name":"res"}]}"#,
        )
        .unwrap();
        let layout = Layout::load(dir.path()).unwrap();
        (dir, layout)
    }

    async fn body_of(content_type: &str, body: Value) -> Vec<u8> {
        let (_dir, layout) = app();
        let function = layout.function("echo").unwrap();
        let payload = json!({"Data": {"req": {
            "Method": "POST", "Headers": {"Content-Type": [content_type]}, "Body": body,
        }}});
        let mut call = to_call(payload.to_string().as_bytes(), function, &layout).unwrap();
        call.body
            .read(1024, std::time::Duration::from_secs(1))
            .await
            .unwrap()
            .to_vec()
    }

    #[tokio::test]
    async fn bodies_arrive_as_the_host_encodes_them() {
        // Binary content is base64 in the payload; the function gets the bytes.
        assert_eq!(
            body_of("application/octet-stream", json!("AAEC/w==")).await,
            [0, 1, 2, 255]
        );
        assert_eq!(
            body_of("multipart/form-data; boundary=x", json!("aGk=")).await,
            b"hi"
        );
        // Text arrives as is; JSON arrives parsed and goes back to JSON text.
        assert_eq!(body_of("text/plain", json!("AAEC/w==")).await, b"AAEC/w==");
        assert_eq!(
            body_of("application/json", json!({"a": 1})).await,
            br#"{"a":1}"#
        );
    }
}
