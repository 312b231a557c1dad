//! The Functions app as the host sees it: `host.json` and one `function.json` per folder.
//!
//! Read once at start-up by settings; used by the host adapters (routing) and the gateway
//! (methods), which is why it is not inside `host`.
//!
//! funcgate reads the same files so the route prefix and each function's route and methods have
//! one source of truth.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// One function folder.
#[derive(Clone, Debug)]
pub(crate) struct FunctionDef {
    /// Folder name (the host's function name).
    pub(crate) name: String,
    /// Upper-case methods from `function.json`; `None` accepts every method.
    pub(crate) methods: Option<Vec<String>>,
    /// The route template (defaults to the function name).
    pub(crate) route: Route,
    /// Name of the `httpTrigger` binding (`Data.<name>` in invocation payloads).
    pub(crate) trigger_name: String,
    /// Name of the `http` output binding (`Outputs.<name>`, or `$return`).
    pub(crate) output_name: String,
}

impl FunctionDef {
    /// Whether `method` is among the function's methods.
    pub(crate) fn accepts(&self, method: &str) -> bool {
        match &self.methods {
            None => true,
            Some(list) => list.iter().any(|m| m.eq_ignore_ascii_case(method)),
        }
    }

    /// The `Allow` header value.
    pub(crate) fn allow_header(&self) -> String {
        match &self.methods {
            None => "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS".to_owned(),
            Some(list) => list.join(", "),
        }
    }
}

/// The whole app: route prefix and functions.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// `extensions.http.routePrefix` without slashes (`api` by default, may be empty).
    pub(crate) route_prefix: String,
    /// Function folders that hold an HTTP trigger, sorted by name.
    pub(crate) functions: Vec<FunctionDef>,
}

/// Why a route template is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RouteError {
    /// `{}` or `{?}` with no name.
    EmptyParameter(String),
    /// A parameter that is only part of a segment (`a{b}`).
    PartialSegment(String),
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::EmptyParameter(t) => write!(f, "empty parameter in route {t:?}"),
            RouteError::PartialSegment(t) => write!(
                f,
                "route {t:?}: only whole-segment parameters are supported"
            ),
        }
    }
}

/// A parsed ASP.NET-style route template (literals, `{p}`, `{p?}`, `{*p}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Route {
    segments: Vec<Segment>,
    /// The template as written, with one leading slash (`/vault/{secret_name?}`): telemetry
    /// names requests by it, so it is built once here rather than per request.
    pub(crate) template: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param {
        name: String,
        optional: bool,
        catch_all: bool,
    },
}

impl Route {
    /// Parses a template such as `vault/{secret_name?}`.
    pub(crate) fn parse(template: &str) -> Result<Route, RouteError> {
        let mut segments = Vec::new();
        for seg in template.trim_matches('/').split('/') {
            if seg.is_empty() {
                continue;
            }
            if let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let catch_all = inner.starts_with('*');
                let inner = inner.trim_start_matches('*');
                // Constraints (`:int`) and defaults (`=x`) are the host's business.
                let inner = inner.split([':', '=']).next().unwrap_or("");
                let optional = inner.ends_with('?') || catch_all;
                let name = inner.trim_end_matches('?');
                if name.is_empty() {
                    return Err(RouteError::EmptyParameter(template.to_owned()));
                }
                segments.push(Segment::Param {
                    name: name.to_owned(),
                    optional,
                    catch_all,
                });
            } else if seg.contains(['{', '}']) {
                return Err(RouteError::PartialSegment(template.to_owned()));
            } else {
                segments.push(Segment::Literal(seg.to_ascii_lowercase()));
            }
        }
        Ok(Route {
            segments,
            template: format!("/{}", template.trim_matches('/')),
        })
    }

    fn literal_count(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }

    /// Matches decoded path segments; returns the parameters (absent optional ones omitted).
    fn matches(&self, parts: &[String]) -> Option<HashMap<String, String>> {
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
                Segment::Param {
                    name, catch_all, ..
                } if *catch_all => {
                    if i < parts.len() {
                        params.insert(name.clone(), parts[i..].join("/"));
                    }
                    i = parts.len();
                }
                Segment::Param { name, optional, .. } => match parts.get(i) {
                    Some(value) => {
                        params.insert(name.clone(), value.clone());
                        i += 1;
                    }
                    None if *optional => {}
                    None => return None,
                },
            }
        }
        (i == parts.len()).then_some(params)
    }
}

#[derive(Deserialize)]
struct FunctionJson {
    #[serde(default)]
    bindings: Vec<Binding>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Binding {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    name: String,
    auth_level: Option<String>,
    methods: Option<Vec<String>>,
    route: Option<String>,
}

/// Why the layout could not be read: the file and the problem.
#[derive(Debug)]
pub(crate) struct LayoutError {
    /// The file at fault, relative to the app root.
    pub(crate) file: String,
    /// What is wrong with it.
    pub(crate) problem: String,
}

impl Layout {
    /// Reads `host.json` and every direct sub-folder holding a `function.json`.
    pub(crate) fn load(root: &Path) -> Result<Layout, LayoutError> {
        let host_text = fs::read_to_string(root.join("host.json")).map_err(|e| LayoutError {
            file: "host.json".into(),
            problem: format!("cannot be read in {}: {e}", root.display()),
        })?;
        let host: Value = serde_json::from_str(&host_text).map_err(|e| LayoutError {
            file: "host.json".into(),
            problem: format!("is not valid JSON: {e}"),
        })?;
        let route_prefix = match host.pointer("/extensions/http/routePrefix") {
            None | Some(Value::Null) => "api".to_owned(),
            Some(Value::String(p)) => p.trim_matches('/').to_owned(),
            Some(_) => {
                return Err(LayoutError {
                    file: "host.json".into(),
                    problem: "extensions.http.routePrefix must be a string".into(),
                });
            }
        };
        let mut functions = Vec::new();
        let entries = fs::read_dir(root).map_err(|e| LayoutError {
            file: ".".into(),
            problem: format!("cannot list {}: {e}", root.display()),
        })?;
        for entry in entries.flatten() {
            let path = entry.path().join("function.json");
            if !path.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let file = format!("{name}/function.json");
            let bad = |problem: String| LayoutError {
                file: file.clone(),
                problem,
            };
            let text =
                fs::read_to_string(&path).map_err(|e| bad(format!("cannot be read: {e}")))?;
            let parsed: FunctionJson =
                serde_json::from_str(&text).map_err(|e| bad(format!("is not valid: {e}")))?;
            let Some(trigger) = parsed
                .bindings
                .iter()
                .find(|b| b.kind.eq_ignore_ascii_case("httpTrigger"))
            else {
                log::warn!("{file}: no httpTrigger binding; funcgate does not serve it");
                continue;
            };
            let output = parsed.bindings.iter().find(|b| {
                b.kind.eq_ignore_ascii_case("http") && b.direction.eq_ignore_ascii_case("out")
            });
            if parsed.bindings.len() != 2 || output.is_none() {
                log::warn!(
                    "{file}: not exactly one httpTrigger and one http output; the host will use invocation payloads for it"
                );
            }
            let route = Route::parse(trigger.route.as_deref().unwrap_or(&name))
                .map_err(|e| bad(e.to_string()))?;
            let auth_level = trigger
                .auth_level
                .clone()
                .unwrap_or_else(|| "function".to_owned());
            if !auth_level.eq_ignore_ascii_case("anonymous") {
                log::warn!(
                    "{file}: authLevel is {auth_level:?}; in Azure the host will also demand a function key"
                );
            }
            functions.push(FunctionDef {
                name,
                methods: trigger
                    .methods
                    .as_ref()
                    .map(|m| m.iter().map(|s| s.to_ascii_uppercase()).collect()),
                route,
                trigger_name: if trigger.name.is_empty() {
                    "req".to_owned()
                } else {
                    trigger.name.clone()
                },
                output_name: output
                    .map(|b| b.name.clone())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| "res".to_owned()),
            });
        }
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Layout {
            route_prefix,
            functions,
        })
    }

    /// The function a public path belongs to, with its route parameters.
    pub(crate) fn route(&self, path: &str) -> Option<(&FunctionDef, HashMap<String, String>)> {
        let mut parts: Vec<String> = path
            .strip_prefix('/')
            .unwrap_or(path)
            .split('/')
            .map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        // A trailing slash names the same resource, as in ASP.NET routing.
        if parts.last().is_some_and(String::is_empty) {
            parts.pop();
        }
        if !self.route_prefix.is_empty() {
            let prefix: Vec<&str> = self.route_prefix.split('/').collect();
            if parts.len() < prefix.len()
                || !parts
                    .iter()
                    .zip(&prefix)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b))
            {
                return None;
            }
            parts.drain(..prefix.len());
        }
        if parts.iter().any(String::is_empty) {
            return None;
        }
        self.functions
            .iter()
            .filter_map(|f| f.route.matches(&parts).map(|p| (f, p)))
            .max_by_key(|(f, _)| f.route.literal_count())
    }

    /// The function folder called `name` (invocation requests use folder names).
    pub(crate) fn function(&self, name: &str) -> Option<&FunctionDef> {
        self.functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(prefix: &str) -> Layout {
        let def = |name: &str, route: &str| FunctionDef {
            name: name.into(),
            methods: Some(vec!["GET".into(), "HEAD".into()]),
            route: Route::parse(route).unwrap(),
            trigger_name: "req".into(),
            output_name: "res".into(),
        };
        Layout {
            route_prefix: prefix.into(),
            functions: vec![
                def("health", "health"),
                def("vault", "vault/{secret_name?}"),
            ],
        }
    }

    fn routed(l: &Layout, path: &str) -> Option<(String, Option<String>)> {
        l.route(path)
            .map(|(f, p)| (f.name.clone(), p.get("secret_name").cloned()))
    }

    #[test]
    fn routes_with_and_without_prefix() {
        let bare = layout("");
        assert_eq!(routed(&bare, "/health"), Some(("health".into(), None)));
        assert_eq!(routed(&bare, "/HEALTH/"), Some(("health".into(), None)));
        assert_eq!(routed(&bare, "/vault"), Some(("vault".into(), None)));
        assert_eq!(
            routed(&bare, "/vault/my%2Dsecret"),
            Some(("vault".into(), Some("my-secret".into())))
        );
        assert_eq!(routed(&bare, "/vault/a/b"), None);
        assert_eq!(routed(&bare, "/vault//"), None);
        assert_eq!(routed(&bare, "/"), None);
        assert_eq!(routed(&bare, "/api/health"), None);

        let api = layout("api");
        assert_eq!(routed(&api, "/api/health"), Some(("health".into(), None)));
        assert_eq!(
            routed(&api, "/api/vault/x"),
            Some(("vault".into(), Some("x".into())))
        );
        assert_eq!(routed(&api, "/health"), None);
        assert_eq!(routed(&api, "/apihealth"), None);
    }

    #[test]
    fn templates() {
        let r = Route::parse("files/{id:int}/{*rest}").unwrap();
        let parts = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
        let m = r.matches(&parts("files/7/a/b")).unwrap();
        assert_eq!(m["id"], "7");
        assert_eq!(m["rest"], "a/b");
        assert!(r.matches(&parts("files/7")).is_some());
        assert!(r.matches(&parts("files")).is_none());
        assert!(Route::parse("a{b}").is_err());
    }
}
