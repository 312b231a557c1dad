//! The parts of an OpenID discovery document funcgate reads, and the checks on the one it
//! passes on to callers (`authorization_endpoint`, quoted in claims challenges). Plain data,
//! tested without HTTP.

use serde::Deserialize;

use crate::net;

/// An OpenID discovery document, as far as funcgate uses it.
#[derive(Deserialize)]
pub(crate) struct Discovery {
    /// The issuer tokens signed with these keys carry.
    pub(crate) issuer: String,
    /// Where the signing keys are.
    pub(crate) jwks_uri: String,
    /// Where clients sign in. Token validation does not need it, so it is read as any JSON
    /// value and checked by [`authorization_endpoint`]: a bad one must not stop keys loading.
    #[serde(default)]
    pub(crate) authorization_endpoint: Option<serde_json::Value>,
}

/// Why a document's `authorization_endpoint` is not passed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EndpointError {
    /// Not a JSON string.
    NotText,
    /// Holds a character a quoted header parameter cannot carry as is (controls, space,
    /// `"`, `\`, non-ASCII).
    Unquotable,
    /// Not an https URL (or http on a loopback address).
    Url(net::UrlError),
    /// Has a fragment, which RFC 6749 (3.1) forbids on an authorization endpoint.
    Fragment,
}

impl std::fmt::Display for EndpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointError::NotText => f.write_str("is not a string"),
            EndpointError::Unquotable => {
                f.write_str("holds a character a WWW-Authenticate header cannot quote")
            }
            EndpointError::Url(e) => write!(f, "{e}"),
            EndpointError::Fragment => f.write_str("has a fragment"),
        }
    }
}

/// The document's `authorization_endpoint`, fit to be quoted in a `WWW-Authenticate` header
/// as it was published: an https URL (or loopback http, as for the document itself) of
/// visible ASCII without `"` or `\`, so it can never end the quoted value or the header.
pub(crate) fn authorization_endpoint(value: &serde_json::Value) -> Result<String, EndpointError> {
    let text = value.as_str().ok_or(EndpointError::NotText)?;
    if !text
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        return Err(EndpointError::Unquotable);
    }
    let url = net::check_url(text).map_err(EndpointError::Url)?;
    if url.fragment().is_some() {
        return Err(EndpointError::Fragment);
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_https_or_loopback_endpoint_is_passed_on_as_published() {
        for ok in [
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize",
            "https://idp.example/authorize?p=B2C_1_signin",
            "http://127.0.0.1:8080/t/oauth2/v2.0/authorize",
        ] {
            assert_eq!(authorization_endpoint(&json!(ok)).as_deref(), Ok(ok));
        }
    }

    #[test]
    fn an_endpoint_that_could_break_the_header_or_mislead_is_refused() {
        let refused = |v: serde_json::Value| authorization_endpoint(&v).unwrap_err();
        assert_eq!(refused(json!(7)), EndpointError::NotText);
        assert_eq!(refused(json!(null)), EndpointError::NotText);
        for bad in [
            "https://idp.example/a\"b",
            "https://idp.example/a\r\nSet-Cookie: x=1",
            "https://idp.example/a\\b",
            "https://idp.example/a b",
            "https://idp.example/\u{e9}",
        ] {
            assert_eq!(refused(json!(bad)), EndpointError::Unquotable, "{bad:?}");
        }
        assert!(matches!(
            refused(json!("http://idp.example/authorize")),
            EndpointError::Url(_)
        ));
        for bad in ["javascript:alert(1)", ""] {
            assert!(
                matches!(refused(json!(bad)), EndpointError::Url(_)),
                "{bad:?}"
            );
        }
        assert_eq!(
            refused(json!("https://idp.example/authorize#x")),
            EndpointError::Fragment
        );
    }
}
