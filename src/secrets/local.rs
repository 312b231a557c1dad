//! The embedded local store: a JSON file of name → value, read once at start-up.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::{SecretFuture, SecretStore};

/// Secrets from `LOCAL_SECRETS_FILE`, matched case-insensitively like Key Vault names.
pub struct LocalStore {
    values: HashMap<String, String>,
}

impl LocalStore {
    /// Reads the file; a missing file is an empty store, a malformed one an error.
    pub fn load(path: &Path) -> Result<LocalStore, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                log::warn!(
                    "no local secrets file at {}: vault will find no secrets",
                    path.display()
                );
                return Ok(LocalStore {
                    values: HashMap::new(),
                });
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let map = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(format!(
                    "{} must be a JSON object of name to value",
                    path.display()
                ));
            }
            Err(e) => return Err(format!("{} is not valid JSON: {e}", path.display())),
        };
        let mut values = HashMap::new();
        for (name, value) in map {
            let Value::String(value) = value else {
                return Err(format!(
                    "{}: the value of {name:?} must be a string",
                    path.display()
                ));
            };
            values.insert(name.to_ascii_lowercase(), value);
        }
        log::info!(
            "local secret store: {} secrets from {}",
            values.len(),
            path.display()
        );
        Ok(LocalStore { values })
    }
}

impl SecretStore for LocalStore {
    fn get<'a>(&'a self, name: &'a str, _version: Option<&'a str>) -> SecretFuture<'a> {
        // Names reaching here are at most 127 ASCII characters: lower-case them on the stack.
        let mut buf = [0u8; 127];
        let found = match buf.get_mut(..name.len()) {
            Some(lower) if name.is_ascii() => {
                lower.copy_from_slice(name.as_bytes());
                lower.make_ascii_lowercase();
                std::str::from_utf8(lower)
                    .ok()
                    .and_then(|key| self.values.get(key))
                    .cloned()
            }
            _ => self.values.get(&name.to_ascii_lowercase()).cloned(),
        };
        Box::pin(async move { Ok(found) })
    }
}
