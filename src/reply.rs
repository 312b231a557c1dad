//! The answer to a call, independent of which host protocol carried it.

use actix_web::web::Bytes;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::stream::{LocalBoxStream, Stream, StreamExt};
use serde::Serialize;
use std::borrow::Cow;

use crate::errors::{ApiError, Challenge, Detail, ErrorKind, plain_body};

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
    /// What the call line and telemetry say beyond status and code, and a refusal to render
    /// with the app's challenges (an MCP request's; see [`CallMeta`]).
    pub(crate) meta: Option<Box<CallMeta>>,
}

/// What a reply tells the gateway besides itself.
#[derive(Debug, Default)]
pub(crate) struct CallMeta {
    /// Fields for the call line and telemetry (an MCP request's method, tool and outcome);
    /// values are funcgate's own or checked, never the caller's text as it came.
    pub(crate) notes: Vec<(&'static str, Cow<'static, str>)>,
    /// An error the gateway renders in place of this reply (with the app's challenges), the
    /// notes kept.
    pub(crate) refusal: Option<ApiError>,
}

impl Reply {
    /// Adds a call-line field.
    pub(crate) fn note(&mut self, name: &'static str, value: impl Into<Cow<'static, str>>) {
        self.meta
            .get_or_insert_default()
            .notes
            .push((name, value.into()));
    }

    /// A refusal the gateway renders, carrying call-line fields.
    pub(crate) fn refusal(err: ApiError) -> Reply {
        let mut reply = Reply::empty(err.status());
        reply.meta = Some(Box::new(CallMeta {
            notes: Vec::new(),
            refusal: Some(err),
        }));
        reply
    }
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

/// What the challenges of an app's errors name besides the error itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Challenges {
    /// `resource_metadata="..."` on every 401 (RFC 9728), when `PUBLIC_BASE_URL` is set.
    pub(crate) resource_metadata: Option<String>,
    /// `authorization_uri="..."` of a claims challenge: the provider's authorize endpoint,
    /// left out when none is known (a wrong one would send clients elsewhere). The value is
    /// quoted as is: it must hold no `"`, `\`, control or non-ASCII character.
    pub(crate) authorization_uri: Option<String>,
    /// `scope="..."` on a 401: what connecting needs (an MCP endpoint's scopes), space-separated
    /// full scope values.
    pub(crate) scope: Option<String>,
    /// `resource_metadata` on a 403 too (an MCP server's challenges).
    pub(crate) metadata_on_403: bool,
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
            meta: None,
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
            meta: None,
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
            _ => Reply::error(
                &ApiError::new(ErrorKind::ReplyTooLarge)
                    .because("the streamed reply did not end within its limits"),
                false,
            ),
        }
    }

    /// A reply whose JSON body is already serialised.
    pub fn with_json_body(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body,
            stream: None,
            meta: None,
        }
    }

    /// A reply with no body.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            stream: None,
            meta: None,
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

    /// The first header HTTP cannot carry: a name that is not a token, or a value with a
    /// control character (CR, LF, NUL, ...). Such a reply would make the server answer a bare
    /// 500 of its own after the function's work is done, while the call line said otherwise.
    pub(crate) fn unsendable_header(&self) -> Option<&'static str> {
        self.headers
            .iter()
            .find(|(name, value)| {
                http::HeaderName::from_bytes(name.as_bytes()).is_err()
                    || http::HeaderValue::from_str(value).is_err()
            })
            .map(|(name, _)| *name)
    }

    /// The value of a header, by case-insensitive name.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The catalogue's answer for `err`: its status, the `{"code", "description"}` body (with
    /// `debug`, the reason, when `debug` is true), `Cache-Control: no-store`, and the
    /// `WWW-Authenticate`, `Allow` or `Retry-After` header its kind carries. Errors are rendered
    /// here and nowhere else, so every protocol and every function answers alike.
    ///
    /// ```
    /// use funcgate::{ApiError, ErrorKind, Reply};
    ///
    /// let reply = Reply::error(&ApiError::new(ErrorKind::NotFound), false);
    /// assert_eq!(reply.status, 404);
    /// assert_eq!(reply.header_value("cache-control"), Some("no-store"));
    /// ```
    pub fn error(err: &ApiError, debug: bool) -> Reply {
        Reply::error_for(err, debug, &Challenges::default())
    }

    /// [`Reply::error`], with the app's challenge parameters.
    pub(crate) fn error_for(err: &ApiError, debug: bool, challenges: &Challenges) -> Reply {
        #[derive(Serialize)]
        struct Body<'a> {
            code: &'a str,
            description: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            debug: Option<&'a str>,
        }
        let (code, description, status, challenge) = err.kind.spec();
        let mut reply = match err.reason.as_deref().filter(|_| debug) {
            Some(reason) => Reply::json(
                status,
                &Body {
                    code,
                    description,
                    debug: Some(reason),
                },
            ),
            // A function's own kind is rendered each time.
            None if matches!(err.kind, ErrorKind::Custom { .. }) => Reply::json(
                status,
                &Body {
                    code,
                    description,
                    debug: None,
                },
            ),
            // Without a reason a catalogue body is fixed per kind: rendered once, copied after.
            None => Reply::with_json_body(status, plain_body(err.kind).to_vec()),
        };
        reply.header("Cache-Control", "no-store");
        // RFC 9728: every 401 points OAuth clients at the resource's metadata.
        let metadata = |value: String| {
            let value = match (&challenges.scope, status) {
                (Some(scope), 401) if value == "Bearer" => format!("Bearer scope=\"{scope}\""),
                (Some(scope), 401) => format!("{value}, scope=\"{scope}\""),
                _ => value,
            };
            match (&challenges.resource_metadata, status) {
                (Some(url), 401) if value == "Bearer" => {
                    format!("Bearer resource_metadata=\"{url}\"")
                }
                (Some(url), 401) => format!("{value}, resource_metadata=\"{url}\""),
                // The MCP authorization spec's 403 names the metadata too; a plain API's
                // 403 is left as RFC 6750 shows it.
                (Some(url), 403) if challenges.metadata_on_403 => {
                    format!("{value}, resource_metadata=\"{url}\"")
                }
                _ => value,
            }
        };
        match challenge {
            Challenge::None => {}
            Challenge::NoToken => reply.header("WWW-Authenticate", metadata("Bearer".to_owned())),
            Challenge::InvalidToken => reply.header(
                "WWW-Authenticate",
                metadata(format!(
                    "Bearer error=\"invalid_token\", error_description=\"{description}\""
                )),
            ),
            Challenge::InsufficientScope => {
                let value = match &err.detail {
                    Detail::Scope(scope) => {
                        format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"")
                    }
                    _ => "Bearer error=\"insufficient_scope\"".to_owned(),
                };
                reply.header("WWW-Authenticate", metadata(value));
            }
            Challenge::InsufficientClaims => {
                let claims = match &err.detail {
                    Detail::Claims(json) => STANDARD.encode(json),
                    _ => String::new(),
                };
                let authorization_uri = match &challenges.authorization_uri {
                    Some(url) => format!("authorization_uri=\"{url}\", "),
                    None => String::new(),
                };
                reply.header(
                    "WWW-Authenticate",
                    metadata(format!(
                        "Bearer realm=\"\", {authorization_uri}error=\"insufficient_claims\", claims=\"{claims}\""
                    )),
                );
            }
        }
        match &err.detail {
            Detail::Allow(methods) => reply.header("Allow", methods.clone()),
            Detail::RetryAfter(seconds) => reply.header("Retry-After", seconds.to_string()),
            Detail::Scope(_) | Detail::Claims(_) | Detail::None => {}
        }
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_code_and_description_and_debug_only_when_enabled() {
        let err = ApiError::new(ErrorKind::InvalidClaims).because("audience mismatch");
        let plain = Reply::error(&err, false);
        assert_eq!(plain.status, 401);
        assert_eq!(
            plain.body,
            br#"{"code":"InvalidAuthorizationClaims","description":"Failed to validate authorization claims."}"#
        );
        let debug = Reply::error(&err, true);
        let v: serde_json::Value = serde_json::from_slice(&debug.body).unwrap();
        assert_eq!(v["debug"], "audience mismatch");
    }

    #[test]
    fn a_functions_own_errors_render_like_the_catalogues() {
        let err = ApiError::custom(409, "ItemExists", "An item with this id exists.");
        let reply = Reply::error(&err, false);
        assert_eq!(reply.status, 409);
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"code": "ItemExists", "description": "An item with this id exists."})
        );
        let shown = Reply::error(&err.clone().because("id 7 is taken"), true);
        assert!(String::from_utf8_lossy(&shown.body).contains("id 7 is taken"));
        assert_eq!(ApiError::custom(200, "Odd", "not an error").status(), 500);
    }

    #[test]
    fn headers_http_cannot_carry_are_found() {
        let mut reply = Reply::json(201, &"ok");
        reply.header("Location", "/items/a%0D%0A");
        assert_eq!(reply.unsendable_header(), None);
        for bad in ["a\r\nSet-Cookie: x", "a\nb", "a\0b", "a\u{7f}"] {
            reply.header("Location", bad);
            assert_eq!(reply.unsendable_header(), Some("Location"), "{bad:?}");
        }
        let mut named = Reply::empty(200);
        named.header("Bad Name", "x");
        assert_eq!(named.unsendable_header(), Some("Bad Name"));
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        let missing = Reply::error(&ApiError::new(ErrorKind::AuthorizationHeaderMissing), false);
        assert_eq!(missing.header_value("www-authenticate"), Some("Bearer"));
        let expired = Reply::error(&ApiError::new(ErrorKind::TokenExpired), false);
        assert_eq!(
            expired.header_value("www-authenticate"),
            Some(
                "Bearer error=\"invalid_token\", error_description=\"Authorization bearer token is expired.\""
            )
        );
        let forbidden = Reply::error(
            &ApiError::new(ErrorKind::RoleForbidden).with(Detail::Scope("GetSecret".into())),
            false,
        );
        assert_eq!(
            forbidden.header_value("www-authenticate"),
            Some("Bearer error=\"insufficient_scope\", scope=\"GetSecret\"")
        );
        let unavailable = Reply::error(
            &ApiError::new(ErrorKind::SigningKeysUnavailable).with(Detail::RetryAfter(5)),
            false,
        );
        assert_eq!(unavailable.status, 503);
        assert_eq!(unavailable.header_value("retry-after"), Some("5"));
        assert_eq!(unavailable.header_value("www-authenticate"), None);
    }

    #[test]
    fn a_claims_challenge_names_an_authorization_uri_only_when_one_is_known() {
        let err = ApiError::new(ErrorKind::InsufficientClaims).with(Detail::Claims("{}".into()));
        let known = Challenges {
            resource_metadata: None,
            authorization_uri: Some("https://idp.example/authorize".into()),
            scope: None,
            metadata_on_403: false,
        };
        assert_eq!(
            Reply::error_for(&err, false, &known).header_value("www-authenticate"),
            Some(
                "Bearer realm=\"\", authorization_uri=\"https://idp.example/authorize\", error=\"insufficient_claims\", claims=\"e30=\""
            )
        );
        assert_eq!(
            Reply::error_for(&err, false, &Challenges::default()).header_value("www-authenticate"),
            Some("Bearer realm=\"\", error=\"insufficient_claims\", claims=\"e30=\"")
        );
    }
}
