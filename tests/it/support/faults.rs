//! A TCP server that misbehaves on purpose: resets, hangs, drips, floods.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// What every connection gets.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Closed at once, before any answer.
    Reset,
    /// Accepted and never answered.
    Hang,
    /// Headers, then one body byte every 200 ms.
    Drip,
    /// A 2 MiB JSON body with its length announced.
    HugeBody,
    /// A 2 MiB JSON body in chunks, length unannounced.
    HugeChunked,
    /// `200 OK` with HTML instead of JSON.
    NotJson,
}

/// The running server.
pub struct FaultServer {
    pub base: String,
    connections: Arc<AtomicUsize>,
}

impl FaultServer {
    pub fn start(fault: Fault) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let connections = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&connections);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                thread::spawn(move || serve(stream, fault));
            }
        });
        FaultServer { base, connections }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The `https://` form of the address (for clients that insist on TLS).
    pub fn https(&self) -> String {
        self.base.replace("http://", "https://")
    }
}

fn read_request(stream: &mut TcpStream) {
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf);
}

fn serve(mut stream: TcpStream, fault: Fault) {
    match fault {
        Fault::Reset => {
            // Unread request data makes the kernel answer the close with an RST.
            let _ = stream.shutdown(std::net::Shutdown::Both);
            drop(stream);
        }
        Fault::Hang => {
            thread::sleep(Duration::from_secs(40));
        }
        Fault::Drip => {
            read_request(&mut stream);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
            );
            for _ in 0..200 {
                thread::sleep(Duration::from_millis(200));
                if stream.write_all(b" ").is_err() {
                    return;
                }
            }
        }
        Fault::HugeBody => {
            read_request(&mut stream);
            let size = 2 * 1024 * 1024;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                size + 2
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(b"[");
            let _ = stream.write_all(&vec![b' '; size]);
            let _ = stream.write_all(b"]");
        }
        Fault::HugeChunked => {
            read_request(&mut stream);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..40 {
                let _ = stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes());
                if stream.write_all(&chunk).is_err() || stream.write_all(b"\r\n").is_err() {
                    return;
                }
            }
            let _ = stream.write_all(b"0\r\n\r\n");
        }
        Fault::NotJson => {
            read_request(&mut stream);
            let body = "<html>maintenance</html>";
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    }
}
