//! `AUTH_CLIENT_CREDENTIAL` (with `AUTH_CLIENT_CERTIFICATE_PATH`, `AUTH_CLIENT_SECRET`,
//! `AUTH_MANAGED_IDENTITY_CLIENT_ID`), and `DOWNSTREAM_<NAME>_URL` / `_SCOPES`.

use std::collections::HashMap;
use std::path::Path;

use super::source::Source;
use super::{SettingError, fail};

/// The app's client credential for on-behalf-of exchanges, as the settings give it.
#[derive(Clone)]
pub(crate) enum CredentialSetting {
    /// `managed_identity`.
    ManagedIdentity,
    /// `certificate`: the PEM private key and the certificate's SHA-256 thumbprint
    /// (base64url, for `x5t#S256`).
    Certificate {
        key_pem: Vec<u8>,
        thumbprint: String,
    },
    /// `secret`.
    Secret(String),
}

impl std::fmt::Debug for CredentialSetting {
    /// Never the key or the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialSetting::ManagedIdentity => "ManagedIdentity",
            CredentialSetting::Certificate { .. } => "Certificate(..)",
            CredentialSetting::Secret(_) => "Secret(..)",
        })
    }
}

/// Downstream settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct DownstreamSettings {
    /// `AUTH_CLIENT_CREDENTIAL`.
    pub(crate) credential: Option<CredentialSetting>,
    /// `AUTH_MANAGED_IDENTITY_CLIENT_ID`: a user-assigned managed identity's client id.
    pub(crate) managed_identity_client_id: Option<String>,
    /// `DOWNSTREAM_<NAME>_URL` by `<NAME>`, checked as a base URL ([`crate::net::check_base_url`]).
    pub(crate) urls: HashMap<String, reqwest::Url>,
    /// `DOWNSTREAM_<NAME>_SCOPES` by `<NAME>`, split on spaces.
    pub(crate) scopes: HashMap<String, Vec<String>>,
}

/// Reads them; a certificate file is read and checked now, so a wrong one stops start-up.
pub(super) fn read(source: &Source, app_root: &Path) -> Result<DownstreamSettings, SettingError> {
    const NAME: &str = "AUTH_CLIENT_CREDENTIAL";
    let credential = match source.get(NAME) {
        None => None,
        Some(kind) => Some(match kind.to_ascii_lowercase().as_str() {
            "managed_identity" => CredentialSetting::ManagedIdentity,
            "secret" => {
                let Some(secret) = source.get("AUTH_CLIENT_SECRET") else {
                    return fail(
                        "AUTH_CLIENT_SECRET",
                        "required with AUTH_CLIENT_CREDENTIAL=secret",
                    );
                };
                CredentialSetting::Secret(secret.to_owned())
            }
            "certificate" => certificate(source, app_root)?,
            other => {
                return fail(
                    NAME,
                    format!(
                        "expected managed_identity, certificate or secret, got {:?}",
                        other.chars().take(40).collect::<String>()
                    ),
                );
            }
        }),
    };
    let mut urls = HashMap::new();
    let mut scopes = HashMap::new();
    for name in source.names() {
        let Some(rest) = name.strip_prefix("DOWNSTREAM_") else {
            continue;
        };
        let Some(value) = source.get(name) else {
            continue;
        };
        if let Some(api) = rest.strip_suffix("_URL") {
            let url = crate::net::check_base_url(value).or_else(|e| fail(name, e))?;
            urls.insert(api.to_owned(), url);
        } else if let Some(api) = rest.strip_suffix("_SCOPES") {
            let list: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
            if list.is_empty() {
                return fail(name, "names no scope");
            }
            scopes.insert(api.to_owned(), list);
        } else {
            log::warn!("{name}: not a setting funcgate reads (DOWNSTREAM_<NAME>_URL or _SCOPES)");
        }
    }
    Ok(DownstreamSettings {
        credential,
        managed_identity_client_id: source
            .get("AUTH_MANAGED_IDENTITY_CLIENT_ID")
            .map(str::to_owned),
        urls,
        scopes,
    })
}

/// `AUTH_CLIENT_CERTIFICATE_PATH`: one PEM file with the RSA private key and the
/// certificate (as Azure's and OpenSSL's exports write them).
fn certificate(source: &Source, app_root: &Path) -> Result<CredentialSetting, SettingError> {
    const PATH: &str = "AUTH_CLIENT_CERTIFICATE_PATH";
    let Some(path) = source.get(PATH) else {
        return fail(PATH, "required with AUTH_CLIENT_CREDENTIAL=certificate");
    };
    let text = std::fs::read(app_root.join(path))
        .or_else(|e| fail(PATH, format!("cannot read {path:?}: {e}")))?;
    let blocks = pem::parse_many(&text).or_else(|_| fail(PATH, "is not PEM"))?;
    let Some(certificate) = blocks.iter().find(|b| b.tag() == "CERTIFICATE") else {
        return fail(PATH, "holds no CERTIFICATE block");
    };
    let Some(key) = blocks
        .iter()
        .find(|b| matches!(b.tag(), "PRIVATE KEY" | "RSA PRIVATE KEY"))
    else {
        return fail(PATH, "holds no PRIVATE KEY block (RSA)");
    };
    let key_pem = pem::encode(key).into_bytes();
    if jsonwebtoken::EncodingKey::from_rsa_pem(&key_pem).is_err() {
        return fail(PATH, "its private key is not an RSA key");
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, certificate.contents());
    let thumbprint = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        digest.as_ref(),
    );
    Ok(CredentialSetting::Certificate {
        key_pem,
        thumbprint,
    })
}
