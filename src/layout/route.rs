//! Route templates as the Functions host reads them (ASP.NET Core's template syntax) and the
//! order in which the host tries them.
//!
//! The host sorts its routes once (`WebJobsRouteBuilder.Build` in the Functions HTTP
//! extension) and takes the first whose template, constraints and methods match: segment by
//! segment, a literal comes before a parameter, a parameter with more inline constraints
//! before one with fewer, literals in case-insensitive ordinal order, and a longer template
//! before a shorter one it agrees with. funcgate sorts and matches the same way, so it runs
//! the function the host chose; routes the host would order alike are ordered by folder name.

use std::cmp::Ordering;
use std::collections::HashMap;

/// Why a route template is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RouteError {
    /// `{}` or `{?}` with no name.
    EmptyParameter(String),
    /// A parameter that is only part of a segment (`a{b}`).
    PartialSegment(String),
    /// A parameter that is not `{name[:constraint[(args)]]…[?|=default]}`.
    Malformed(String),
    /// A constraint funcgate cannot evaluate as the host would (`regex`, `datetime`) or does
    /// not know: routing on it could pick another function than the host.
    Constraint {
        /// The template.
        template: String,
        /// The constraint as written.
        constraint: String,
    },
    /// A catch-all parameter that is not the last segment.
    CatchAllNotLast(String),
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::EmptyParameter(t) => write!(f, "empty parameter in route {t:?}"),
            RouteError::PartialSegment(t) => write!(
                f,
                "route {t:?}: only whole-segment parameters are supported"
            ),
            RouteError::Malformed(t) => write!(f, "route {t:?}: a parameter is malformed"),
            RouteError::Constraint {
                template,
                constraint,
            } => write!(
                f,
                "route {template:?}: constraint {constraint:?} is not supported (supported: int, long, bool, guid, alpha, decimal, double, float, min, max, range, minlength, maxlength, length, required, file, nonfile)"
            ),
            RouteError::CatchAllNotLast(t) => {
                write!(
                    f,
                    "route {t:?}: a catch-all parameter must be the last segment"
                )
            }
        }
    }
}

/// An inline constraint (`{id:int}`), evaluated as ASP.NET Core's default constraint map does.
#[derive(Clone, Debug, PartialEq)]
enum Constraint {
    Int,
    Long,
    Bool,
    Guid,
    Alpha,
    /// `decimal`: `decimal.TryParse` with `NumberStyles.Number` (no exponent, no NaN).
    Decimal,
    /// `double`, `float`: `NumberStyles.Float | AllowThousands` (exponent, NaN, Infinity).
    Float,
    Min(i64),
    Max(i64),
    Range(i64, i64),
    MinLength(usize),
    MaxLength(usize),
    Length(usize, usize),
    Required,
    File,
    NonFile,
}

impl Constraint {
    fn parse(text: &str) -> Option<Constraint> {
        let (name, args) = match text.split_once('(') {
            Some((name, rest)) => (name, Some(rest.strip_suffix(')')?)),
            None => (text, None),
        };
        let nums = |args: Option<&str>| -> Option<Vec<i64>> {
            args?
                .split(',')
                .map(|a| a.trim().parse::<i64>().ok())
                .collect()
        };
        let lens = |args: Option<&str>| -> Option<Vec<usize>> {
            args?
                .split(',')
                .map(|a| a.trim().parse::<usize>().ok())
                .collect()
        };
        let c = match (name.to_ascii_lowercase().as_str(), args) {
            ("int", None) => Constraint::Int,
            ("long", None) => Constraint::Long,
            ("bool", None) => Constraint::Bool,
            ("guid", None) => Constraint::Guid,
            ("alpha", None) => Constraint::Alpha,
            ("decimal", None) => Constraint::Decimal,
            ("double" | "float", None) => Constraint::Float,
            ("required", None) => Constraint::Required,
            ("file", None) => Constraint::File,
            ("nonfile", None) => Constraint::NonFile,
            ("min", a) => match nums(a)?.as_slice() {
                [n] => Constraint::Min(*n),
                _ => return None,
            },
            ("max", a) => match nums(a)?.as_slice() {
                [n] => Constraint::Max(*n),
                _ => return None,
            },
            ("range", a) => match nums(a)?.as_slice() {
                [lo, hi] if lo <= hi => Constraint::Range(*lo, *hi),
                _ => return None,
            },
            ("minlength", a) => match lens(a)?.as_slice() {
                [n] => Constraint::MinLength(*n),
                _ => return None,
            },
            ("maxlength", a) => match lens(a)?.as_slice() {
                [n] => Constraint::MaxLength(*n),
                _ => return None,
            },
            ("length", a) => match lens(a)?.as_slice() {
                [n] => Constraint::Length(*n, *n),
                [lo, hi] if lo <= hi => Constraint::Length(*lo, *hi),
                _ => return None,
            },
            _ => return None,
        };
        Some(c)
    }

    /// Whether `value` (a decoded route value) satisfies the constraint.
    fn accepts(&self, value: &str) -> bool {
        // .NET's number and boolean parsing (invariant culture) allows surrounding white space
        // (U+0009 to U+000D and space) and trailing NUL characters.
        let white = |c: char| matches!(c, '\t' | '\n' | '\x0B' | '\x0C' | '\r' | ' ');
        let trimmed = value
            .trim_start_matches(white)
            .trim_end_matches(|c: char| white(c) || c == '\0');
        let long = || trimmed.parse::<i64>().ok();
        let length = value.encode_utf16().count();
        match self {
            Constraint::Int => trimmed.parse::<i32>().is_ok(),
            Constraint::Long => long().is_some(),
            Constraint::Bool => {
                trimmed.eq_ignore_ascii_case("true") || trimmed.eq_ignore_ascii_case("false")
            }
            Constraint::Guid => is_guid(trimmed),
            // The regex `^[a-z]*$` (ignoring case), whose `$` also matches before a final
            // line feed.
            Constraint::Alpha => value
                .strip_suffix('\n')
                .unwrap_or(value)
                .bytes()
                .all(|b| b.is_ascii_alphabetic()),
            Constraint::Decimal => is_decimal(trimmed),
            Constraint::Float => is_number(trimmed),
            Constraint::Min(n) => long().is_some_and(|v| v >= *n),
            Constraint::Max(n) => long().is_some_and(|v| v <= *n),
            Constraint::Range(lo, hi) => long().is_some_and(|v| (*lo..=*hi).contains(&v)),
            Constraint::MinLength(n) => length >= *n,
            Constraint::MaxLength(n) => length <= *n,
            Constraint::Length(lo, hi) => (*lo..=*hi).contains(&length),
            Constraint::Required => !value.is_empty(),
            Constraint::File => is_file_name(value),
            Constraint::NonFile => !is_file_name(value),
        }
    }
}

/// `Guid.TryParse`'s forms: 32 hex digits, or 8-4-4-4-12, bare or in `{}` or `()`.
fn is_guid(text: &str) -> bool {
    let inner = match (text.chars().next(), text.chars().last()) {
        (Some('{'), Some('}')) | (Some('('), Some(')')) if text.len() == 38 => &text[1..37],
        _ => text,
    };
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    match inner.len() {
        32 => inner.len() == text.len() && hex(inner),
        36 => {
            let groups: Vec<&str> = inner.split('-').collect();
            groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]) && groups.iter().all(|g| hex(g))
        }
        _ => false,
    }
}

/// A number as `double.TryParse` reads it with `NumberStyles.Float | AllowThousands` in the
/// invariant culture: sign, digits (with `,` separators), a point, an exponent; or the
/// invariant culture's `NaN` and `Infinity`.
fn is_number(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned.eq_ignore_ascii_case("infinity") || text.eq_ignore_ascii_case("nan") {
        return true;
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = whole.bytes().filter(u8::is_ascii_digit).count()
        + fraction.bytes().filter(u8::is_ascii_digit).count();
    let whole_ok =
        !whole.starts_with(',') && whole.bytes().all(|b| b.is_ascii_digit() || b == b',');
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    digits > 0 && whole_ok && fraction.bytes().all(|b| b.is_ascii_digit()) && exponent_ok
}

/// ASP.NET Core's `file` constraint (`FileNameRouteConstraint.IsFileName`): in the last
/// segment, some character other than `.` follows the first `.`.
fn is_file_name(value: &str) -> bool {
    let last = value.rsplit('/').next().unwrap_or(value);
    last.find('.')
        .is_some_and(|i| last[i + 1..].chars().any(|c| c != '.'))
}

/// A number as `decimal.TryParse` reads it with `NumberStyles.Number` in the invariant
/// culture: a sign before or after, digits with `,` separators, a point; no exponent.
fn is_decimal(text: &str) -> bool {
    let unsigned = text
        .strip_prefix(['+', '-'])
        .or_else(|| text.strip_suffix(['+', '-']))
        .unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = whole.bytes().filter(u8::is_ascii_digit).count()
        + fraction.bytes().filter(u8::is_ascii_digit).count();
    digits > 0
        && !whole.starts_with(',')
        && whole.bytes().all(|b| b.is_ascii_digit() || b == b',')
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// One segment of a template.
#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Literal(String),
    Param(Param),
}

#[derive(Clone, Debug, PartialEq)]
struct Param {
    name: String,
    optional: bool,
    catch_all: bool,
    default: Option<String>,
    constraints: Vec<Constraint>,
}

impl Param {
    /// Parses the inside of `{…}`: `[*|**]name[:constraint[(args)]]…[?|=default]`.
    fn parse(inner: &str, template: &str) -> Result<Param, RouteError> {
        let malformed = || RouteError::Malformed(template.to_owned());
        let catch_all = inner.starts_with('*');
        let rest = inner.trim_start_matches('*');
        let name_end = rest.find([':', '?', '=']).unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err(RouteError::EmptyParameter(template.to_owned()));
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return Err(malformed());
        }
        let mut rest = &rest[name_end..];
        let mut constraints = Vec::new();
        while let Some(after) = rest.strip_prefix(':') {
            // A constraint runs to the next `:`, `?` or `=` outside parentheses.
            let mut depth = 0usize;
            let mut end = after.len();
            for (i, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.checked_sub(1).ok_or_else(malformed)?,
                    ':' | '?' | '=' if depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let text = &after[..end];
            constraints.push(
                Constraint::parse(text).ok_or_else(|| RouteError::Constraint {
                    template: template.to_owned(),
                    constraint: text.to_owned(),
                })?,
            );
            rest = &after[end..];
        }
        let (optional, default) = if rest == "?" {
            (true, None)
        } else if let Some(value) = rest.strip_prefix('=') {
            (true, Some(value.to_owned()))
        } else if rest.is_empty() {
            (catch_all, None)
        } else {
            return Err(malformed());
        };
        Ok(Param {
            name: name.to_owned(),
            optional: optional || catch_all,
            catch_all,
            default,
            constraints,
        })
    }

    fn accepts(&self, value: &str) -> bool {
        self.constraints.iter().all(|c| c.accepts(value))
    }
}

/// A parsed route template (literals, `{p}`, `{p?}`, `{p=default}`, `{*p}`, inline
/// constraints such as `{id:int}` and `{id:int?}`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Route {
    segments: Vec<Segment>,
    /// The template as written, with one leading slash (`/vault/{secret_name?}`): telemetry
    /// names requests by it, so it is built once here rather than per request.
    pub(crate) template: String,
}

impl Route {
    /// Whether the route is one catch-all parameter (`{*route}`): it takes every path.
    pub(crate) fn is_catch_all(&self) -> bool {
        self.template.starts_with("/{*") && self.template.matches('/').count() == 1
    }

    /// Parses a template such as `vault/{secret_name?}`.
    pub(crate) fn parse(template: &str) -> Result<Route, RouteError> {
        // ASP.NET's parser drops a leading `~/` (and `/`); a `~` anywhere else is a literal.
        let template = template.strip_prefix("~/").unwrap_or(template);
        if template == "~" {
            return Err(RouteError::Malformed(template.to_owned()));
        }
        let mut segments = Vec::new();
        let parts: Vec<&str> = template
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        for (i, seg) in parts.iter().enumerate() {
            if let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if inner.contains(['{', '}']) {
                    return Err(RouteError::PartialSegment(template.to_owned()));
                }
                let param = Param::parse(inner, template)?;
                if param.catch_all && i + 1 != parts.len() {
                    return Err(RouteError::CatchAllNotLast(template.to_owned()));
                }
                segments.push(Segment::Param(param));
            } else if seg.contains(['{', '}']) {
                return Err(RouteError::PartialSegment(template.to_owned()));
            } else {
                segments.push(Segment::Literal((*seg).to_owned()));
            }
        }
        Ok(Route {
            segments,
            template: format!("/{}", template.trim_matches('/')),
        })
    }

    /// The path this route answers with every optional parameter left out, when it has no
    /// required parameter (`.well-known/oauth-protected-resource/{*rest}` →
    /// `/.well-known/oauth-protected-resource`).
    pub(crate) fn bare_path(&self) -> Option<String> {
        let mut path = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(lit) => {
                    path.push('/');
                    path.push_str(lit);
                }
                Segment::Param(p) if p.optional && p.default.is_none() => break,
                Segment::Param(_) => return None,
            }
        }
        Some(path)
    }

    /// The host's order of two routes (both under the same route prefix): `Less` is tried
    /// first. `WebJobsRouteBuilder.RouteComparison`, segment by segment.
    pub(crate) fn precedence(&self, other: &Route) -> Ordering {
        for (i, x) in self.segments.iter().enumerate() {
            let Some(y) = other.segments.get(i) else {
                return Ordering::Less;
            };
            let order = match (x, y) {
                (Segment::Literal(_), Segment::Param(_)) => Ordering::Less,
                (Segment::Param(_), Segment::Literal(_)) => Ordering::Greater,
                (Segment::Param(a), Segment::Param(b)) => {
                    b.constraints.len().cmp(&a.constraints.len())
                }
                (Segment::Literal(a), Segment::Literal(b)) => a
                    .to_ascii_lowercase()
                    .as_bytes()
                    .cmp(b.to_ascii_lowercase().as_bytes()),
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        if other.segments.len() > self.segments.len() {
            return Ordering::Greater;
        }
        Ordering::Equal
    }

    /// Matches decoded path segments (route prefix removed); returns the parameters, with
    /// defaults for absent ones that have them and absent optional ones left out.
    pub(crate) fn matches(&self, parts: &[String]) -> Option<HashMap<String, String>> {
        let mut params = HashMap::new();
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                Segment::Literal(lit) => {
                    if !parts.get(i)?.eq_ignore_ascii_case(lit) {
                        return None;
                    }
                    i += 1;
                }
                Segment::Param(p) if p.catch_all => {
                    if i < parts.len() {
                        let value = parts[i..].join("/");
                        if !p.accepts(&value) {
                            return None;
                        }
                        params.insert(p.name.clone(), value);
                    } else if let Some(default) = &p.default {
                        params.insert(p.name.clone(), default.clone());
                    }
                    i = parts.len();
                }
                Segment::Param(p) => match parts.get(i) {
                    Some(value) => {
                        if !p.accepts(value) {
                            return None;
                        }
                        params.insert(p.name.clone(), value.clone());
                        i += 1;
                    }
                    None if p.optional => {
                        if let Some(default) = &p.default {
                            params.insert(p.name.clone(), default.clone());
                        }
                    }
                    None => return None,
                },
            }
        }
        (i == parts.len()).then_some(params)
    }
}

/// A request path as ASP.NET Core (Kestrel) hands it to routing: split at `/`, each segment
/// percent-decoded except `%2F` (an encoded slash stays `%2F`, so a `{param}` value never holds
/// a `/`), and `.`/`..` segments resolved. Decoding after the split would let one segment
/// smuggle `../..` into a parameter; the host's own route values (the invocation protocol's
/// `Params`) are built this way too, so both protocols give a function the same values.
pub(crate) fn path_segments(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let raw = path.strip_prefix('/').unwrap_or(path);
    let pieces: Vec<&str> = raw.split('/').collect();
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.iter().enumerate() {
        let decoded = decode_keeping_slashes(piece);
        match decoded.as_str() {
            "." => {}
            ".." => {
                out.pop();
            }
            // A trailing slash names the same resource, as in ASP.NET routing.
            "" if i == last => {}
            _ => out.push(decoded),
        }
    }
    out
}

/// Percent-decodes one segment as Kestrel does: `%2F` (either case) stays as it was, and so
/// does an escape whose bytes are not UTF-8 (`%FF` stays three characters, not U+FFFD), so
/// lengths and constraints see what the host's routing sees.
fn decode_keeping_slashes(segment: &str) -> String {
    let decode = |s: &str| {
        let bytes: Vec<u8> = percent_encoding::percent_decode_str(s).collect();
        keep_invalid_escapes(&bytes)
    };
    if !segment.contains('%') {
        return segment.to_owned();
    }
    // ASCII lower-casing keeps every byte where it was, so positions carry over.
    let lower = segment.to_ascii_lowercase();
    let (mut out, mut start) = (String::with_capacity(segment.len()), 0);
    while let Some(n) = lower[start..].find("%2f") {
        let at = start + n;
        out.push_str(&decode(&segment[start..at]));
        out.push_str(&segment[at..at + 3]);
        start = at + 3;
    }
    out.push_str(&decode(&segment[start..]));
    out
}

/// Decoded bytes as text, each byte that is not part of valid UTF-8 written back as `%XX`.
fn keep_invalid_escapes(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len()).min(rest.len());
                for b in &rest[..bad] {
                    out.push_str(&format!("%{b:02X}"));
                }
                bytes = &rest[bad..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> Vec<String> {
        path_segments(s)
    }

    #[test]
    fn templates_and_constraints() {
        let r = Route::parse("files/{id:int}/{*rest}").unwrap();
        let m = r.matches(&parts("/files/7/a/b")).unwrap();
        assert_eq!(m["id"], "7");
        assert_eq!(m["rest"], "a/b");
        assert!(r.matches(&parts("/files/7")).is_some());
        assert!(r.matches(&parts("/files/x")).is_none());
        assert!(r.matches(&parts("/files")).is_none());
        assert!(Route::parse("a{b}").is_err());
        assert!(Route::parse("{*a}/b").is_err());
        let opt = Route::parse("items/{id:int?}").unwrap();
        assert!(opt.matches(&parts("/items")).is_some());
        assert!(opt.matches(&parts("/items/3")).is_some());
        assert!(opt.matches(&parts("/items/x")).is_none());
        let def = Route::parse("page/{n:range(1,9)=1}").unwrap();
        assert_eq!(def.matches(&parts("/page")).unwrap()["n"], "1");
        assert!(def.matches(&parts("/page/10")).is_none());
        assert!(matches!(
            Route::parse("x/{id:regex(^a$)}"),
            Err(RouteError::Constraint { .. })
        ));
        let g = Route::parse("{id:guid}").unwrap();
        assert!(
            g.matches(&parts("/0f8fad5b-d9cb-469f-a165-70867728950e"))
                .is_some()
        );
        assert!(
            g.matches(&parts("/{0f8fad5b-d9cb-469f-a165-70867728950e}"))
                .is_some()
        );
        assert!(g.matches(&parts("/0f8fad5b")).is_none());
        let n = Route::parse("{v:double}").unwrap();
        for ok in ["1", "-1.5", "1,000.25", "2e10", "NaN", "-Infinity"] {
            assert!(n.matches(&parts(&format!("/{ok}"))).is_some(), "{ok}");
        }
        for bad in ["", "1e", "abc", ",1", "1.2.3"] {
            assert!(n.matches(&[bad.to_owned()]).is_none(), "{bad}");
        }
        let d = Route::parse("{v:decimal}").unwrap();
        for ok in ["1", "5-", "-1.5", "1,000.25"] {
            assert!(d.matches(&[ok.to_owned()]).is_some(), "{ok}");
        }
        for bad in ["NaN", "1e5", "Infinity"] {
            assert!(d.matches(&[bad.to_owned()]).is_none(), "{bad}");
        }
        let i = Route::parse("{v:int}").unwrap();
        assert!(i.matches(&["\x0B5".to_owned()]).is_some());
        assert!(i.matches(&["5\0".to_owned()]).is_some());
        let alpha = Route::parse("{v:alpha}").unwrap();
        assert!(alpha.matches(&["abc\n".to_owned()]).is_some());
        assert!(alpha.matches(&["ab\nc".to_owned()]).is_none());
        let len = Route::parse("{v:maxlength(1)}").unwrap();
        assert!(
            len.matches(&parts("/%FF")).is_none(),
            "%FF stays three characters"
        );
        assert!(len.matches(&parts("/%C3%A9")).is_some(), "one character");
        assert_eq!(parts("/%FFa%C3%A9"), ["%FFa\u{e9}"]);
        let tilde = Route::parse("~/{*path}").unwrap();
        assert_eq!(tilde.template, "/{*path}");
        assert!(Route::parse("~").is_err());
        let file = Route::parse("{*f:file}").unwrap();
        assert!(file.matches(&parts("/a/b.c.")).is_some());
        assert!(file.matches(&parts("/a/b..")).is_none());
        assert!(file.matches(&parts("/a/b.txt")).is_some());
        assert!(file.matches(&parts("/a/b.")).is_none());
    }

    #[test]
    fn paths_decode_after_the_split_and_keep_encoded_slashes() {
        assert_eq!(
            parts("/api/items/..%2F..%2Fetc%2Fpasswd"),
            ["api", "items", "..%2F..%2Fetc%2Fpasswd"]
        );
        assert_eq!(parts("/a/b%20c/%2e%2e/d"), ["a", "d"]);
        assert_eq!(parts("/a/../../b/./c/"), ["b", "c"]);
        assert_eq!(parts("/a%2fb%41"), ["a%2fbA"]);
        assert_eq!(parts("/x//y"), ["x", "", "y"]);
    }

    #[test]
    fn precedence_is_the_hosts() {
        let p = |t: &str| Route::parse(t).unwrap();
        let mut routes = [
            p("{*all}"),
            p("items/{id}"),
            p("items/{id:int}"),
            p("items/feed"),
            p("items"),
            p("{name}"),
        ];
        routes.sort_by(|a, b| a.precedence(b));
        let order: Vec<&str> = routes.iter().map(|r| r.template.as_str()).collect();
        assert_eq!(
            order,
            [
                "/items/feed",
                "/items/{id:int}",
                "/items/{id}",
                "/items",
                "/{*all}",
                "/{name}"
            ]
        );
    }
}
