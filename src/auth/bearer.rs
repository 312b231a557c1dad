//! `Authorization` header → raw token, with the original decorator's four checks in its order.

use crate::errors::ErrorKind;

/// Returns the token from an `Authorization` header value, or the catalogue error.
pub fn token_from_header(header: Option<&str>) -> Result<&str, ErrorKind> {
    // The common case, `Bearer <token>` with nothing else, is answered by one branch-free scan:
    // every ASCII whitespace byte is at most 0x20, so a token without such bytes is whole.
    if let Some(value) = header
        && value.len() > 7
        && value.as_bytes()[..7].eq_ignore_ascii_case(b"bearer ")
        && !value.as_bytes()[7..]
            .iter()
            .fold(false, |low, b| low | (*b <= b' '))
    {
        return Ok(&value[7..]);
    }
    // Otherwise Python's `str.split()` semantics: runs of whitespace separate, ends are trimmed.
    let mut parts = header.unwrap_or("").split_ascii_whitespace();
    let Some(scheme) = parts.next() else {
        return Err(ErrorKind::AuthorizationHeaderMissing);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ErrorKind::HeaderNotBearer);
    }
    let Some(token) = parts.next() else {
        return Err(ErrorKind::TokenNotFound);
    };
    if parts.next().is_some() {
        return Err(ErrorKind::HeaderFormat);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_checks_in_order() {
        use ErrorKind::*;
        let cases: [(Option<&str>, Result<&str, ErrorKind>); 10] = [
            (None, Err(AuthorizationHeaderMissing)),
            (Some(""), Err(AuthorizationHeaderMissing)),
            (Some("   \t "), Err(AuthorizationHeaderMissing)),
            (Some("Basic abc"), Err(HeaderNotBearer)),
            (Some("Bearerabc"), Err(HeaderNotBearer)),
            (Some("Bearer"), Err(TokenNotFound)),
            (Some("bearer   "), Err(TokenNotFound)),
            (Some("Bearer a b"), Err(HeaderFormat)),
            (Some("BEARER  tok "), Ok("tok")),
            (Some("Bearer a.b.c"), Ok("a.b.c")),
        ];
        for (input, want) in cases {
            assert_eq!(token_from_header(input), want, "{input:?}");
        }
    }
}
