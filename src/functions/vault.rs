//! `vault`: one secret by name, from `/vault/NAME` or `/vault?secret=NAME`.
//!
//! `GET` (and `HEAD`) reads it; `PUT` with `{"value": "..."}` stores it. Replies never carry
//! a written value, and one audit line per call names the caller, the secret and the result.

use serde::Serialize;
use serde_json::Value;

use super::{Function, Outcome, Request, invalid_body};
use crate::auth::token::Identity;
use crate::errors::{ApiError, ErrorKind};
use crate::reply::Reply;
use crate::secrets::cache::{CacheUse, Read, SecretCache, Write};

/// The function's folder name.
pub(crate) const FOLDER: &str = "vault";

/// Key Vault's largest secret value: 25 KB.
pub(crate) const MAX_VALUE_BYTES: usize = 25 * 1024;

/// The built-in `vault` function (folder `vault`, rules
/// `GET,HEAD=roles:GetSecret;PUT=roles:SetSecret`): reads a secret from Key Vault (or the local
/// secrets file) by `/vault/NAME` or `/vault?secret=NAME`, and writes one with `PUT` and
/// `{"value": "..."}`. One audit line per call; replies never carry a written value.
pub fn vault<S: Send + Sync + 'static>() -> Function<S> {
    Function::new(FOLDER, answer)
        .rules("GET,HEAD=roles:GetSecret;PUT=roles:SetSecret")
        .route("vault/{secret_name?}", &["GET", "HEAD", "PUT"])
}

async fn answer(req: Request) -> Outcome {
    let name = secret_name(&req)?;
    // Registering `vault` is what opens the store: it is there whenever this runs.
    let Some(secrets) = &req.services().secrets else {
        return Err(ApiError::new(ErrorKind::VaultError).because("no secret store is open"));
    };
    match req.method() {
        "PUT" => write(secrets, &req, &name).await,
        _ => read(secrets, &req, &name).await,
    }
}

/// Key Vault's rule for secret names.
pub(crate) fn is_valid_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Key Vault secret versions are 32 hex digits; anything else cannot exist.
fn is_valid_version(version: &str) -> bool {
    (1..=64).contains(&version.len()) && version.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The name from the route (`secret_name`) or the query (`secret`).
fn secret_name(req: &Request) -> Result<String, ApiError> {
    let name = req
        .param("secret_name")
        .map(str::to_owned)
        .or_else(|| req.query("secret"))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::new(ErrorKind::SecretNameMissing))?;
    if !is_valid_secret_name(&name) {
        return Err(ApiError::new(ErrorKind::InvalidSecretName));
    }
    Ok(name)
}

async fn read(secrets: &SecretCache, req: &Request, name: &str) -> Result<Reply, ApiError> {
    let who = req.identity();
    let version = req.query("version").filter(|v| !v.is_empty());
    if version.as_deref().is_some_and(|v| !is_valid_version(v)) {
        audit("read", who, name, "not_found", CacheUse::Skipped.as_str());
        return Err(ApiError::new(ErrorKind::SecretNotFound).because("no such secret version"));
    }
    let read = secrets.read(name, version.as_deref()).await;
    let cache = read.cache().as_str();
    match read {
        Read::Found { value, .. } => {
            audit("read", who, name, "ok", cache);
            #[derive(Serialize)]
            struct Secret<'a> {
                name: &'a str,
                value: &'a str,
            }
            let mut reply = Reply::json(
                200,
                &Secret {
                    name,
                    value: &value,
                },
            );
            reply.header("Cache-Control", "no-store");
            Ok(reply)
        }
        Read::Denied => {
            audit("read", who, name, "denied", cache);
            Err(ApiError::new(ErrorKind::SecretNotFound)
                .because("the secret is not in VAULT_ALLOWED_SECRETS"))
        }
        Read::Missing => {
            audit("read", who, name, "not_found", cache);
            Err(ApiError::new(ErrorKind::SecretNotFound).because(format!("no secret named {name}")))
        }
        Read::Failed(e) => {
            audit("read", who, name, "error", cache);
            log::error!("secret store failed reading {name:?}: {e}");
            Err(ApiError::new(ErrorKind::VaultError).because("the secret store failed"))
        }
    }
}

/// The value of a `PUT` body: `{"value": "..."}` of at most [`MAX_VALUE_BYTES`].
fn value_of(req: &Request) -> Result<String, ApiError> {
    // Reasons name what is wrong, never the value: they reach the log line.
    let body: Value = req.json()?;
    let Value::Object(mut fields) = body else {
        return Err(invalid_body(
            "the body must be a JSON object: {\"value\": \"...\"}",
        ));
    };
    match fields.remove("value") {
        None => Err(invalid_body("value is missing")),
        Some(Value::String(v)) if v.len() > MAX_VALUE_BYTES => Err(invalid_body(format!(
            "value is {} bytes, over Key Vault's limit of {MAX_VALUE_BYTES}",
            v.len()
        ))),
        Some(Value::String(v)) => Ok(v),
        Some(_) => Err(invalid_body("value must be a string")),
    }
}

async fn write(secrets: &SecretCache, req: &Request, name: &str) -> Result<Reply, ApiError> {
    let who = req.identity();
    let value = value_of(req).inspect_err(|_| audit("write", who, name, "invalid", "none"))?;
    match secrets.write(name, &value).await {
        Write::Stored(stored) => {
            let created = stored.created == Some(true);
            audit(
                "write",
                who,
                name,
                if created { "created" } else { "updated" },
                "none",
            );
            #[derive(Serialize)]
            struct Written<'a> {
                name: &'a str,
                #[serde(skip_serializing_if = "Option::is_none")]
                version: Option<&'a str>,
            }
            let mut reply = Reply::json(
                if created { 201 } else { 200 },
                &Written {
                    name,
                    version: stored.version.as_deref(),
                },
            );
            reply.header("Cache-Control", "no-store");
            Ok(reply)
        }
        Write::Denied => {
            audit("write", who, name, "denied", "none");
            Err(ApiError::new(ErrorKind::SecretNotFound)
                .because("the secret is not in VAULT_ALLOWED_SECRETS"))
        }
        Write::Failed(e) => {
            audit("write", who, name, "error", "none");
            log::error!("secret store failed writing {name:?}: {e}");
            Err(ApiError::new(ErrorKind::VaultError).because("the secret store failed"))
        }
    }
}

/// One line per call: action, caller (tenant, object id, subject, client application), secret
/// name, result, cache use; never the value.
///
/// The caller's fields come from the token (a provider behind `AUTH_METADATA_URL` signs what
/// it likes) and the name from the request, so each is quoted with `{:?}` as the call line
/// quotes its reason: a line break or `key=value` text in a claim stays inside its field and
/// cannot forge a field or a whole audit line. Absent fields are a bare `-`.
fn audit(action: &str, who: Option<&Identity>, name: &str, result: &str, cache: &str) {
    let field = |v: Option<&String>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:?}"));
    log::info!(
        target: "audit",
        "audit vault {action}: tenant={} oid={} sub={} app={} secret={name:?} result={result} cache={cache}",
        field(who.and_then(|w| w.tenant_id.as_ref())),
        field(who.and_then(|w| w.object_id.as_ref())),
        // The subject too: another provider's tokens (`AUTH_METADATA_URL`) have no `oid`.
        field(who.and_then(|w| w.subject.as_ref())),
        field(who.and_then(|w| w.client_app.as_ref())),
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
