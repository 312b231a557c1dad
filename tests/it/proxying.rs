//! Proxying mode (`enableProxyingHttpRequest`, issue 20), played as the host's YARP forwarder
//! sends requests (azure-functions-host `DefaultHttpProxyService` with YARP's
//! `HttpTransformer.Default`): the original path with its route prefix and query, `Host`
//! replaced by the handler's address, `X-Forwarded-For`/`-Host`/`-Proto` set, the client's
//! `traceparent` passed, the host's invocation headers set, and the request body streamed
//! (chunked when the client's was).

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use crate::support::*;

const INVOCATION: &str = "6b0c2f1e-0000-4000-8000-0000000000aa";

/// Sends `head` then `chunks` as a chunked body over a raw connection; returns (status line,
/// body text).
fn send_chunked(addr: &str, head: &str, chunks: &[&[u8]]) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    for chunk in chunks {
        stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .unwrap();
        stream.write_all(chunk).unwrap();
        stream.write_all(b"\r\n").unwrap();
        // YARP streams the client's body as it arrives.
        std::thread::sleep(Duration::from_millis(20));
    }
    stream.write_all(b"0\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn yarp_shaped_requests_with_the_route_prefix_and_a_chunked_body() {
    let s = Setup::start("api", |c| c.set("AUTH_DEBUG_ERRORS", "true")).await;
    let writer = s.token(&["SetSecret", "GetSecret"]);
    let addr = s.handler.addr();
    let head = format!(
        "PUT /api/vault/proxied?tag=a HTTP/1.1\r\n\
         Host: {addr}\r\n\
         Authorization: Bearer {writer}\r\n\
         Content-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\
         X-Forwarded-For: 203.0.113.7\r\n\
         X-Forwarded-Host: my-app.azurewebsites.net\r\n\
         X-Forwarded-Proto: https\r\n\
         traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\
         X-Azure-Functions-HostVersion: 4.1040.0\r\n\
         X-Azure-Functions-InvocationId: {INVOCATION}\r\n\
         x-ms-invocation-id: {INVOCATION}\r\n\
         \r\n"
    );
    let (status, body) = tokio::task::spawn_blocking(move || {
        send_chunked(
            &addr,
            &head,
            &[b"{\"val", b"ue\": \"through", b" the proxy\"}"],
        )
    })
    .await
    .unwrap();
    assert!(status.starts_with("HTTP/1.1 201"), "{status} {body}");
    let a = s.get("/vault/proxied", Some(&writer)).await;
    assert_eq!(a.json()["value"], "through the proxy");
    let logs = s.handler.logs();
    assert!(
        logs.contains("call function=vault method=PUT status=201 code=- reason=\"-\"")
            && logs.contains(&format!("invocation_id={INVOCATION}")),
        "{logs}"
    );
    // The same refusals as in the other modes: the gate does not care how the call came.
    let addr = s.handler.addr();
    let (status, body) = tokio::task::spawn_blocking(move || {
        send_chunked(
            &addr,
            "PUT /api/vault/proxied HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nX-Forwarded-Proto: https\r\n\r\n",
            &[b"{\"value\": \"x\"}"],
        )
    })
    .await
    .unwrap();
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    assert!(body.contains("AuthorizationHeaderMissing"), "{body}");
}
