//! Forwarded requests: the raw HTTP request at its public path.

use actix_web::{HttpRequest, web};
use futures_util::StreamExt;

use crate::call::{Body, BodyError, Call, Headers};

/// The call a forwarded request describes (route parameters are filled in by routing).
pub(crate) fn to_call(req: &HttpRequest, body: Body) -> Call {
    let headers = Headers::from_pairs(req.headers().iter().map(|(name, value)| {
        // `str::from_utf8` first: its word-at-a-time ASCII check is several times faster than
        // the lossy decoder's, and every request carries a kilobyte-long bearer token.
        let value = match std::str::from_utf8(value.as_bytes()) {
            Ok(text) => text.to_owned(),
            Err(_) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
        };
        (name.as_str().to_owned(), value)
    }));
    Call {
        method: req.method().as_str().to_ascii_uppercase(),
        params: Default::default(),
        query: form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect(),
        headers,
        body,
    }
}

/// The request's body, left on the connection until the gateway decides to read it.
pub(crate) fn body(req: &HttpRequest, payload: web::Payload) -> Body {
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // HTTP/1.1: a request with neither a length nor chunked coding has no body.
    let chunked = req.headers().contains_key("transfer-encoding");
    if declared == Some(0) || (declared.is_none() && !chunked) {
        return Body::Empty;
    }
    Body::Stream {
        chunks: payload
            .map(|c| c.map_err(|_| BodyError::Broken))
            .boxed_local(),
        declared,
    }
}
