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

use serde_json::Value;

use crate::auth::policy::Policy;
use crate::functions::FunctionKind;
use crate::host::layout::Layout;
use crate::net;

/// Port `func start` uses, and so funcgate when run alone.
pub const DEFAULT_LOCAL_PORT: u16 = 7071;
/// Largest clock skew accepted.
const MAX_CLOCK_SKEW_SECONDS: u64 = 3600;
/// Prefix of the per-function policy settings (`AUTH_POLICY_VAULT`).
pub const POLICY_PREFIX: &str = "AUTH_POLICY_";

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

/// Token validation settings.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// `AUTH_TENANT_ID`: tenant GUID or verified domain.
    pub tenant_id: String,
    /// `AUTH_CLIENT_ID`: the API's application (client) id.
    pub client_id: String,
    /// `AUTH_INSTANCE` without a trailing slash.
    pub instance: String,
    /// `AUTH_AUDIENCES`.
    pub audiences: Vec<String>,
    /// `AUTH_CLOCK_SKEW_SECONDS`.
    pub clock_skew_seconds: u64,
    /// `AUTH_DEBUG_ERRORS`.
    pub debug_errors: bool,
}

impl AuthSettings {
    /// The OpenID discovery document of the tenant.
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            self.instance, self.tenant_id
        )
    }
}

/// Which browser origins may call (CORS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (`*`).
    Any,
    /// Exactly these origins, lower-case `scheme://host[:port]`.
    List(Vec<String>),
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
    /// Each function's policy, by lower-case function name.
    pub policies: HashMap<String, Policy>,
    /// Token validation.
    pub auth: AuthSettings,
    /// `CORS_ALLOWED_ORIGINS`.
    pub cors: CorsOrigins,
    /// `LOCAL_SECRETS_FILE`, resolved against the app root.
    pub local_secrets_file: PathBuf,
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
            .unwrap_or_else(|| cwd.to_path_buf());
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
        let cors = match source.get("CORS_ALLOWED_ORIGINS") {
            None => CorsOrigins::List(Vec::new()),
            Some(text) => cors_origins(text)?,
        };
        let local_secrets_file = app_root.join(
            source
                .get("LOCAL_SECRETS_FILE")
                .unwrap_or("local.secrets.json"),
        );
        Ok(Settings {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            standalone,
            app_root,
            layout,
            policies,
            auth,
            cors,
            local_secrets_file,
        })
    }

    /// The policy of a function; folders nobody declared a policy for are denied.
    pub fn policy(&self, function: &str) -> &Policy {
        self.policies
            .get(&function.to_ascii_lowercase())
            .unwrap_or(&Policy::Deny)
    }
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

fn auth_settings(source: &Source) -> Result<AuthSettings, SettingError> {
    let tenant_id = required(source, "AUTH_TENANT_ID")?.to_owned();
    if tenant_id.len() > 253
        || !tenant_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return fail(
            "AUTH_TENANT_ID",
            format!("expected a tenant id (GUID) or domain, got {tenant_id:?}"),
        );
    }
    if ["common", "organizations", "consumers"].contains(&tenant_id.to_ascii_lowercase().as_str()) {
        return fail(
            "AUTH_TENANT_ID",
            format!(
                "{tenant_id:?} is multi-tenant, which this version does not support; use your tenant id"
            ),
        );
    }
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
    let audiences: Vec<String> = match source.get("AUTH_AUDIENCES") {
        None => vec![format!("api://{client_id}"), client_id.clone()],
        Some(text) => text
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    if audiences.is_empty() {
        return fail("AUTH_AUDIENCES", "lists no audience");
    }
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
    let debug_errors = parse_bool("AUTH_DEBUG_ERRORS", source.get("AUTH_DEBUG_ERRORS"), false)?;
    Ok(AuthSettings {
        tenant_id,
        client_id,
        instance: instance.as_str().trim_end_matches('/').to_owned(),
        audiences,
        clock_skew_seconds,
        debug_errors,
    })
}

/// `AUTH_POLICY_<NAME>` for a function folder name (upper case, `-` as `_`).
pub fn policy_setting_name(function: &str) -> String {
    format!(
        "{POLICY_PREFIX}{}",
        function.to_ascii_uppercase().replace('-', "_")
    )
}

fn policies(source: &Source, layout: &Layout) -> Result<HashMap<String, Policy>, SettingError> {
    let mut out = HashMap::new();
    for f in &layout.functions {
        let setting = policy_setting_name(&f.name);
        let policy = match source.get(&setting) {
            Some(text) => Policy::parse(text).or_else(|e| fail(&setting, e))?,
            None => match FunctionKind::for_name(&f.name) {
                Some(kind) => kind.default_policy(),
                None => {
                    log::warn!(
                        "function {:?} has no policy and funcgate does not implement it: every call is denied (set {setting})",
                        f.name
                    );
                    Policy::Deny
                }
            },
        };
        out.insert(f.name.to_ascii_lowercase(), policy);
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
            ("AUTH_TENANT_ID", "organizations"),
            ("AUTH_TENANT_ID", "a/b"),
            ("CORS_ALLOWED_ORIGINS", "https://a.example/path"),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "x"),
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
}
