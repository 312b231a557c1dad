//! `vault`: one secret by name, from `/vault/NAME` or `/vault?secret=NAME`.

use serde::Serialize;

use crate::AppState;
use crate::auth::token::Identity;
use crate::errors::{ApiError, ErrorKind};
use crate::gateway::Call;
use crate::reply::Reply;
use crate::secrets::vault::CacheUse;

/// Key Vault's rule for secret names.
pub fn is_valid_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Key Vault secret versions are 32 hex digits; anything else cannot exist.
fn is_valid_version(version: &str) -> bool {
    (1..=64).contains(&version.len()) && version.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Looks the secret up and writes one audit line for the read (never the value).
pub async fn run(state: &AppState, call: &Call, who: Option<&Identity>) -> Result<Reply, ApiError> {
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
    let version = call.query_value("version").filter(|v| !v.is_empty());
    if version.as_deref().is_some_and(|v| !is_valid_version(v)) {
        audit(who, &name, "not_found", CacheUse::Skipped);
        return Err(ApiError::new(ErrorKind::SecretNotFound).because("no such secret version"));
    }
    let read = state.vault.read(&name, version.as_deref()).await;
    match read.outcome {
        Ok(Some(value)) => {
            audit(who, &name, "ok", read.cache);
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
        Ok(None) if read.denied => {
            audit(who, &name, "denied", read.cache);
            Err(ApiError::new(ErrorKind::SecretNotFound)
                .because("the secret is not in VAULT_ALLOWED_SECRETS"))
        }
        Ok(None) => {
            audit(who, &name, "not_found", read.cache);
            Err(ApiError::new(ErrorKind::SecretNotFound).because(format!("no secret named {name}")))
        }
        Err(e) => {
            audit(who, &name, "error", read.cache);
            log::error!("secret store failed reading {name}: {e}");
            Err(ApiError::new(ErrorKind::VaultError).because("the secret store failed"))
        }
    }
}

/// One line per read: caller, secret name, result, cache use.
fn audit(who: Option<&Identity>, name: &str, result: &str, cache: CacheUse) {
    let field = |v: Option<&String>| v.map(String::as_str).unwrap_or("-").to_owned();
    log::info!(
        target: "audit",
        "audit vault read: tenant={} oid={} app={} secret={name} result={result} cache={}",
        field(who.and_then(|w| w.tenant_id.as_ref())),
        field(who.and_then(|w| w.object_id.as_ref())),
        field(who.and_then(|w| w.client_app.as_ref())),
        cache.as_str()
    );
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
