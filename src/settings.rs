//! Settings, read once at start-up into typed values.
//!
//! Under the Functions host every setting is an environment variable (app settings in Azure,
//! `local.settings.json` `Values` under `func start`). Run alone (no
//! `FUNCTIONS_CUSTOMHANDLER_PORT`), funcgate reads `local.settings.json` itself for any setting
//! the environment lacks and listens on its `Host.LocalHttpPort` (7071), as `func start` would.

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::auth::config::AuthConfig;
use crate::auth::policy::{MethodRules, Policy};
use crate::auth::token::{Tenancy, is_guid};
#[cfg(test)]
use crate::auth::token::{V1_ISSUER_CHINA, V1_ISSUER_PUBLIC};
use crate::cors::CorsOrigins;
use crate::functions;
use crate::layout::Layout;
use crate::net;
use crate::secrets::keyvault::Credential;
use crate::secrets::vault::NamePattern;

/// Port `func start` uses, and so funcgate when run alone.
pub const DEFAULT_LOCAL_PORT: u16 = 7071;
/// Smallest unknown-`kid` refresh cooldown accepted (Microsoft.IdentityModel's own floor).
const MIN_KEY_REFRESH_COOLDOWN_SECONDS: u64 = 1;
/// Largest clock skew accepted.
const MAX_CLOCK_SKEW_SECONDS: u64 = 3600;
/// Prefix of the per-function policy settings (`AUTH_POLICY_VAULT`).
pub const POLICY_PREFIX: &str = "AUTH_POLICY_";
/// Default `MAX_REQUEST_BODY_BYTES`: 1 MiB.
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;
/// Largest `MAX_REQUEST_BODY_BYTES` accepted: 64 MiB (bodies are held in memory).
const MAX_MAX_REQUEST_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Default `REQUEST_BODY_TIMEOUT_SECONDS`.
pub const DEFAULT_REQUEST_BODY_TIMEOUT_SECONDS: u64 = 30;

/// A setting that stops start-up: its name and what is wrong.
#[derive(Debug, PartialEq, Eq)]
pub struct SettingError {
    /// The setting (or file) at fault.
    pub name: String,
    /// What is wrong, in one line.
    pub problem: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "funcgate: {}: {}", self.name, self.problem)
    }
}

fn fail<T>(name: &str, problem: impl Into<String>) -> Result<T, SettingError> {
    Err(SettingError {
        name: name.to_owned(),
        problem: problem.into(),
    })
}

/// Everything funcgate needs, loaded once.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// True when run without the Functions host.
    pub standalone: bool,
    /// The Functions app root (`FUNCTIONS_APP_ROOT_PATH`, else the working directory).
    pub app_root: PathBuf,
    /// `host.json` and the function folders.
    pub layout: Layout,
    /// Each function's rules per method, by folder name.
    pub policies: HashMap<String, MethodRules>,
    /// Request body limits.
    pub body: BodyLimits,
    /// Token validation.
    pub auth: AuthConfig,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors: CorsOrigins,
    /// `LOCAL_SECRETS_FILE`, resolved against the app root.
    pub local_secrets_file: PathBuf,
    /// Key Vault and the secret cache.
    pub vault: VaultSettings,
    /// The proxy variables set in the environment (names only), for the start-up log.
    pub proxy_variables: Vec<&'static str>,
}

/// How much of a request body funcgate reads, and how long it waits for it.
#[derive(Clone, Debug)]
pub struct BodyLimits {
    /// `MAX_REQUEST_BODY_BYTES` (default 1 MiB): larger bodies get `413 PayloadTooLarge`.
    pub max_bytes: usize,
    /// `REQUEST_BODY_TIMEOUT_SECONDS` (default 30): a body still arriving then is cut off.
    pub timeout: Duration,
}

/// Where `vault` reads secrets and how it caches them.
#[derive(Clone, Debug)]
pub struct VaultSettings {
    /// `KEY_VAULT_URL` and its credential; `None` uses the local secrets file.
    pub key_vault: Option<KeyVaultSettings>,
    /// `VAULT_CACHE_SECONDS` (zero disables the cache).
    pub cache_ttl: Duration,
    /// `VAULT_ALLOWED_SECRETS`.
    pub allowed: Option<Vec<NamePattern>>,
}

/// A Key Vault to read from.
#[derive(Clone, Debug)]
pub struct KeyVaultSettings {
    /// The vault URL.
    pub url: String,
    /// The vault is on a loopback address (test vaults): challenge verification is off.
    pub loopback: bool,
    /// How to authenticate.
    pub credential: Credential,
}

/// Setting values: the environment first, then `local.settings.json` when run alone.
struct Source {
    env: HashMap<String, String>,
    local: HashMap<String, String>,
}

impl Source {
    /// A value, with blank values treated as unset (Azure keeps empty app settings).
    fn get(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .or_else(|| self.local.get(name))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A value from the process environment only (what the Azure SDK itself reads).
    fn process_env(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn names(&self) -> impl Iterator<Item = &String> {
        self.env.keys().chain(self.local.keys())
    }
}

impl Settings {
    /// Loads from the process environment.
    pub fn from_env() -> Result<Settings, SettingError> {
        let env: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Settings::load(env, &cwd)
    }

    /// Loads from the given environment; `cwd` is the app root unless the host names one.
    pub fn load(env: HashMap<String, String>, cwd: &Path) -> Result<Settings, SettingError> {
        let app_root = env
            .get("FUNCTIONS_APP_ROOT_PATH")
            .filter(|p| !p.trim().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| app_root_near(cwd));
        let host_port = ["FUNCTIONS_CUSTOMHANDLER_PORT", "FUNCTIONS_HTTPWORKER_PORT"]
            .into_iter()
            .find_map(|name| Some((name, env.get(name)?.trim().to_owned())));
        let mut source = Source {
            env,
            local: HashMap::new(),
        };
        let (port, standalone) = match host_port {
            Some((name, text)) => match text.parse::<u16>() {
                Ok(p) if p > 0 => (p, false),
                _ => return fail(name, format!("expected a TCP port number, got {text:?}")),
            },
            None => {
                let (values, port) = read_local_settings(&app_root)?;
                source.local = values;
                (port.unwrap_or(DEFAULT_LOCAL_PORT), true)
            }
        };
        let layout = Layout::load(&app_root).map_err(|e| SettingError {
            name: e.file,
            problem: e.problem,
        })?;
        let auth = auth_settings(&source)?;
        let policies = policies(&source, &layout)?;
        check_any_tenant(&auth, &policies)?;
        let cors = match source.get("CORS_ALLOWED_ORIGINS") {
            None => CorsOrigins::List(Vec::new()),
            Some(text) => cors_origins(text)?,
        };
        let local_secrets_file = app_root.join(
            source
                .get("LOCAL_SECRETS_FILE")
                .unwrap_or("local.secrets.json"),
        );
        let vault = vault_settings(&source)?;
        let body = body_limits(&source)?;
        let proxy_variables = net::PROXY_VARIABLES
            .into_iter()
            .filter(|name| source.process_env(name).is_some())
            .collect();
        Ok(Settings {
            proxy_variables,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            standalone,
            app_root,
            layout,
            policies,
            body,
            auth,
            cors,
            local_secrets_file,
            vault,
        })
    }

    /// The policy for `method` on a function folder; folders and methods no rule covers are
    /// denied.
    pub fn policy(&self, function: &str, method: &str) -> &Policy {
        match self.policies.get(function) {
            Some(rules) => rules.for_method(method),
            None => &Policy::Deny,
        }
    }
}

/// The working directory when it holds `host.json`, else the executable's own directory when
/// that does (the handler ships beside `host.json`), else the working directory.
fn app_root_near(cwd: &Path) -> PathBuf {
    if cwd.join("host.json").is_file() {
        return cwd.to_path_buf();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .filter(|dir| dir.join("host.json").is_file())
        .unwrap_or_else(|| cwd.to_path_buf())
}

fn read_local_settings(
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

fn required<'a>(source: &'a Source, name: &str) -> Result<&'a str, SettingError> {
    match source.get(name) {
        Some(v) => Ok(v),
        None => fail(name, "is required but not set"),
    }
}

fn parse_bool(name: &str, text: Option<&str>, default: bool) -> Result<bool, SettingError> {
    match text.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => fail(name, format!("expected true or false, got {other:?}")),
    }
}

fn list(source: &Source, name: &str) -> Option<Vec<String>> {
    let items: Vec<String> = source
        .get(name)?
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    Some(items)
}

fn non_empty_list(source: &Source, name: &str) -> Result<Option<Vec<String>>, SettingError> {
    match list(source, name) {
        Some(items) if items.is_empty() => fail(name, "lists nothing"),
        other => Ok(other),
    }
}

fn auth_settings(source: &Source) -> Result<AuthConfig, SettingError> {
    let metadata_url = match source.get("AUTH_METADATA_URL") {
        None => None,
        Some(text) => Some(
            net::check_url(text)
                .or_else(|e| fail("AUTH_METADATA_URL", e))?
                .to_string(),
        ),
    };
    let tenant_id = match (source.get("AUTH_TENANT_ID"), &metadata_url) {
        (Some(t), _) => t.to_owned(),
        (None, Some(_)) => String::new(),
        (None, None) => return fail("AUTH_TENANT_ID", "is required but not set"),
    };
    if tenant_id.len() > 253
        || !tenant_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return fail(
            "AUTH_TENANT_ID",
            format!(
                "expected a tenant id (GUID), a domain, organizations or common, got {tenant_id:?}"
            ),
        );
    }
    let multi = matches!(
        tenant_id.to_ascii_lowercase().as_str(),
        "organizations" | "common"
    );
    if tenant_id.eq_ignore_ascii_case("consumers") {
        return fail(
            "AUTH_TENANT_ID",
            "consumers (personal accounts only) is not supported; use organizations or common",
        );
    }
    let allow_any = parse_bool(
        "AUTH_ALLOW_ANY_TENANT",
        source.get("AUTH_ALLOW_ANY_TENANT"),
        false,
    )?;
    let allowed = non_empty_list(source, "AUTH_ALLOWED_TENANTS")?;
    let tenancy = match (multi, allowed, allow_any) {
        (false, None, false) => Tenancy::Single,
        (false, _, _) => {
            return fail(
                if allow_any {
                    "AUTH_ALLOW_ANY_TENANT"
                } else {
                    "AUTH_ALLOWED_TENANTS"
                },
                "applies only when AUTH_TENANT_ID is organizations or common",
            );
        }
        (true, Some(_), true) => {
            return fail(
                "AUTH_ALLOW_ANY_TENANT",
                "cannot be combined with AUTH_ALLOWED_TENANTS",
            );
        }
        (true, None, false) => {
            return fail(
                "AUTH_ALLOWED_TENANTS",
                format!(
                    "is required when AUTH_TENANT_ID is {tenant_id} (or set AUTH_ALLOW_ANY_TENANT=true)"
                ),
            );
        }
        (true, Some(list), false) => {
            if let Some(bad) = list.iter().find(|t| !is_guid(t)) {
                return fail(
                    "AUTH_ALLOWED_TENANTS",
                    format!("{bad:?} is not a tenant id (GUID)"),
                );
            }
            Tenancy::Multi {
                allowed: Some(list.iter().map(|t| t.to_ascii_lowercase()).collect()),
            }
        }
        (true, None, true) => Tenancy::Multi { allowed: None },
    };
    let client_id = required(source, "AUTH_CLIENT_ID")?.to_owned();
    if client_id.contains(|c: char| c.is_whitespace() || c == ',' || c == '"') {
        return fail(
            "AUTH_CLIENT_ID",
            format!("is not a client id: {client_id:?}"),
        );
    }
    let instance_text = source
        .get("AUTH_INSTANCE")
        .unwrap_or("https://login.microsoftonline.com");
    let instance = net::check_url(instance_text).or_else(|e| fail("AUTH_INSTANCE", e))?;
    if instance.query().is_some() || instance.fragment().is_some() {
        return fail("AUTH_INSTANCE", "must not have a query or fragment");
    }
    let audiences = non_empty_list(source, "AUTH_AUDIENCES")?
        .unwrap_or_else(|| vec![format!("api://{client_id}"), client_id.clone()]);
    let clock_skew_seconds = match source.get("AUTH_CLOCK_SKEW_SECONDS") {
        None => 300,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n <= MAX_CLOCK_SKEW_SECONDS => n,
            _ => {
                return fail(
                    "AUTH_CLOCK_SKEW_SECONDS",
                    format!(
                        "expected whole seconds from 0 to {MAX_CLOCK_SKEW_SECONDS}, got {text:?}"
                    ),
                );
            }
        },
    };
    let key_refresh_cooldown = match source.get("AUTH_KEY_REFRESH_COOLDOWN_SECONDS") {
        None => Duration::from_secs(300),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (MIN_KEY_REFRESH_COOLDOWN_SECONDS..=86_400).contains(&n) => {
                Duration::from_secs(n)
            }
            _ => {
                return fail(
                    "AUTH_KEY_REFRESH_COOLDOWN_SECONDS",
                    format!(
                        "expected whole seconds from {MIN_KEY_REFRESH_COOLDOWN_SECONDS} to 86400, got {text:?}"
                    ),
                );
            }
        },
    };
    let versions = match list(source, "AUTH_TOKEN_VERSIONS") {
        None => (true, true),
        Some(items) => {
            let mut v = (false, false);
            for item in &items {
                match item.as_str() {
                    "1.0" | "1" => v.0 = true,
                    "2.0" | "2" => v.1 = true,
                    other => {
                        return fail(
                            "AUTH_TOKEN_VERSIONS",
                            format!("expected 1.0 and/or 2.0, got {other:?}"),
                        );
                    }
                }
            }
            if v == (false, false) {
                return fail("AUTH_TOKEN_VERSIONS", "lists nothing");
            }
            v
        }
    };
    let issuers = non_empty_list(source, "AUTH_ISSUERS")?;
    if let Some(bad) = issuers
        .iter()
        .flatten()
        .find(|i| reqwest::Url::parse(&i.replace("{tenantid}", "t")).is_err())
    {
        return fail("AUTH_ISSUERS", format!("{bad:?} is not an issuer URL"));
    }
    if tenancy == Tenancy::Single
        && !is_guid(&tenant_id)
        && issuers.iter().flatten().any(|i| i.contains("{tenantid}"))
    {
        return fail(
            "AUTH_ISSUERS",
            "contains {tenantid}, but AUTH_TENANT_ID is not a tenant id (GUID) to fill it with; a token must not choose its own tenant",
        );
    }
    let debug_errors = parse_bool("AUTH_DEBUG_ERRORS", source.get("AUTH_DEBUG_ERRORS"), false)?;
    let token_cache_size = match source.get("AUTH_TOKEN_CACHE_SIZE") {
        None => 10_000,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n <= 1_000_000 => n,
            _ => {
                return fail(
                    "AUTH_TOKEN_CACHE_SIZE",
                    format!("expected a number of tokens from 0 to 1000000, got {text:?}"),
                );
            }
        },
    };
    Ok(AuthConfig {
        token_cache_size,
        tenant_id,
        client_id,
        instance: instance.as_str().trim_end_matches('/').to_owned(),
        metadata_url,
        tenancy,
        issuers,
        versions,
        allowed_clients: non_empty_list(source, "AUTH_ALLOWED_CLIENT_APPS")?,
        audiences,
        clock_skew_seconds,
        key_refresh_cooldown,
        debug_errors,
    })
}

/// Roles and scopes are granted by the caller's own tenant: with any tenant allowed, any
/// tenant's administrator could grant themselves any role. Refused unless client applications
/// narrow who can call.
fn check_any_tenant(
    auth: &AuthConfig,
    policies: &HashMap<String, MethodRules>,
) -> Result<(), SettingError> {
    if auth.tenancy != (Tenancy::Multi { allowed: None }) || auth.allowed_clients.is_some() {
        return Ok(());
    }
    let mut guarded: Vec<&str> = policies
        .iter()
        .filter(|(_, rules)| rules.policies().any(Policy::names_roles_or_scopes))
        .map(|(name, _)| name.as_str())
        .collect();
    if guarded.is_empty() {
        return Ok(());
    }
    guarded.sort_unstable();
    fail(
        "AUTH_ALLOW_ANY_TENANT",
        format!(
            "functions {} require roles or scopes, which an administrator of any tenant can grant themselves; set AUTH_ALLOWED_CLIENT_APPS, or list tenants in AUTH_ALLOWED_TENANTS instead",
            guarded.join(", ")
        ),
    )
}

/// `AUTH_POLICY_<NAME>` for a function folder name (upper case, `-` as `_`).
pub fn policy_setting_name(function: &str) -> String {
    format!(
        "{POLICY_PREFIX}{}",
        function.to_ascii_uppercase().replace('-', "_")
    )
}

fn policies(
    source: &Source,
    layout: &Layout,
) -> Result<HashMap<String, MethodRules>, SettingError> {
    let mut out = HashMap::new();
    for f in &layout.functions {
        let setting = policy_setting_name(&f.name);
        let rules = match source.get(&setting) {
            Some(text) => MethodRules::parse(text).or_else(|e| fail(&setting, e))?,
            None => match functions::find(&f.name) {
                Some(implementation) => MethodRules::parse(implementation.rules())
                    .or_else(|e| fail(&format!("{} (built-in rules)", f.name), e))?,
                None => {
                    log::warn!(
                        "function {:?} has no policy and funcgate does not implement it: every call is denied (set {setting})",
                        f.name
                    );
                    MethodRules::every_method(Policy::Deny)
                }
            },
        };
        out.insert(f.name.clone(), rules);
    }
    for implementation in functions::FUNCTIONS {
        if layout.function(implementation.name()).is_none() {
            log::warn!(
                "function {:?} is implemented but has no folder ({}/function.json): the host will never route to it",
                implementation.name(),
                implementation.name()
            );
        }
    }
    for name in source.names() {
        if name.starts_with(POLICY_PREFIX)
            && !layout
                .functions
                .iter()
                .any(|f| &policy_setting_name(&f.name) == name)
        {
            log::warn!("{name} names no function folder; it is ignored");
        }
    }
    Ok(out)
}

fn body_limits(source: &Source) -> Result<BodyLimits, SettingError> {
    let max_bytes = match source.get("MAX_REQUEST_BODY_BYTES") {
        None => DEFAULT_MAX_REQUEST_BODY_BYTES,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n <= MAX_MAX_REQUEST_BODY_BYTES => n,
            _ => {
                return fail(
                    "MAX_REQUEST_BODY_BYTES",
                    format!("expected bytes from 0 to {MAX_MAX_REQUEST_BODY_BYTES}, got {text:?}"),
                );
            }
        },
    };
    let timeout = match source.get("REQUEST_BODY_TIMEOUT_SECONDS") {
        None => Duration::from_secs(DEFAULT_REQUEST_BODY_TIMEOUT_SECONDS),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=600).contains(&n) => Duration::from_secs(n),
            _ => {
                return fail(
                    "REQUEST_BODY_TIMEOUT_SECONDS",
                    format!("expected whole seconds from 1 to 600, got {text:?}"),
                );
            }
        },
    };
    Ok(BodyLimits { max_bytes, timeout })
}

fn vault_settings(source: &Source) -> Result<VaultSettings, SettingError> {
    let cache_ttl = match source.get("VAULT_CACHE_SECONDS") {
        None => Duration::from_secs(300),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n <= 86_400 => Duration::from_secs(n),
            _ => {
                return fail(
                    "VAULT_CACHE_SECONDS",
                    format!("expected whole seconds from 0 to 86400, got {text:?}"),
                );
            }
        },
    };
    let allowed = match non_empty_list(source, "VAULT_ALLOWED_SECRETS")? {
        None => None,
        Some(items) if items.iter().any(|i| i == "*") => {
            return fail(
                "VAULT_ALLOWED_SECRETS",
                "a bare * allows every secret; list names or prefixes (app-*), or leave the setting unset",
            );
        }
        Some(items) => Some(
            items
                .iter()
                .map(|i| NamePattern::parse(i))
                .collect::<Result<Vec<_>, _>>()
                .or_else(|e| fail("VAULT_ALLOWED_SECRETS", e))?,
        ),
    };
    let key_vault = match source.get("KEY_VAULT_URL") {
        None => None,
        Some(text) => {
            const NAME: &str = "KEY_VAULT_URL";
            let url = reqwest::Url::parse(text)
                .or_else(|_| fail(NAME, format!("{text:?} is not a URL")))?;
            // The Azure SDK sends tokens over TLS only, so even a loopback test vault is https.
            if url.scheme() != "https" || url.host_str().is_none() {
                return fail(
                    NAME,
                    format!("must be an https URL like https://NAME.vault.azure.net, got {text:?}"),
                );
            }
            if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
                return fail(NAME, format!("must be the vault's base URL, got {text:?}"));
            }
            Some(KeyVaultSettings {
                loopback: net::is_loopback_host(&url),
                url: url.as_str().trim_end_matches('/').to_owned(),
                credential: credential(source)?,
            })
        }
    };
    Ok(VaultSettings {
        key_vault,
        cache_ttl,
        allowed,
    })
}

/// The Key Vault credential: managed identity, else a client secret, else the Azure CLI.
fn credential(source: &Source) -> Result<Credential, SettingError> {
    let secret = source.get("AZURE_CLIENT_SECRET");
    if source.process_env("IDENTITY_ENDPOINT").is_some()
        && source.process_env("IDENTITY_HEADER").is_some()
    {
        // With a client secret configured, AZURE_CLIENT_ID names that principal, not an identity.
        let client_id = match secret {
            None => source.get("AZURE_CLIENT_ID").map(str::to_owned),
            Some(_) => None,
        };
        return Ok(Credential::ManagedIdentity { client_id });
    }
    if let Some(secret) = secret {
        let tenant_id = source
            .get("AZURE_TENANT_ID")
            .ok_or_else(|| SettingError {
                name: "AZURE_TENANT_ID".into(),
                problem: "is required with AZURE_CLIENT_SECRET".into(),
            })?
            .to_owned();
        let client_id = source
            .get("AZURE_CLIENT_ID")
            .ok_or_else(|| SettingError {
                name: "AZURE_CLIENT_ID".into(),
                problem: "is required with AZURE_CLIENT_SECRET".into(),
            })?
            .to_owned();
        return Ok(Credential::ClientSecret {
            tenant_id,
            client_id,
            secret: secret.to_owned(),
        });
    }
    Ok(Credential::AzureCli)
}

fn cors_origins(text: &str) -> Result<CorsOrigins, SettingError> {
    const NAME: &str = "CORS_ALLOWED_ORIGINS";
    let mut list = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if entry == "*" {
            return Ok(CorsOrigins::Any);
        }
        let url = reqwest::Url::parse(entry)
            .or_else(|_| fail(NAME, format!("{entry:?} is not an origin")))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host_str().is_none()
            || url.path() != "/"
            || url.query().is_some()
        {
            return fail(
                NAME,
                format!("{entry:?} is not an origin like https://app.example.com"),
            );
        }
        list.push(url.origin().ascii_serialization());
    }
    Ok(CorsOrigins::List(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("host.json"), r#"{"version":"2.0"}"#).unwrap();
        dir
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const BASE: [(&str, &str); 3] = [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "4000"),
        ("AUTH_TENANT_ID", "contoso.onmicrosoft.com"),
        ("AUTH_CLIENT_ID", "abc"),
    ];

    fn load_with(extra: &[(&str, &str)]) -> Result<Settings, SettingError> {
        let dir = app_dir();
        let mut e = env(&BASE);
        e.extend(env(extra));
        Settings::load(e, dir.path())
    }

    #[test]
    fn defaults() {
        let s = load_with(&[]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:4000".parse().unwrap());
        assert!(!s.standalone);
        assert_eq!(s.auth.audiences, vec!["api://abc", "abc"]);
        assert_eq!(s.auth.instance, "https://login.microsoftonline.com");
        assert_eq!(s.auth.clock_skew_seconds, 300);
        assert!(!s.auth.debug_errors);
        assert_eq!(s.layout.route_prefix, "api");
        assert_eq!(s.cors, CorsOrigins::List(vec![]));
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (name, value) in [
            ("AUTH_CLOCK_SKEW_SECONDS", "abc"),
            ("AUTH_CLOCK_SKEW_SECONDS", "99999"),
            ("AUTH_DEBUG_ERRORS", "maybe"),
            ("AUTH_INSTANCE", "http://login.microsoftonline.com"),
            ("AUTH_TENANT_ID", "consumers"),
            (
                "AUTH_ALLOWED_TENANTS",
                "11111111-2222-4333-8444-555555555555",
            ),
            ("AUTH_KEY_REFRESH_COOLDOWN_SECONDS", "0"),
            ("VAULT_ALLOWED_SECRETS", "*"),
            ("VAULT_ALLOWED_SECRETS", "demo, *"),
            ("AUTH_ISSUERS", "https://login.example/{tenantid}/v2.0"),
            ("AUTH_TOKEN_VERSIONS", "3.0"),
            (
                "AUTH_METADATA_URL",
                "http://idp.example/.well-known/openid-configuration",
            ),
            ("AUTH_ISSUERS", "not a url"),
            ("AUTH_TOKEN_CACHE_SIZE", "lots"),
            ("AUTH_TENANT_ID", "a/b"),
            ("CORS_ALLOWED_ORIGINS", "https://a.example/path"),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "x"),
            ("MAX_REQUEST_BODY_BYTES", "lots"),
            ("MAX_REQUEST_BODY_BYTES", "999999999999"),
            ("REQUEST_BODY_TIMEOUT_SECONDS", "0"),
        ] {
            let err = load_with(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{value}");
            assert!(err.to_string().starts_with(&format!("funcgate: {name}: ")));
        }
        let dir = app_dir();
        let err = Settings::load(env(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "1")]), dir.path());
        assert_eq!(err.unwrap_err().name, "AUTH_TENANT_ID");
    }

    #[test]
    fn standalone_reads_local_settings_without_overriding_env() {
        let dir = app_dir();
        std::fs::write(
            dir.path().join("local.settings.json"),
            r#"{"IsEncrypted":false,"Values":{"AUTH_TENANT_ID":"t1","AUTH_CLIENT_ID":"c1","AUTH_DEBUG_ERRORS":true},"Host":{"LocalHttpPort":7555}}"#,
        )
        .unwrap();
        let s = Settings::load(env(&[("AUTH_CLIENT_ID", "from-env")]), dir.path()).unwrap();
        assert!(s.standalone);
        assert_eq!(s.listen.port(), 7555);
        assert_eq!(s.auth.tenant_id, "t1");
        assert_eq!(s.auth.client_id, "from-env");
        assert!(s.auth.debug_errors);
    }

    #[test]
    fn cors_origins_are_normalised() {
        let s = load_with(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://App.Example.com, http://localhost:3000",
        )])
        .unwrap();
        assert_eq!(
            s.cors,
            CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "http://localhost:3000".into()
            ])
        );
    }

    #[test]
    fn tenancy_and_clouds() {
        let t1 = "11111111-2222-4333-8444-555555555555";
        let s = load_with(&[
            ("AUTH_TENANT_ID", "organizations"),
            ("AUTH_ALLOWED_TENANTS", t1),
        ])
        .unwrap();
        assert_eq!(
            s.auth.tenancy,
            Tenancy::Multi {
                allowed: Some(vec![t1.into()])
            }
        );
        assert_eq!(
            s.auth.discovery_urls(),
            vec![(
                Some(t1.to_string()),
                format!(
                    "https://login.microsoftonline.com/{t1}/v2.0/.well-known/openid-configuration"
                )
            )]
        );
        let s = load_with(&[
            ("AUTH_TENANT_ID", "common"),
            ("AUTH_ALLOW_ANY_TENANT", "true"),
        ])
        .unwrap();
        assert_eq!(s.auth.tenancy, Tenancy::Multi { allowed: None });
        assert!(s.auth.discovery_urls()[0].1.contains("/common/v2.0/"));
        let err = load_with(&[("AUTH_TENANT_ID", "organizations")]).unwrap_err();
        assert_eq!(err.name, "AUTH_ALLOWED_TENANTS");
        let err = load_with(&[
            ("AUTH_TENANT_ID", "organizations"),
            ("AUTH_ALLOWED_TENANTS", "contoso.com"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "AUTH_ALLOWED_TENANTS");

        let china = load_with(&[("AUTH_INSTANCE", "https://login.chinacloudapi.cn/")]).unwrap();
        assert_eq!(china.auth.v1_issuer(), Some(V1_ISSUER_CHINA));
        assert_eq!(china.auth.instance, "https://login.chinacloudapi.cn");
        let gov = load_with(&[("AUTH_INSTANCE", "https://login.microsoftonline.us")]).unwrap();
        assert_eq!(gov.auth.v1_issuer(), Some(V1_ISSUER_PUBLIC));

        let b2c = load_with(&[
            ("AUTH_METADATA_URL", "https://x.b2clogin.com/x.onmicrosoft.com/B2C_1_signin/v2.0/.well-known/openid-configuration"),
            ("AUTH_TOKEN_VERSIONS", "1.0"),
        ])
        .unwrap();
        assert_eq!(b2c.auth.v1_issuer(), None);
        assert_eq!(b2c.auth.versions, (true, false));
        assert!(b2c.auth.discovery_urls()[0].1.contains("B2C_1_signin"));
        let s = load_with(&[("AUTH_KEY_REFRESH_COOLDOWN_SECONDS", "30")]).unwrap();
        assert_eq!(s.auth.key_refresh_cooldown, Duration::from_secs(30));
    }

    #[test]
    fn key_vault_and_credentials() {
        let s = load_with(&[]).unwrap();
        assert!(s.vault.key_vault.is_none());
        assert_eq!(s.vault.cache_ttl, Duration::from_secs(300));
        let kv = |extra: &[(&str, &str)]| {
            let mut e = vec![("KEY_VAULT_URL", "https://my-vault.vault.azure.net/")];
            e.extend_from_slice(extra);
            load_with(&e).map(|s| s.vault.key_vault.unwrap())
        };
        let plain = kv(&[]).unwrap();
        assert_eq!(plain.url, "https://my-vault.vault.azure.net");
        assert!(!plain.loopback);
        assert_eq!(plain.credential, Credential::AzureCli);
        let mi = kv(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:8081/msi/token"),
            ("IDENTITY_HEADER", "h"),
            ("AZURE_CLIENT_ID", "uami"),
        ])
        .unwrap();
        assert_eq!(
            mi.credential,
            Credential::ManagedIdentity {
                client_id: Some("uami".into())
            }
        );
        let sp = kv(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
        ])
        .unwrap();
        assert!(matches!(sp.credential, Credential::ClientSecret { .. }));
        assert_eq!(
            kv(&[("AZURE_CLIENT_SECRET", "s")]).unwrap_err().name,
            "AZURE_TENANT_ID"
        );
        assert!(
            kv(&[("KEY_VAULT_URL", "https://127.0.0.1:8443")])
                .unwrap()
                .loopback
        );
        for bad in [
            "http://my-vault.vault.azure.net",
            "https://my-vault.vault.azure.net/secrets/x",
            "vault",
        ] {
            assert_eq!(
                kv(&[("KEY_VAULT_URL", bad)]).unwrap_err().name,
                "KEY_VAULT_URL",
                "{bad}"
            );
        }
        assert_eq!(
            load_with(&[("VAULT_CACHE_SECONDS", "-1")])
                .unwrap_err()
                .name,
            "VAULT_CACHE_SECONDS"
        );
        assert_eq!(
            load_with(&[("VAULT_ALLOWED_SECRETS", "a*b")])
                .unwrap_err()
                .name,
            "VAULT_ALLOWED_SECRETS"
        );
    }
}
