//! Where setting values come from: the process environment, then `local.settings.json`
//! `Values` when funcgate runs without the Functions host; and where the app root is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{SettingError, fail};

/// Setting values: the environment first, then `local.settings.json` when run alone.
pub(super) struct Source {
    pub(super) env: HashMap<String, String>,
    pub(super) local: HashMap<String, String>,
}

impl Source {
    /// A value, with blank values treated as unset (Azure keeps empty app settings).
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .or_else(|| self.local.get(name))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A value from the process environment only (what the Azure SDK itself reads).
    pub(super) fn process_env(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub(super) fn names(&self) -> impl Iterator<Item = &String> {
        self.env.keys().chain(self.local.keys())
    }
}

/// The working directory when it holds `host.json`, else the executable's own directory when
/// that does (the handler ships beside `host.json`), else the working directory.
pub(super) fn app_root_near(cwd: &Path) -> PathBuf {
    if cwd.join("host.json").is_file() {
        return cwd.to_path_buf();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .filter(|dir| dir.join("host.json").is_file())
        .unwrap_or_else(|| cwd.to_path_buf())
}

pub(super) fn read_local_settings(
    root: &Path,
) -> Result<(HashMap<String, String>, Option<u16>), SettingError> {
    const FILE: &str = "local.settings.json";
    let text = match std::fs::read_to_string(root.join(FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((HashMap::new(), None)),
        Err(e) => return fail(FILE, format!("cannot be read: {e}")),
    };
    let doc: Value = match serde_json::from_str(&text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return fail(FILE, "must be a JSON object"),
        Err(e) => return fail(FILE, format!("is not valid JSON: {e}")),
    };
    if doc.get("IsEncrypted") == Some(&Value::Bool(true)) {
        return fail(
            FILE,
            "IsEncrypted is true; funcgate reads only unencrypted values",
        );
    }
    let mut values = HashMap::new();
    if let Some(map) = doc.get("Values") {
        let Some(map) = map.as_object() else {
            return fail(FILE, "Values must be an object");
        };
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return fail(FILE, format!("Values.{k} must be a string")),
            };
            values.insert(k.clone(), text);
        }
    }
    let port = match doc.pointer("/Host/LocalHttpPort") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let parsed = match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            match parsed
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
            {
                Some(p) => Some(p),
                None => return fail(FILE, format!("Host.LocalHttpPort is not a port: {v}")),
            }
        }
    };
    Ok((values, port))
}
