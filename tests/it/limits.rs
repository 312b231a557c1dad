//! Request limits: slow clients, oversized heads and bodies are cut off by the HTTP layer while
//! everyone else is served.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::*;

fn raw(base: &str, bytes: &[u8]) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_loris_connections_are_dropped_and_others_served() {
    let s = Setup::start("", |c| c).await;
    let addr = s.handler.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let slow: Vec<_> = (0..40)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(&addr).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
                let _ = c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n");
                // One header line a second, never finishing the head.
                let mut answer = Vec::new();
                for i in 0..12 {
                    if c.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                        .is_err()
                    {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    c.set_nonblocking(true).ok();
                    let mut buf = [0u8; 512];
                    if let Ok(n) = c.read(&mut buf) {
                        answer.extend_from_slice(&buf[..n]);
                        break;
                    }
                    c.set_nonblocking(false).ok();
                }
                String::from_utf8_lossy(&answer).into_owned()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.assert_served_promptly(20, Duration::from_millis(100))
        .await;
    for handle in slow {
        let answer = handle.join().unwrap();
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "cut off by the 5 s head timeout"
    );
}

#[tokio::test]
async fn oversized_heads_and_bodies() {
    let mut s = Setup::start("", |c| c).await;
    let base = s.handler.base.clone();
    let big = raw(
        &base,
        &[
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ".as_slice(),
            &vec![b'a'; 200_000],
            b"\r\n\r\n",
        ]
        .concat(),
    );
    assert!(big.starts_with("HTTP/1.1 431"), "{big}");
    let many: Vec<u8> = (0..120)
        .flat_map(|i| format!("X-H{i}: 1\r\n").into_bytes())
        .collect();
    let many = raw(
        &base,
        &[
            b"GET /health HTTP/1.1\r\nHost: x\r\n".as_slice(),
            &many,
            b"\r\n",
        ]
        .concat(),
    );
    assert!(many.starts_with("HTTP/1.1 431"), "{many}");
    let garbage = raw(&base, b"NOT-HTTP\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    // An invocation payload over 4 x MAX_REQUEST_BODY_BYTES + 256 KiB (room for a JSON-escaped
    // 1 MiB body) is not read: 413, the rest left unread.
    let huge = format!(
        "{{\"Data\":{{\"req\":{{\"Method\":\"GET\",\"Pad\":\"{}\"}}}}}}",
        "x".repeat(4 * 1024 * 1024 + 300_000)
    );
    let resp = client()
        .post(s.invoked().await.url("/health"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // A 16 KiB + 1 token is refused before decoding.
    let long = format!("Bearer {}", "a".repeat(16 * 1024 + 1));
    s.get("/vault/demo", None)
        .await
        .assert_error(401, "AuthorizationHeaderMissing");
    get(&s.handler.route("/vault/demo"), Some(&long))
        .await
        .assert_error(401, "InvalidAuthorizationHeader");
    assert!(s.handler.is_alive());
    assert_eq!(s.get("/health", None).await.status, 200);
}
