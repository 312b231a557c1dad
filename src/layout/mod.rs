//! The Functions app as the host sees it: `host.json` and one `function.json` per folder.
//!
//! Read once at start-up by settings; used by the host adapters (which protocol, which
//! function) and the gateway (methods), which is why it is not inside `host`.
//!
//! funcgate reads the same files so the route prefix, each function's route and methods, and
//! which protocol the host speaks for each function have one source of truth.

mod route;

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

pub(crate) use route::Route;

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
    /// The host calls this function with invocation payloads (`POST /{name}`), never with the
    /// request itself: it has bindings beyond one `httpTrigger` and one `http` output, or
    /// `host.json` turns on neither proxying nor forwarding.
    pub(crate) invoked: bool,
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

/// How the host passes HTTP requests on (`host.json`'s `customHandler`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostMode {
    /// `enableProxyingHttpRequest` (or the `mcp-custom-handler` profile): the request itself,
    /// streamed both ways.
    Proxying,
    /// `enableForwardingHttpRequest` (or the legacy `httpWorker` section): the request itself,
    /// the reply buffered.
    Forwarding,
    /// Neither: every function is invoked with payloads.
    Invocation,
}

impl std::fmt::Display for HostMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HostMode::Proxying => "proxying",
            HostMode::Forwarding => "forwarding",
            HostMode::Invocation => "invocation payloads only",
        })
    }
}

/// The whole app: route prefix, host mode and functions.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// `extensions.http.routePrefix` without slashes (`api` by default, may be empty).
    pub(crate) route_prefix: String,
    /// How the host passes requests on.
    pub(crate) mode: HostMode,
    /// Function folders that hold an HTTP trigger, in the order the host tries their routes
    /// (see [`Route::precedence`]; folder name breaks ties), and the app's folder-less
    /// functions once [`Layout::add_folderless`] has placed them.
    pub(crate) functions: Vec<FunctionDef>,
    /// `customHandler.http.routes`: routes the host passes to the handler without a function
    /// folder (`{*route}` under the `mcp-custom-handler` and `web-app-custom-handler`
    /// profiles), where funcgate serves the functions that have no folder.
    pub(crate) custom_routes: Vec<Route>,
    /// `configurationProfile`, lower-case, when one is set.
    pub(crate) profile: Option<String>,
}

/// What routing found for a public request.
pub(crate) struct Routed<'a> {
    /// The function the host would run.
    pub(crate) function: &'a FunctionDef,
    /// Its route parameters.
    pub(crate) params: HashMap<String, String>,
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

/// The custom-handler profiles: both turn on proxying, an empty route prefix and the
/// folder-less route `{*route}` (the host's `HostConfigurationProfile`).
const PROFILE_MCP: &str = "mcp-custom-handler";
const PROFILE_WEB_APP: &str = "web-app-custom-handler";

/// The prefix of the app settings that override `host.json` (`AzureFunctionsJobHost__a__b`
/// for `a.b`), as the host's configuration reads them.
const HOST_OVERRIDE_PREFIX: &str = "AzureFunctionsJobHost__";

/// `host.json` as the host reads it: through .NET configuration, where keys match in any case
/// and an app setting `AzureFunctionsJobHost__customHandler__enableProxyingHttpRequest` wins
/// over the file. Reading it any other way could take the app for one in another mode than
/// the host runs it in, and with that mistake which protocol a request speaks.
struct HostConfig {
    json: Value,
    /// (key path, value) of each override in the environment.
    overrides: Vec<(Vec<String>, String)>,
}

impl HostConfig {
    fn new(json: Value, env: &HashMap<String, String>) -> HostConfig {
        let overrides = env
            .iter()
            .filter_map(|(name, value)| {
                let head = name.get(..HOST_OVERRIDE_PREFIX.len())?;
                head.eq_ignore_ascii_case(HOST_OVERRIDE_PREFIX).then(|| {
                    let path = name[HOST_OVERRIDE_PREFIX.len()..]
                        .split("__")
                        .map(str::to_owned)
                        .collect();
                    (path, value.clone())
                })
            })
            .collect();
        HostConfig { json, overrides }
    }

    /// The value at `path` (keys in any case), an override first.
    fn get(&self, path: &[&str]) -> Option<Value> {
        let same = |keys: &[String]| {
            keys.len() == path.len()
                && keys
                    .iter()
                    .zip(path)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b))
        };
        if let Some((_, value)) = self.overrides.iter().find(|(keys, _)| same(keys)) {
            return Some(Value::String(value.clone()));
        }
        let mut here = &self.json;
        for key in path {
            here = here
                .as_object()?
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)?;
        }
        Some(here.clone())
    }

    /// Whether a section is present (in the file, or by an override under it).
    fn has(&self, section: &str) -> bool {
        self.get(&[section]).is_some()
            || self.overrides.iter().any(|(keys, _)| {
                keys.first()
                    .is_some_and(|k| k.eq_ignore_ascii_case(section))
            })
    }

    /// A switch: JSON `true`, or the text `true` in any case (configuration values are text).
    fn switch(&self, path: &[&str]) -> bool {
        match self.get(path) {
            Some(Value::Bool(b)) => b,
            Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
            _ => false,
        }
    }

    /// `configurationProfile`, as `HostConfigurationProfile.Get` reads it: `''` and
    /// `default` are no profile, the two custom-handler profiles are known, anything else
    /// stops the host, so it stops funcgate too.
    fn profile(&self) -> Result<Option<String>, LayoutError> {
        let name = match self.get(&["configurationProfile"]) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(name)) => name.to_ascii_lowercase(),
            Some(_) => String::from("(not a string)"),
        };
        match name.as_str() {
            "" | "default" => Ok(None),
            PROFILE_MCP | PROFILE_WEB_APP => Ok(Some(name)),
            _ => Err(LayoutError {
                file: "host.json".into(),
                problem: format!(
                    "configurationProfile {name:?} is not one the host supports ('', 'default', '{PROFILE_MCP}', '{PROFILE_WEB_APP}'); the host would not start"
                ),
            }),
        }
    }

    /// A switch with the profile's default under it: the profile's values are defaults that
    /// host.json and app settings override, as the host layers them.
    fn switch_or(&self, path: &[&str], default: bool) -> bool {
        match self.get(path) {
            None | Some(Value::Null) => default,
            Some(_) => self.switch(path),
        }
    }

    /// The host's mode, as `DefaultHttpWorkerService` decides it (proxying first).
    fn mode(&self, profile: bool) -> HostMode {
        if self.switch_or(&["customHandler", "enableProxyingHttpRequest"], profile) {
            HostMode::Proxying
        } else if self.switch(&["customHandler", "enableForwardingHttpRequest"])
            || (!self.has("customHandler") && self.has("httpWorker"))
        {
            HostMode::Forwarding
        } else {
            HostMode::Invocation
        }
    }
}

impl Layout {
    /// Reads `host.json` (with the `AzureFunctionsJobHost__…` overrides in `env`) and every
    /// direct sub-folder holding a `function.json`.
    pub(crate) fn load(root: &Path, env: &HashMap<String, String>) -> Result<Layout, LayoutError> {
        let host_text = fs::read_to_string(root.join("host.json")).map_err(|e| LayoutError {
            file: "host.json".into(),
            problem: format!("cannot be read in {}: {e}", root.display()),
        })?;
        let host: Value = serde_json::from_str(&host_text).map_err(|e| LayoutError {
            file: "host.json".into(),
            problem: format!("is not valid JSON: {e}"),
        })?;
        let host = HostConfig::new(host, env);
        let profile = host.profile()?;
        let route_prefix = match host.get(&["extensions", "http", "routePrefix"]) {
            None | Some(Value::Null) if profile.is_some() => String::new(),
            None | Some(Value::Null) => "api".to_owned(),
            Some(Value::String(p)) => p.trim_matches('/').to_owned(),
            Some(_) => {
                return Err(LayoutError {
                    file: "host.json".into(),
                    problem: "extensions.http.routePrefix must be a string".into(),
                });
            }
        };
        let mode = host.mode(profile.is_some());
        let custom_routes = custom_routes(&host, profile.is_some())?;
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
            if let Some(f) = read_function(&path, name, mode)? {
                functions.push(f);
            }
        }
        // The host's `HttpWorkerFunctionProvider` refuses an app with both (the profiles'
        // `{*route}` counts): it would not start, so funcgate does not either.
        if !functions.is_empty() && !custom_routes.is_empty() {
            return Err(LayoutError {
                file: "host.json".into(),
                problem: format!(
                    "customHandler.http.routes ({}) and function folders ({}) together: the host serves one or the other; remove the folders (functions are then placed by their Function::route) or the routes",
                    if profile.is_some() {
                        "set by the configurationProfile"
                    } else {
                        "set in host.json"
                    },
                    functions
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        // The host's order; the sort is stable, so equal routes stay in folder-name order.
        functions.sort_by(|a, b| a.route.precedence(&b.route));
        let layout = Layout {
            route_prefix,
            mode,
            functions,
            custom_routes,
            profile,
        };
        layout.check_invocation_paths()?;
        Ok(layout)
    }

    /// Refuses a layout where a public request could arrive at the path where the host
    /// invokes a function (`POST /{name}`): such a request would be indistinguishable from the
    /// host's own invocation, so a caller could write the method, headers and identity of a
    /// call it describes. Only possible when the route prefix is empty (or the function is
    /// named like the prefix). A public route that takes that POST must come strictly after an
    /// invoked function's route that takes it too; a tie is refused as well, since the host's
    /// order between equal routes is its registration order, not one funcgate can know.
    fn check_invocation_paths(&self) -> Result<(), LayoutError> {
        for invoked in self.functions.iter().filter(|f| f.invoked) {
            let path = format!("/{}", invoked.name);
            let takers: Vec<&FunctionDef> = self
                .candidates(&path)
                .into_iter()
                .filter(|(f, _)| f.accepts("POST"))
                .map(|(f, _)| f)
                .collect();
            let first_invoked = takers.iter().find(|f| f.invoked);
            let exposed = takers.iter().find(|public| {
                !public.invoked
                    && first_invoked.is_none_or(|i| {
                        i.route.precedence(&public.route) != std::cmp::Ordering::Less
                    })
            });
            if let Some(public) = exposed {
                return Err(LayoutError {
                    file: format!("{}/function.json", public.name),
                    problem: format!(
                        "its route {:?} can take public POST {path}, the path where the host invokes function {:?} with payloads; a caller could then write an invocation payload. Give one of them another route (or set a routePrefix)",
                        public.route.template, invoked.name
                    ),
                });
            }
        }
        Ok(())
    }

    /// The routes matching a public `path` (template and constraints), in the host's order.
    fn candidates(&self, path: &str) -> Vec<(&FunctionDef, HashMap<String, String>)> {
        let mut parts = route::path_segments(path);
        if !self.route_prefix.is_empty() {
            let prefix: Vec<&str> = self.route_prefix.split('/').collect();
            if parts.len() < prefix.len()
                || !parts
                    .iter()
                    .zip(&prefix)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b))
            {
                return Vec::new();
            }
            parts.drain(..prefix.len());
        }
        if parts.iter().any(String::is_empty) {
            return Vec::new();
        }
        self.functions
            .iter()
            .filter_map(|f| f.route.matches(&parts).map(|params| (f, params)))
            .collect()
    }

    /// The function the host would run for a public `method` and `path`, with its route
    /// parameters: the first route in the host's order whose template, constraints and
    /// methods match. When routes match the path but none takes the method, the first of them
    /// (the gateway answers `405` with its `Allow`; under the host such a request is a 404 and
    /// never arrives).
    pub(crate) fn route(&self, method: &str, path: &str) -> Option<Routed<'_>> {
        let mut fallback = None;
        for (function, params) in self.candidates(path) {
            if function.accepts(method) {
                return Some(Routed { function, params });
            }
            fallback.get_or_insert(Routed { function, params });
        }
        fallback
    }

    /// The function folder called `name` (invocation requests use folder names).
    pub(crate) fn function(&self, name: &str) -> Option<&FunctionDef> {
        self.functions
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The function the host invokes at `path` (`/{name}`), if one is invoked with payloads.
    pub(crate) fn invoked_at(&self, path: &str) -> Option<&FunctionDef> {
        let name = path.strip_prefix('/')?;
        self.function(name).filter(|f| f.invoked)
    }

    /// The public path of a function's route with its optional parameters left out, under
    /// the route prefix (`/api/.well-known/oauth-protected-resource`).
    pub(crate) fn public_path(&self, function: &str) -> Option<String> {
        let bare = self.function(function)?.route.bare_path()?;
        Some(if self.route_prefix.is_empty() {
            if bare.is_empty() {
                "/".to_owned()
            } else {
                bare
            }
        } else {
            format!("/{}{bare}", self.route_prefix)
        })
    }
}

impl Layout {
    /// Places a function that has no folder at `template` (under the route prefix), with
    /// `methods` (`None`: any), when a `customHandler.http.routes` route takes its path; the
    /// host passes those requests on in the app's mode. Returns whether it was placed; a
    /// function with a folder keeps the folder's route.
    pub(crate) fn add_folderless(
        &mut self,
        name: &str,
        template: &str,
        methods: Option<Vec<String>>,
    ) -> Result<bool, LayoutError> {
        // The host invokes folder-less routes as `http-handler{i}`, never by name: funcgate
        // cannot tell those payloads apart, so it places nothing on that protocol.
        if self.function(name).is_some() || self.mode == HostMode::Invocation {
            return Ok(false);
        }
        let route = Route::parse(template).map_err(|e| LayoutError {
            file: format!("(function {name})"),
            problem: e.to_string(),
        })?;
        // A lone catch-all (`{*route}`, the profiles') takes every path; another custom
        // route must take the function's path without its optional parts.
        let parts = route.bare_path().map(|bare| route::path_segments(&bare));
        let covered = self
            .custom_routes
            .iter()
            .any(|r| r.is_catch_all() || parts.as_ref().is_some_and(|p| r.matches(p).is_some()));
        if !covered {
            return Ok(false);
        }
        self.functions.push(FunctionDef {
            name: name.to_owned(),
            methods,
            route,
            trigger_name: "req".to_owned(),
            output_name: "res".to_owned(),
            invoked: false,
        });
        self.functions.sort_by(|a, b| a.name.cmp(&b.name));
        self.functions.sort_by(|a, b| a.route.precedence(&b.route));
        Ok(true)
    }
}

/// `customHandler.http`: its folder-less routes (the profile's `{*route}` unless host.json or
/// an app setting gives its own), and a warning for each that demands a function key, which
/// the host checks before funcgate's own gate (its default level is `function`).
fn custom_routes(host: &HostConfig, profile: bool) -> Result<Vec<Route>, LayoutError> {
    let bad = |problem: String| LayoutError {
        file: "host.json".into(),
        problem,
    };
    let default_level = match host.get(&["customHandler", "http", "defaultAuthorizationLevel"]) {
        Some(Value::String(level)) => level,
        _ => "function".to_owned(),
    };
    let mut entries: Vec<(String, Option<String>)> = Vec::new();
    match host.get(&["customHandler", "http", "routes"]) {
        Some(Value::Array(routes)) => {
            for route in routes {
                let template = route
                    .as_object()
                    .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("route")))
                    .and_then(|(_, v)| v.as_str())
                    .ok_or_else(|| bad("customHandler.http.routes entries need a route".into()))?;
                let level = route
                    .as_object()
                    .and_then(|o| {
                        o.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("authorizationLevel"))
                    })
                    .and_then(|(_, v)| v.as_str())
                    .map(str::to_owned);
                entries.push((template.to_owned(), level));
            }
        }
        // An app setting override names entries by index (`routes__0__route`).
        _ => {
            if let Some(Value::String(template)) =
                host.get(&["customHandler", "http", "routes", "0", "route"])
            {
                entries.push((template, None));
            } else if profile {
                entries.push(("{*route}".to_owned(), None));
            }
        }
    }
    let mut routes = Vec::with_capacity(entries.len());
    for (template, level) in entries {
        let level = level.unwrap_or_else(|| default_level.clone());
        if !level.eq_ignore_ascii_case("anonymous") {
            log::warn!(
                "host.json: customHandler.http route {template:?} has authorization level {level:?}; in Azure the host will demand a function key before funcgate's gate (set customHandler.http.defaultAuthorizationLevel to \"anonymous\")"
            );
        }
        let template = template.trim_start_matches('/');
        routes.push(
            Route::parse(template)
                .map_err(|e| bad(format!("customHandler.http.routes {template:?}: {e}")))?,
        );
    }
    Ok(routes)
}

/// One `function.json`; `None` for a folder without an HTTP trigger.
fn read_function(
    path: &Path,
    name: String,
    mode: HostMode,
) -> Result<Option<FunctionDef>, LayoutError> {
    let file = format!("{name}/function.json");
    let bad = |problem: String| LayoutError {
        file: file.clone(),
        problem,
    };
    let text = fs::read_to_string(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let parsed: FunctionJson =
        serde_json::from_str(&text).map_err(|e| bad(format!("is not valid: {e}")))?;
    let Some(trigger) = parsed
        .bindings
        .iter()
        .find(|b| b.kind.eq_ignore_ascii_case("httpTrigger"))
    else {
        log::warn!("{file}: no httpTrigger binding; funcgate does not serve it");
        return Ok(None);
    };
    let output = parsed
        .bindings
        .iter()
        .find(|b| b.kind.eq_ignore_ascii_case("http") && b.direction.eq_ignore_ascii_case("out"));
    // The host's `IsHttpInAndOutFunction`: exactly one input binding (the trigger) and one
    // output binding (http); anything else is invoked with payloads whatever host.json says.
    let direction = |d: &str| {
        parsed
            .bindings
            .iter()
            .filter(|b| b.direction.eq_ignore_ascii_case(d))
            .count()
    };
    let http_in_and_out = direction("in") == 1 && direction("out") == 1 && output.is_some();
    let invoked = !http_in_and_out || mode == HostMode::Invocation;
    if !http_in_and_out && mode != HostMode::Invocation {
        log::warn!(
            "{file}: not exactly one httpTrigger and one http output; the host invokes it with payloads (POST /{name}), buffering its replies"
        );
    }
    // The host's rule: an empty route is the function's name, as an absent one is.
    let template = trigger.route.as_deref().filter(|r| !r.is_empty());
    let route = Route::parse(template.unwrap_or(&name)).map_err(|e| bad(e.to_string()))?;
    let auth_level = trigger
        .auth_level
        .clone()
        .unwrap_or_else(|| "function".to_owned());
    if !auth_level.eq_ignore_ascii_case("anonymous") {
        log::warn!(
            "{file}: authLevel is {auth_level:?}; in Azure the host will also demand a function key"
        );
    }
    Ok(Some(FunctionDef {
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
        invoked,
    }))
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
            invoked: false,
        };
        Layout {
            custom_routes: Vec::new(),
            profile: None,
            route_prefix: prefix.into(),
            mode: HostMode::Forwarding,
            functions: vec![
                def("health", "health"),
                def("vault", "vault/{secret_name?}"),
            ],
        }
    }

    fn routed(l: &Layout, path: &str) -> Option<(String, Option<String>)> {
        l.route("GET", path).map(|r| {
            (
                r.function.name.clone(),
                r.params.get("secret_name").cloned(),
            )
        })
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

    fn app(host: &str, functions: &[(&str, &str)]) -> Result<Layout, LayoutError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("host.json"), host).unwrap();
        for (name, json) in functions {
            std::fs::create_dir(dir.path().join(name)).unwrap();
            std::fs::write(dir.path().join(name).join("function.json"), json).unwrap();
        }
        Layout::load(dir.path(), &HashMap::new())
    }

    fn http(route: &str, methods: &str) -> String {
        format!(
            r#"{{"bindings":[{{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":{methods},"route":"{route}"}},{{"type":"http","direction":"out","name":"res"}}]}}"#
        )
    }

    const QUEUED: &str = r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["post"]},{"type":"http","direction":"out","name":"res"},{"type":"queue","direction":"out","name":"msg","queueName":"q"}]}"#;
    const FORWARDING: &str = r#"{"customHandler":{"description":{"defaultExecutablePath":"h"},"enableForwardingHttpRequest":true},"extensions":{"http":{"routePrefix":""}}}"#;

    #[test]
    fn the_protocol_comes_from_the_layout() {
        let l = app(
            FORWARDING,
            &[("jobs", QUEUED), ("items", &http("items", r#"["get"]"#))],
        )
        .unwrap();
        assert_eq!(l.mode, HostMode::Forwarding);
        assert!(l.function("jobs").unwrap().invoked);
        assert!(!l.function("items").unwrap().invoked);
        assert!(l.invoked_at("/jobs").is_some());
        assert!(l.invoked_at("/items").is_none());
        let neither = app(
            r#"{"customHandler":{"description":{"defaultExecutablePath":"h"}}}"#,
            &[("items", &http("items", r#"["get"]"#))],
        )
        .unwrap();
        assert_eq!(neither.mode, HostMode::Invocation);
        assert!(neither.function("items").unwrap().invoked);
        let mcp = app(r#"{"configurationProfile":"mcp-custom-handler"}"#, &[]).unwrap();
        assert_eq!(mcp.mode, HostMode::Proxying);
    }

    #[test]
    fn a_public_route_over_an_invocation_path_is_refused() {
        let elsewhere = QUEUED.replace(
            r#""methods":["post"]"#,
            r#""methods":["post"],"route":"work/run""#,
        );
        let err = app(
            FORWARDING,
            &[
                ("jobs", &elsewhere),
                ("proxy", &http("{*path}", r#"["post"]"#)),
            ],
        )
        .unwrap_err();
        assert_eq!(err.file, "proxy/function.json");
        assert!(err.problem.contains("POST /jobs"), "{}", err.problem);
        // The invoked function's own route (its name, by default) comes first: no public
        // request reaches another function at that path.
        assert!(
            app(
                FORWARDING,
                &[("jobs", QUEUED), ("proxy", &http("{*path}", r#"["post"]"#))]
            )
            .is_ok()
        );
        // GET-only catch-alls cannot carry a POST; a route prefix keeps public paths apart.
        assert!(
            app(
                FORWARDING,
                &[
                    ("jobs", &elsewhere),
                    ("proxy", &http("{*path}", r#"["get"]"#))
                ]
            )
            .is_ok()
        );
        let prefixed = FORWARDING.replace(r#""routePrefix":"""#, r#""routePrefix":"api""#);
        assert!(
            app(
                &prefixed,
                &[
                    ("jobs", &elsewhere),
                    ("proxy", &http("{*path}", r#"["post"]"#))
                ]
            )
            .is_ok()
        );
    }

    #[test]
    fn host_json_is_read_as_the_hosts_configuration() {
        let shouting = r#"{"CustomHandler":{"Description":{"DefaultExecutablePath":"h"},"EnableForwardingHttpRequest":true},"Extensions":{"HTTP":{"RoutePrefix":""}}}"#;
        let l = app(shouting, &[("items", &http("items", r#"["get"]"#))]).unwrap();
        assert_eq!(
            (l.mode, l.route_prefix.as_str()),
            (HostMode::Forwarding, "")
        );
        assert!(!l.function("items").unwrap().invoked);
        // An app setting overrides the file, as the host's configuration has it.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("host.json"),
            r#"{"customHandler":{"enableForwardingHttpRequest":false}}"#,
        )
        .unwrap();
        let env: HashMap<String, String> = [
            (
                "AzureFunctionsJobHost__customHandler__enableProxyingHttpRequest",
                "True",
            ),
            ("AZUREFUNCTIONSJOBHOST__EXTENSIONS__HTTP__ROUTEPREFIX", "v1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let l = Layout::load(dir.path(), &env).unwrap();
        assert_eq!(
            (l.mode, l.route_prefix.as_str()),
            (HostMode::Proxying, "v1")
        );
    }

    #[test]
    fn an_empty_route_is_the_functions_name() {
        let l = app(
            FORWARDING,
            &[
                ("pub", &http("", r#"["get"]"#)),
                ("byname", &http("{name}", r#"["get"]"#)),
            ],
        )
        .unwrap();
        assert_eq!(l.route("GET", "/pub").unwrap().function.name, "pub");
        assert!(l.route("GET", "/").is_none());
    }

    #[test]
    fn a_tie_with_an_invocation_path_is_refused() {
        // `{name}` and `{*path}` tie in the host's order: which comes first is its
        // registration order, so funcgate cannot promise the invoked route wins.
        let invoked = QUEUED.replace(
            r#""methods":["post"]"#,
            r#""methods":["post"],"route":"{name}""#,
        );
        for proxy in ["aproxy", "zproxy"] {
            let err = app(
                FORWARDING,
                &[("jobs", &invoked), (proxy, &http("{*path}", r#"["post"]"#))],
            )
            .unwrap_err();
            assert_eq!(err.file, format!("{proxy}/function.json"));
        }
        // `~/` is dropped as the host's parser drops it: still a catch-all over /jobs.
        let elsewhere = QUEUED.replace(
            r#""methods":["post"]"#,
            r#""methods":["post"],"route":"me""#,
        );
        let err = app(
            FORWARDING,
            &[
                ("jobs", &elsewhere),
                ("proxy", &http("~/{*path}", r#"["post"]"#)),
            ],
        )
        .unwrap_err();
        assert_eq!(err.file, "proxy/function.json");
    }

    #[test]
    fn methods_and_constraints_choose_as_the_host_does() {
        let l = app(
            FORWARDING,
            &[
                ("byid", &http("items/{id:int}", r#"["get"]"#)),
                ("byname", &http("items/{name}", r#"["get","delete"]"#)),
                ("feed", &http("items/feed", r#"["get"]"#)),
                ("create", &http("items/{id?}", r#"["post"]"#)),
                ("all", &http("{*rest}", r#"["get","post","put"]"#)),
            ],
        )
        .unwrap();
        let to = |m: &str, p: &str| l.route(m, p).map(|r| r.function.name.clone());
        assert_eq!(to("GET", "/items/feed").as_deref(), Some("feed"));
        assert_eq!(to("GET", "/items/7").as_deref(), Some("byid"));
        assert_eq!(to("GET", "/items/seven").as_deref(), Some("byname"));
        assert_eq!(to("DELETE", "/items/7").as_deref(), Some("byname"));
        assert_eq!(to("POST", "/items/7").as_deref(), Some("create"));
        assert_eq!(to("POST", "/items").as_deref(), Some("create"));
        assert_eq!(to("PUT", "/items/7").as_deref(), Some("all"));
        assert_eq!(to("GET", "/other").as_deref(), Some("all"));
        // No route takes PATCH: the first that matches the path answers 405.
        assert_eq!(to("PATCH", "/items/7").as_deref(), Some("byid"));
    }
}

#[cfg(test)]
mod folderless_tests {
    use super::*;

    #[test]
    fn profiles_place_folderless_functions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("host.json"),
            r#"{"version":"2.0","configurationProfile":"MCP-Custom-Handler","customHandler":{"http":{"defaultAuthorizationLevel":"anonymous"}}}"#,
        )
        .unwrap();
        let mut layout = Layout::load(dir.path(), &HashMap::new()).unwrap();
        assert_eq!(layout.mode, HostMode::Proxying);
        assert_eq!(layout.route_prefix, "");
        assert_eq!(layout.profile.as_deref(), Some("mcp-custom-handler"));
        assert_eq!(layout.custom_routes.len(), 1, "{:?}", layout.custom_routes);
        assert!(
            layout.custom_routes[0].is_catch_all(),
            "{:?}",
            layout.custom_routes
        );
        assert!(
            layout
                .add_folderless("order", "orders/{id:int}", None)
                .unwrap()
        );
        assert!(
            layout
                .add_folderless("mcp", "mcp", Some(vec!["POST".into()]))
                .unwrap()
        );
        let routed = layout.route("GET", "/orders/5").unwrap();
        assert_eq!(routed.function.name, "order");
        assert_eq!(routed.params["id"], "5");
        assert!(layout.route("GET", "/orders/x").is_none());
        assert_eq!(layout.route("POST", "/mcp").unwrap().function.name, "mcp");
    }

    #[test]
    fn profile_defaults_yield_to_host_json_and_unknown_profiles_stop() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| std::fs::write(dir.path().join("host.json"), text).unwrap();
        write(
            r#"{"configurationProfile":"web-app-custom-handler","customHandler":{"enableProxyingHttpRequest":false,"enableForwardingHttpRequest":true},"extensions":{"http":{"routePrefix":"api"}}}"#,
        );
        let layout = Layout::load(dir.path(), &HashMap::new()).unwrap();
        assert_eq!(layout.mode, HostMode::Forwarding);
        assert_eq!(layout.route_prefix, "api");
        write(r#"{"configurationProfile":"mcp-server"}"#);
        let err = Layout::load(dir.path(), &HashMap::new()).unwrap_err();
        assert!(
            err.problem.contains("not one the host supports"),
            "{}",
            err.problem
        );
        // Without a profile or custom routes, nothing is folder-less.
        write(r#"{"customHandler":{"enableProxyingHttpRequest":true}}"#);
        let mut layout = Layout::load(dir.path(), &HashMap::new()).unwrap();
        assert!(!layout.add_folderless("health", "health", None).unwrap());
        // Explicit custom routes place what they cover.
        write(
            r#"{"customHandler":{"enableProxyingHttpRequest":true,"http":{"routes":[{"route":"tools/{*rest}","authorizationLevel":"anonymous"}]}}}"#,
        );
        let mut layout = Layout::load(dir.path(), &HashMap::new()).unwrap();
        assert!(layout.add_folderless("mcp", "tools/mcp", None).unwrap());
        assert!(!layout.add_folderless("health", "health", None).unwrap());
    }
}
