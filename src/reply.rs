//! The answer to a call, independent of which host protocol carried it.

use actix_web::web::Bytes;
use futures_util::stream::{LocalBoxStream, Stream, StreamExt};
use serde::Serialize;

/// How long a streamed reply may take to be collected for a mode that buffers (the host's
/// proxy gives up on an idle connection after 240 s).
pub(crate) const COLLECT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(230);

/// Status, headers and body of an answer; the host adapters render it as HTTP or `Outputs.res`.
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Header names as written on the wire; no name appears twice.
    pub headers: Vec<(&'static str, String)>,
    /// The body bytes (for a streamed reply, empty: see [`Reply::stream`]).
    pub body: Vec<u8>,
    /// A body produced while it is sent.
    pub(crate) stream: Option<LocalBoxStream<'static, Bytes>>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_bytes", &self.body.len())
            .field("streamed", &self.stream.is_some())
            .finish()
    }
}

impl Reply {
    /// A JSON reply serialised from `value`.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        // Serialising our own plain structs cannot fail; an empty object keeps the body valid JSON.
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Reply {
            status,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body,
            stream: None,
        }
    }

    /// A reply whose body is produced while it is sent (server-sent events, a large export):
    /// in proxying mode each piece reaches the client as it is produced; in the modes where
    /// the host buffers (forwarding, invocation payloads) the same reply works and arrives
    /// whole.
    ///
    /// ```
    /// use funcgate::{Outcome, Reply, Request};
    ///
    /// async fn ticks(_req: Request) -> Outcome {
    ///     let events = futures_util::stream::iter(1..=3)
    ///         .map(|n| format!("data: tick {n}\n\n").into());
    ///     Ok(Reply::stream(200, "text/event-stream", events))
    /// }
    /// # use futures_util::StreamExt;
    /// # let _: funcgate::Function = funcgate::Function::new("ticks", ticks);
    /// ```
    pub fn stream(
        status: u16,
        content_type: &str,
        body: impl Stream<Item = Bytes> + 'static,
    ) -> Reply {
        Reply {
            status,
            headers: vec![
                ("Content-Type", content_type.to_owned()),
                ("Cache-Control", "no-store".to_owned()),
            ],
            body: Vec::new(),
            stream: Some(body.boxed_local()),
        }
    }

    /// The whole body, for the modes that buffer: a streamed one is read to its end, unless
    /// it grows past `max_bytes` or is still going after [`COLLECT_DEADLINE`] (an endless
    /// event stream), which is answered `502 ReplyTooLarge` instead.
    pub(crate) async fn collect(mut self, max_bytes: usize) -> Reply {
        let Some(mut stream) = self.stream.take() else {
            return self;
        };
        let read = async {
            while let Some(piece) = stream.next().await {
                if self.body.len() + piece.len() > max_bytes {
                    return false;
                }
                self.body.extend_from_slice(&piece);
            }
            true
        };
        match tokio::time::timeout(COLLECT_DEADLINE, read).await {
            Ok(true) => self,
            _ => crate::errors::ApiError::new(crate::errors::ErrorKind::ReplyTooLarge)
                .because("the streamed reply did not end within its limits")
                .render(false),
        }
    }

    /// A reply whose JSON body is already serialised.
    pub fn with_json_body(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body,
            stream: None,
        }
    }

    /// A reply with no body.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            stream: None,
        }
    }

    /// Sets a header, replacing any earlier value of the same name.
    pub fn header(&mut self, name: &'static str, value: impl Into<String>) {
        let value = value.into();
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.headers.push((name, value)),
        }
    }

    /// The value of a header, by case-insensitive name.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
