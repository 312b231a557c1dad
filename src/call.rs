//! A call to a function as both host protocols describe it, with nothing of either protocol:
//! method, route parameters, query, headers, and a body that is read only when asked.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::web::{Bytes, BytesMut};
use std::borrow::Cow;

use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;

/// Request headers, matched case-insensitively.
#[derive(Clone, Default)]
pub(crate) struct Headers(Vec<(String, String)>);

impl std::fmt::Debug for Headers {
    /// Names only: values hold tokens, cookies and function keys, and a debug print of a call
    /// must never put them in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Headers {
    /// Headers from (name, value) pairs in arrival order; names are stored lower-case.
    pub(crate) fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Headers {
        Headers(
            pairs
                .into_iter()
                .map(|(mut name, value)| {
                    name.make_ascii_lowercase();
                    (name, value)
                })
                .collect(),
        )
    }

    /// Sets `name` to `value`, replacing any values it had.
    pub(crate) fn set(&mut self, name: &str, value: String) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.0.push((name.to_ascii_lowercase(), value));
    }

    /// Removes every value of `name`; true when there was one.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        self.retain(|n| !n.eq_ignore_ascii_case(name)) > 0
    }

    /// Keeps the headers whose (lower-case) name `keep` accepts; returns how many went.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) -> usize {
        let before = self.0.len();
        self.0.retain(|(n, _)| keep(n));
        before - self.0.len()
    }

    /// The first value of `name`.
    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header name (lower-case), repeated names once per value.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    /// Every (lower-case name, value) pair, in arrival order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The value of `name`; several values are joined with `, ` as HTTP allows. Borrowed
    /// when it came once (the usual case, and the bearer token is a kilobyte long).
    pub(crate) fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        let mut values = self
            .0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        let first = values.next()?;
        let Some(second) = values.next() else {
            return Some(Cow::Borrowed(first));
        };
        let mut all = [first, second].join(", ");
        for v in values {
            all.push_str(", ");
            all.push_str(v);
        }
        Some(Cow::Owned(all))
    }

    /// Removes every value of `name` and returns them as [`Headers::get`] reads them: a value
    /// that came once is moved out, not copied.
    pub(crate) fn take(&mut self, name: &str) -> Option<String> {
        let mut at = self
            .0
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| n.eq_ignore_ascii_case(name))
            .map(|(at, _)| at);
        match (at.next(), at.next()) {
            (None, _) => None,
            (Some(only), None) => Some(self.0.remove(only).1),
            (Some(_), Some(_)) => {
                let all = self.get(name).map(Cow::into_owned);
                self.remove(name);
                all
            }
        }
    }
}

/// Why a body could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Larger than the limit (known from `Content-Length`, or found while reading).
    TooLarge,
    /// Did not finish within the time allowed.
    Stalled,
    /// The connection failed while it was being read.
    Broken,
}

/// A request body, not yet read.
pub(crate) enum Body {
    /// No body.
    Empty,
    /// Already in memory (invocation payloads carry the body inside them).
    Bytes(Bytes),
    /// Still on the connection; `declared` is its `Content-Length`, if any.
    Stream {
        chunks: LocalBoxStream<'static, Result<Bytes, BodyError>>,
        declared: Option<u64>,
    },
}

impl Body {
    /// Reads the whole body, refusing one over `limit` bytes without buffering the rest, and
    /// one that does not arrive within `timeout`. A body read whole is taken (`self` becomes
    /// `Empty`); one refused stays, unread or partly read, so the server can tell that the
    /// connection still carries it (see [`Body::is_unread`]).
    pub(crate) async fn read(
        &mut self,
        limit: usize,
        timeout: Duration,
    ) -> Result<Bytes, BodyError> {
        let read = match self {
            Body::Empty => Ok(Bytes::new()),
            Body::Bytes(bytes) if bytes.len() > limit => Err(BodyError::TooLarge),
            Body::Bytes(bytes) => Ok(std::mem::take(bytes)),
            Body::Stream { declared, .. } if declared.is_some_and(|n| n > limit as u64) => {
                Err(BodyError::TooLarge)
            }
            Body::Stream { chunks, declared } => {
                let capacity = declared.map_or(0, |n| n as usize).min(limit);
                let read = async move {
                    let mut body = BytesMut::with_capacity(capacity);
                    while let Some(chunk) = chunks.next().await {
                        let chunk = chunk?;
                        if body.len() + chunk.len() > limit {
                            return Err(BodyError::TooLarge);
                        }
                        body.extend_from_slice(&chunk);
                    }
                    Ok(body.freeze())
                };
                tokio::time::timeout(timeout, read)
                    .await
                    .unwrap_or(Err(BodyError::Stalled))
            }
        };
        if read.is_ok() {
            *self = Body::Empty;
        }
        read
    }

    /// Gives an in-memory body its own allocation, so the buffer it was cut from (an invocation
    /// payload) can be freed.
    pub(crate) fn detach(&mut self) {
        if let Body::Bytes(bytes) = self {
            *bytes = Bytes::copy_from_slice(bytes);
        }
    }

    /// Whether part of the body may still be on the connection: it was never read, or reading
    /// it was refused. Replies to such calls close the connection rather than let the server
    /// drain a body nobody asked for (a chunked one could go on for ever).
    pub(crate) fn is_unread(&self) -> bool {
        matches!(self, Body::Stream { .. })
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::Stream { declared, .. } => write!(f, "Stream(declared {declared:?})"),
        }
    }
}

/// A call to a function.
pub(crate) struct Call {
    /// Upper-case HTTP method.
    pub(crate) method: String,
    /// Route parameters (`secret_name`).
    pub(crate) params: HashMap<String, String>,
    /// Query pairs in order.
    pub(crate) query: Vec<(String, String)>,
    /// Every request header.
    pub(crate) headers: Headers,
    /// The body, read by the gateway only once the guard has passed.
    pub(crate) body: Body,
}

impl std::fmt::Debug for Call {
    /// The method, the route's and headers' names, and how many query pairs: header and query
    /// values may hold credentials (a token, a cookie, a `code` or `sig` parameter; a bare
    /// `?token` is a name), and route values are the caller's.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut params: Vec<&str> = self.params.keys().map(String::as_str).collect();
        params.sort_unstable();
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("params", &params)
            .field("query_pairs", &self.query.len())
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn streamed(chunks: Vec<&'static [u8]>, declared: Option<u64>) -> Body {
        Body::Stream {
            chunks: stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c))))
                .boxed_local(),
            declared,
        }
    }

    #[test]
    fn a_header_is_read_borrowed_and_taken_without_a_copy_when_it_came_once() {
        let pairs = |list: &[(&str, &str)]| {
            Headers::from_pairs(
                list.iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect::<Vec<_>>(),
            )
        };
        let mut once = pairs(&[("Authorization", "Bearer t"), ("Accept", "a")]);
        assert!(matches!(
            once.get("authorization"),
            Some(Cow::Borrowed("Bearer t"))
        ));
        assert_eq!(once.take("AUTHORIZATION").as_deref(), Some("Bearer t"));
        assert_eq!(once.get("authorization"), None);
        assert_eq!(once.take("authorization"), None);
        assert_eq!(once.names().collect::<Vec<_>>(), ["accept"]);
        // Sent more than once: joined as HTTP reads it, every value taken.
        let mut twice = pairs(&[("x-a", "1"), ("Accept", "a"), ("X-A", "2"), ("x-a", "3")]);
        assert_eq!(twice.get("X-A").as_deref(), Some("1, 2, 3"));
        assert_eq!(twice.take("x-a").as_deref(), Some("1, 2, 3"));
        assert_eq!(twice.iter().collect::<Vec<_>>(), [("accept", "a")]);
    }

    #[tokio::test]
    async fn bodies_are_bounded_in_size_and_time() {
        let second = Duration::from_secs(1);
        assert_eq!(Body::Empty.read(0, second).await.unwrap().len(), 0);
        let mut at_limit = streamed(vec![b"ab", b"cd"], None);
        let read = at_limit.read(4, second).await;
        assert_eq!(read.unwrap(), Bytes::from_static(b"abcd"));
        assert!(!at_limit.is_unread(), "a body read whole is taken");
        let mut over = streamed(vec![b"ab", b"cde"], None);
        assert_eq!(over.read(4, second).await.unwrap_err(), BodyError::TooLarge);
        assert!(over.is_unread(), "the rest is still on the connection");
        // A declared length over the limit is refused before anything is read.
        let mut declared = streamed(vec![], Some(5));
        assert_eq!(
            declared.read(4, second).await.unwrap_err(),
            BodyError::TooLarge
        );
        assert!(declared.is_unread());
        let inline = Body::Bytes(Bytes::from_static(b"abcde"))
            .read(4, second)
            .await;
        assert_eq!(inline.unwrap_err(), BodyError::TooLarge);
        let mut never = Body::Stream {
            chunks: stream::pending().boxed_local(),
            declared: None,
        };
        let stalled = never.read(4, Duration::from_millis(20)).await;
        assert_eq!(stalled.unwrap_err(), BodyError::Stalled);
        assert!(never.is_unread());
    }

    #[test]
    fn headers_match_any_case_and_join_repeats() {
        let h = Headers::from_pairs([
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("X-Tag".to_owned(), "a".to_owned()),
            ("x-tag".to_owned(), "b".to_owned()),
        ]);
        assert_eq!(h.get("content-type").as_deref(), Some("application/json"));
        assert_eq!(h.get("X-TAG").as_deref(), Some("a, b"));
        assert_eq!(h.get("missing"), None);
    }

    #[test]
    fn a_debug_print_of_headers_or_a_call_names_no_value() {
        let headers = Headers::from_pairs([
            ("Authorization".to_owned(), "Bearer s3cret-token".to_owned()),
            (
                "Cookie".to_owned(),
                "AppServiceAuthSession=s3cret".to_owned(),
            ),
        ]);
        assert_eq!(format!("{headers:?}"), r#"["authorization", "cookie"]"#);
        let call = Call {
            method: "GET".to_owned(),
            params: HashMap::from([("id".to_owned(), "s3cret-id".to_owned())]),
            query: vec![("sig".to_owned(), "s3cret-sig".to_owned())],
            headers,
            body: Body::Bytes(Bytes::from_static(b"s3cret body")),
        };
        let printed = format!("{call:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("query_pairs: 1"), "{printed}");
    }
}
