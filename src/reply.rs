//! The answer to a call, independent of which host protocol carried it.

use serde::Serialize;

/// Status, headers and body of an answer; the host adapters render it as HTTP or `Outputs.res`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Header names as written on the wire; no name appears twice.
    pub headers: Vec<(&'static str, String)>,
    /// The body bytes (always JSON text here).
    pub body: Vec<u8>,
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
        }
    }

    /// A reply whose JSON body is already serialised.
    pub fn with_json_body(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", "application/json".to_owned())],
            body,
        }
    }

    /// A reply with no body.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
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
