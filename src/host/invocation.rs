//! Invocation requests: `POST /{function}` with the host's `Data`/`Metadata` JSON.
//!
//! Only the request data the host copied from the HTTP request is used (method, headers,
//! query, route parameters, body); `Identities` and every other claim-like field are ignored,
//! so the guard runs on exactly what a forwarded request would carry. The host sends `Body` as
//! a string, or as the parsed JSON value for JSON content; both become the same bytes.

use std::fmt;

use actix_web::HttpResponse;
use serde::Deserializer as _;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::layout::{FunctionDef, Layout};
use actix_web::web::Bytes;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::call::{Body, Call, Headers};
use crate::reply::Reply;

/// Most headers, query pairs or route parameters one payload may carry; more is not a
/// request the host would send (HTTP servers refuse about a hundred headers).
const MAX_ENTRIES: usize = 512;

// A payload is read field by field from its text, never as a whole JSON tree: a tree of a
// caller's `[0,0,0,...]` body takes many times the payload's size in memory. Fields funcgate
// does not use are skipped without being kept, and each kept value is at most the size of its
// text.

/// The raw JSON of the fields `names` of a JSON object (exact name first, else any case, as
/// the host's serialiser is lenient); `None` when `json` is not an object.
fn fields<'a, const N: usize>(
    json: &'a RawValue,
    names: [&str; N],
) -> Option<[Option<&'a RawValue>; N]> {
    struct Pick<'n, const N: usize>([&'n str; N]);
    impl<'de, const N: usize> Visitor<'de> for Pick<'_, N> {
        type Value = [Option<&'de RawValue>; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
            let mut found = [None; N];
            let mut exact = [false; N];
            while let Some(key) = map.next_key::<String>()? {
                let slot = self
                    .0
                    .iter()
                    .position(|n| *n == key)
                    .map(|i| (i, true))
                    .or_else(|| {
                        self.0
                            .iter()
                            .position(|n| n.eq_ignore_ascii_case(&key))
                            .map(|i| (i, false))
                    });
                match slot {
                    Some((i, is_exact)) if found[i].is_none() || (is_exact && !exact[i]) => {
                        found[i] = Some(map.next_value::<&'de RawValue>()?);
                        exact[i] = is_exact;
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json.get());
    de.deserialize_map(Pick(names)).ok()
}

/// A JSON object, or a string holding one (older hosts send `"Query": "{}"`), as (name, text)
/// pairs; see [`Text`] for the values kept. `None` past [`MAX_ENTRIES`] or for other JSON.
fn pairs(json: &RawValue) -> Option<Vec<(String, String)>> {
    struct Pairs;
    impl<'de> Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
            let mut out = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                if let Some(value) = map.next_value::<Text>()?.0 {
                    if out.len() == MAX_ENTRIES {
                        return Err(de::Error::custom("too many entries"));
                    }
                    out.push((key, value));
                }
            }
            Ok(out)
        }
    }
    let text = json.get();
    if text.trim_start().starts_with('"') {
        let inner: String = serde_json::from_str(text).ok()?;
        let inner: &RawValue = serde_json::from_str(&inner).ok()?;
        return pairs(inner);
    }
    serde_json::Deserializer::from_str(text)
        .deserialize_map(Pairs)
        .ok()
}

/// A header, query or parameter value: a string, a number, a boolean, or an array of those
/// joined with `, ` (built as it is read); anything else is left out.
struct Text(Option<String>);

impl<'de> de::Deserialize<'de> for Text {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or array of them")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(Some(v.to_owned())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
                let mut joined: Option<String> = None;
                while let Some(Text(item)) = seq.next_element::<Text>()? {
                    if let Some(item) = item {
                        match &mut joined {
                            Some(all) => {
                                all.push_str(", ");
                                all.push_str(&item);
                            }
                            None => joined = Some(item),
                        }
                    }
                }
                Ok(Text(joined))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Text, M::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON string's value.
fn string(json: &RawValue) -> Option<String> {
    serde_json::from_str(json.get()).ok()
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
pub(crate) fn to_call(payload: &Bytes, function: &FunctionDef, layout: &Layout) -> Option<Call> {
    let text = std::str::from_utf8(payload).ok()?;
    let root: &RawValue = serde_json::from_str(text).ok()?;
    let [data, metadata] = fields(root, ["Data", "Metadata"])?;
    let [req] = fields(data?, [function.trigger_name.as_str()])?;
    let [method, headers, body, query, params, url] = fields(
        req?,
        ["Method", "Headers", "Body", "Query", "Params", "Url"],
    )?;
    let method = string(method?)?.to_ascii_uppercase();
    // A method is an HTTP token; anything else is not a request the host would forward.
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut headers = match headers {
        Some(h) if h.get() != "null" => Headers::from_pairs(pairs(h)?),
        _ => Headers::default(),
    };
    let body = match body.map(RawValue::get) {
        None | Some("null") => Body::Empty,
        Some(raw) if raw.trim_start().starts_with('"') => {
            let s: String = serde_json::from_str(raw).ok()?;
            if s.is_empty() {
                Body::Empty
            } else if is_binary(headers.first("content-type")) {
                // The host base64-encodes binary content (octet-stream, multipart).
                Body::Bytes(Bytes::from(STANDARD.decode(s).ok()?))
            } else {
                Body::Bytes(Bytes::from(s.into_bytes()))
            }
        }
        // JSON content arrives parsed; the function gets it back as JSON text, the very bytes
        // of the payload (no copy).
        Some(raw) => Body::Bytes(payload.slice_ref(raw.trim().as_bytes())),
    };
    let query = match query {
        Some(q) if q.get() != "null" => pairs(q)?,
        _ => Vec::new(),
    };
    let params = match params.filter(|p| p.get() != "null") {
        Some(p) => pairs(p)?.into_iter().collect(),
        // Without `Params`, route the URL's path exactly as a forwarded request would be.
        None => url
            .and_then(string)
            .and_then(|u| reqwest::Url::parse(&u).ok())
            .and_then(|u| {
                layout
                    .route(&method, u.path())
                    .filter(|r| r.function.name == function.name)
                    .map(|r| r.params)
            })
            .unwrap_or_default(),
    };
    // Some hosts name the invocation in `Metadata`; the POST's own header, when present,
    // replaces it (see `host::dispatch`).
    if let Some([id, sys]) = metadata.and_then(|m| fields(m, ["InvocationId", "sys"])) {
        let id = id
            .or_else(|| {
                sys.and_then(|s| fields(s, ["InvocationId"]))
                    .and_then(|[i]| i)
            })
            .and_then(string);
        if let Some(id) = id {
            headers.set(crate::telemetry::INVOCATION_HEADER, id);
        }
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
        let layout = Layout::load(dir.path(), &Default::default()).unwrap();
        (dir, layout)
    }

    async fn body_of(content_type: &str, body: Value) -> Vec<u8> {
        let (_dir, layout) = app();
        let function = layout.function("echo").unwrap();
        let payload = json!({"Data": {"req": {
            "Method": "POST", "Headers": {"Content-Type": [content_type]}, "Body": body,
        }}});
        let mut call = to_call(&Bytes::from(payload.to_string()), function, &layout).unwrap();
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
