//! `vault`: one secret by name, from `/vault/NAME` or `/vault?secret=NAME`.

use serde::Serialize;

use crate::AppState;
use crate::errors::{ApiError, ErrorKind};
use crate::gateway::Call;
use crate::reply::Reply;

/// Key Vault's rule for secret names.
pub fn is_valid_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Looks the secret up in the configured store.
pub async fn run(state: &AppState, call: &Call) -> Result<Reply, ApiError> {
    let name = call
        .params
        .get("secret_name")
        .filter(|n| !n.is_empty())
        .cloned()
        .or_else(|| call.query_value("secret"))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::new(ErrorKind::SecretNameMissing))?;
    if !is_valid_secret_name(&name) {
        return Err(ApiError::new(ErrorKind::InvalidSecretName));
    }
    let version = call.query_value("version");
    match state.secrets.get(&name, version.as_deref()).await {
        Ok(Some(value)) => {
            #[derive(Serialize)]
            struct Secret<'a> {
                name: &'a str,
                value: &'a str,
            }
            let mut reply = Reply::json(
                200,
                &Secret {
                    name: &name,
                    value: &value,
                },
            );
            reply.header("Cache-Control", "no-store");
            Ok(reply)
        }
        Ok(None) => {
            Err(ApiError::new(ErrorKind::SecretNotFound).because(format!("no secret named {name}")))
        }
        Err(e) => {
            log::error!("secret store failed for {name}: {e}");
            Err(ApiError::new(ErrorKind::VaultError).because("the secret store failed"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_follow_key_vault() {
        assert!(is_valid_secret_name("demo"));
        assert!(is_valid_secret_name("db-Password-2"));
        assert!(is_valid_secret_name(&"a".repeat(127)));
        assert!(!is_valid_secret_name(&"a".repeat(128)));
        assert!(!is_valid_secret_name(""));
        assert!(!is_valid_secret_name("a_b"));
        assert!(!is_valid_secret_name("a/b"));
        assert!(!is_valid_secret_name("é"));
    }
}
