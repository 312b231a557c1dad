//! The function app a command works on: the folder holding `host.json` and `Cargo.toml`, the
//! executable `host.json` names, and building it with cargo.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::Failure;

/// A function app on disk.
pub(crate) struct Project {
    /// The app root (host.json, the function folders, Cargo.toml).
    pub(crate) root: PathBuf,
    /// host.json, parsed.
    pub(crate) host: Value,
}

impl Project {
    /// The app around the current directory: the nearest folder upwards with a `host.json`.
    pub(crate) fn find() -> Result<Project, Failure> {
        let cwd = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
        let root = cwd
            .ancestors()
            .find(|dir| dir.join("host.json").is_file())
            .ok_or_else(|| {
                format!(
                    "no host.json in {} or above: run this in a function app (cargo funcgate new NAME makes one)",
                    cwd.display()
                )
            })?;
        Project::at(root)
    }

    /// The app at `root`.
    pub(crate) fn at(root: &Path) -> Result<Project, Failure> {
        let text = std::fs::read_to_string(root.join("host.json"))
            .map_err(|e| format!("host.json: cannot be read: {e}"))?;
        let host = serde_json::from_str(&text)
            .map_err(|e| format!("host.json: is not valid JSON: {e}"))?;
        Ok(Project {
            root: root.to_owned(),
            host,
        })
    }

    /// The executable `host.json` names (`customHandler.description.defaultExecutablePath`).
    pub(crate) fn executable(&self) -> Result<String, Failure> {
        self.host
            .pointer("/customHandler/description/defaultExecutablePath")
            .and_then(Value::as_str)
            .map(|p| p.trim_start_matches("./").to_owned())
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                "host.json: customHandler.description.defaultExecutablePath is missing (the host would not know what to start)".to_owned()
            })
    }

    /// The function folders: direct sub-folders holding a `function.json`, sorted.
    pub(crate) fn function_folders(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("function.json").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Builds the executable with `cargo build` (`extra` adds `--release`, `--target ...`),
    /// compiler output on the terminal; returns the built file.
    pub(crate) fn build(&self, extra: &[String]) -> Result<PathBuf, Failure> {
        let exe = self.executable()?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut child = Command::new(cargo)
            .current_dir(&self.root)
            .args([
                "build",
                "--bin",
                &exe,
                "--message-format=json-render-diagnostics",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        let mut built = None;
        if let Some(out) = child.stdout.take() {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if message["reason"] == "compiler-artifact"
                    && message["target"]["name"] == exe.as_str()
                    && let Some(path) = message["executable"].as_str()
                {
                    built = Some(PathBuf::from(path));
                }
            }
        }
        let status = child.wait().map_err(|e| format!("cargo: {e}"))?;
        if !status.success() {
            return Err(format!(
                "cargo build --bin {exe} failed (host.json's defaultExecutablePath names {exe:?}: the package's binary must have that name)"
            ));
        }
        built.ok_or_else(|| {
            format!("host.json names {exe:?}, but cargo built no executable of that name (is it a [[bin]] of this package?)")
        })
    }

    /// `configurationProfile` when it is one of the custom-handler profiles
    /// (`mcp-custom-handler`, `web-app-custom-handler`), lower-case. The host then routes every
    /// path to the handler with an empty prefix, and refuses function folders beside it.
    pub(crate) fn profile(&self) -> Option<String> {
        // The host reads host.json through .NET configuration: keys in any case.
        self.host
            .as_object()?
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("configurationProfile"))
            .and_then(|(_, value)| value.as_str())
            .map(|profile| profile.trim().to_ascii_lowercase())
            .filter(|profile| {
                profile == "mcp-custom-handler" || profile == "web-app-custom-handler"
            })
    }

    /// `extensions.http.routePrefix` (when host.json says nothing: `api`, or none under a
    /// profile).
    pub(crate) fn route_prefix(&self) -> String {
        let default = if self.profile().is_some() { "" } else { "api" };
        self.host
            .pointer("/extensions/http/routePrefix")
            .and_then(Value::as_str)
            .unwrap_or(default)
            .trim_matches('/')
            .to_owned()
    }

    /// The public path of `route` under the route prefix (`/api/health`).
    pub(crate) fn public_path(&self, route: &str) -> String {
        match self.route_prefix().as_str() {
            "" => format!("/{route}"),
            prefix => format!("/{prefix}/{route}"),
        }
    }

    /// `Host.LocalHttpPort` of local.settings.json (7071, as `func start`, by default).
    pub(crate) fn local_port(&self) -> u16 {
        std::fs::read_to_string(self.root.join("local.settings.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.pointer("/Host/LocalHttpPort").and_then(Value::as_u64))
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(7071)
    }
}

/// `template` with each `__KEY__` placeholder of `values` replaced, in one pass: a value is
/// never read for placeholders itself, so a rule, path or URL that happens to hold one
/// (`roles:__BIN__.Reader`) is written as given.
pub(crate) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    loop {
        let next = values
            .iter()
            .filter_map(|(key, value)| rest.find(key).map(|at| (at, *key, *value)))
            .min_by_key(|(at, key, _)| (*at, std::cmp::Reverse(key.len())));
        let Some((at, key, value)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        out.push_str(value);
        rest = &rest[at + key.len()..];
    }
}

/// Lower-case letters, digits, `-` and `_`, starting with a letter, at most `max` bytes: what
/// both a package and a function folder may be called.
pub(crate) fn is_lower_name(name: &str, max: usize) -> bool {
    name.len() <= max
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Names a function folder may have: the host's rule (`^[a-z][a-z0-9_-]{0,127}$`), kept to
/// what is also a Rust module once `-` becomes `_`, and not a word Rust or the host reserves.
pub(crate) fn check_function_name(name: &str) -> Result<String, Failure> {
    if !is_lower_name(name, 60) {
        return Err(format!(
            "{name:?} is not a function name: lower-case letters, digits, '-' and '_', starting with a letter (at most 60)"
        ));
    }
    let module = name.replace('-', "_");
    const RESERVED: [&str; 58] = [
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
        "move", "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait",
        "true", "try", "type", "unsafe", "use", "where", "while", "yield", "abstract", "become",
        "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "host",
        "admin", "runtime", "src", "tests", "target", "dist",
    ];
    if RESERVED.contains(&module.as_str()) || RESERVED.contains(&name) {
        return Err(format!(
            "{name:?} is reserved (a Rust keyword, a route the host keeps, or a folder of the package)"
        ));
    }
    Ok(module)
}

#[cfg(test)]
mod tests {

    #[test]
    fn fill_never_reads_a_value_for_placeholders() {
        let values = [
            ("__RULES__", "roles:__BIN__.Reader"),
            ("__BIN__", "app"),
            ("__BINARY__", "x"),
        ];
        assert_eq!(
            super::fill("rules(\"__RULES__\") bin __BIN__ __BINARY__ __", &values),
            "rules(\"roles:__BIN__.Reader\") bin app x __"
        );
    }

    use super::*;

    fn project(host: Value) -> Project {
        Project {
            root: PathBuf::from("."),
            host,
        }
    }

    #[test]
    fn a_profile_empties_the_default_route_prefix() {
        let plain = project(serde_json::json!({"version": "2.0"}));
        assert_eq!(
            (plain.profile(), plain.public_path("health")),
            (None, "/api/health".to_owned())
        );
        let mcp = project(serde_json::json!({"ConfigurationProfile": "MCP-Custom-Handler"}));
        assert_eq!(mcp.profile().as_deref(), Some("mcp-custom-handler"));
        assert_eq!(mcp.public_path("health"), "/health");
        let prefixed = project(serde_json::json!({
            "configurationProfile": "web-app-custom-handler",
            "extensions": {"http": {"routePrefix": "v1"}},
        }));
        assert_eq!(prefixed.public_path("health"), "/v1/health");
        let other = project(serde_json::json!({"configurationProfile": "default"}));
        assert_eq!(other.profile(), None);
    }
}
