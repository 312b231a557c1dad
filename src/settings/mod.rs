//! Settings, read once at start-up into typed values.
//!
//! Under the Functions host every setting is an environment variable (app settings in Azure,
//! `local.settings.json` `Values` under `func start`). Run alone (no
//! `FUNCTIONS_CUSTOMHANDLER_PORT`), funcgate reads `local.settings.json` itself for any setting
//! the environment lacks and listens on its `Host.LocalHttpPort` (7071), as `func start` would.

//!
//! One file per area: `source` (where values come from), `values` (one typed reader per kind
//! of value), `auth`, `secrets`, `functions` (rules per function), `http` (CORS, bodies).

mod auth;
pub(crate) mod downstream;
mod functions;
mod http;
mod secrets;
mod source;
mod telemetry;
mod values;

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::auth::config::AuthConfig;
use crate::auth::policy::MethodRules;
use crate::cors::CorsOrigins;
use crate::layout::Layout;
use crate::net;
use crate::telemetry::TelemetryConfig;

pub(crate) use auth::check_any_tenant;
pub(crate) use functions::{
    ToolRules, policy_setting_name, tool_policy_setting_name, warn_untaken,
};
pub(crate) use http::BodyLimits;
pub(crate) use secrets::SecretSettings;
use source::{Source, app_root_near, read_local_settings};

/// Port `func start` uses, and so funcgate when run alone.
pub(crate) const DEFAULT_LOCAL_PORT: u16 = 7071;
/// Default `LOCAL_SECRETS_FILE`, relative to the app root.
pub(crate) const DEFAULT_LOCAL_SECRETS_FILE: &str = "local.secrets.json";

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

fn fail<T>(name: &str, problem: impl fmt::Display) -> Result<T, SettingError> {
    Err(SettingError {
        name: name.to_owned(),
        problem: problem.to_string(),
    })
}

/// Everything funcgate needs, loaded once.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// Where to listen.
    pub(crate) listen: SocketAddr,
    /// True when run without the Functions host.
    pub(crate) standalone: bool,
    /// `host.json` and the function folders.
    pub(crate) layout: Layout,
    /// `AUTH_POLICY_<NAME>` rules per method, by folder name (`state` joins them with the
    /// registered functions' own rules).
    pub(crate) policy_overrides: HashMap<String, MethodRules>,
    /// The other `AUTH_POLICY_<NAME>` settings' texts, by setting name: a function placed
    /// without a folder takes its own (`policies` parses it), the rest are reported.
    pub(crate) unplaced_policies: HashMap<String, String>,
    /// `AUTH_POLICY_<SERVER>__<TOOL>` rules (an MCP server matches its tools' names when it
    /// is bound at start-up).
    pub(crate) tool_rules: ToolRules,
    /// Request body limits.
    pub(crate) body: BodyLimits,
    /// Token validation.
    pub(crate) auth: AuthConfig,
    /// `CORS_ALLOWED_ORIGINS`.
    pub(crate) cors: CorsOrigins,
    /// `LOCAL_SECRETS_FILE`, resolved against the app root.
    pub(crate) local_secrets_file: PathBuf,
    /// Key Vault and the secret cache.
    pub(crate) secrets: SecretSettings,
    /// Application Insights, when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set.
    pub(crate) telemetry: Option<TelemetryConfig>,
    /// The proxy variables set in the environment (names only), for the start-up log.
    pub(crate) proxy_variables: Vec<&'static str>,
    /// `PUBLIC_BASE_URL`, without a trailing slash: enables Protected Resource Metadata.
    pub(crate) public_base_url: Option<String>,
    /// The client credential and the downstream APIs' settings.
    pub(crate) downstream: downstream::DownstreamSettings,
    /// `MCP_ALLOWED_ORIGINS` (or its default).
    pub(crate) mcp_origins: crate::net::OriginList,
    /// `WEBSITE_AUTH_ENABLED` (set by the platform): App Service Authentication runs in front,
    /// so its `X-MS-CLIENT-PRINCIPAL*` headers come from the platform.
    pub(crate) easy_auth: bool,
}

impl Settings {
    /// Loads from the process environment.
    pub(crate) fn from_env() -> Result<Settings, SettingError> {
        let env: HashMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Settings::load(env, &cwd)
    }

    /// Loads from the given environment; `cwd` is the app root unless the host names one.
    pub(crate) fn load(env: HashMap<String, String>, cwd: &Path) -> Result<Settings, SettingError> {
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
        // Under `func start`, local.settings.json's Values are app settings too.
        let app_settings: HashMap<String, String> = source
            .local
            .iter()
            .chain(&source.env)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let layout = Layout::load(&app_root, &app_settings).map_err(|e| SettingError {
            name: e.file,
            problem: e.problem,
        })?;
        let auth = auth::read(&source)?;
        let (policy_overrides, unplaced_policies) = functions::overrides(&source, &layout)?;
        let tool_rules = functions::tool_rules(&source, &layout);
        let cors = http::cors_origins(&source)?;
        let local_secrets_file = app_root.join(
            source
                .get("LOCAL_SECRETS_FILE")
                .unwrap_or(DEFAULT_LOCAL_SECRETS_FILE),
        );
        let secrets_settings = secrets::read(&source)?;
        let body = http::body_limits(&source)?;
        let telemetry = telemetry::read(&source)?;
        let public_base_url = http::public_base_url(&source)?;
        let easy_auth = values::flag(&source, "WEBSITE_AUTH_ENABLED", false)?;
        let mcp_origins = http::mcp_origins(&source, public_base_url.as_deref())?;
        let downstream = downstream::read(&source, &app_root)?;
        let proxy_variables = net::PROXY_VARIABLES
            .into_iter()
            .filter(|name| source.process_env(name).is_some())
            .collect();
        Ok(Settings {
            public_base_url,
            mcp_origins,
            downstream,
            easy_auth,
            proxy_variables,
            telemetry,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            standalone,
            layout,
            policy_overrides,
            unplaced_policies,
            tool_rules,
            body,
            auth,
            cors,
            local_secrets_file,
            secrets: secrets_settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::{Tenancy, V1_ISSUER_CHINA, V1_ISSUER_PUBLIC};
    use crate::secrets::keyvault::Credential;
    use std::time::Duration;

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
    fn public_base_url_and_authorization_servers() {
        let s = load_with(&[("PUBLIC_BASE_URL", "https://app.example/")]).unwrap();
        assert_eq!(s.public_base_url.as_deref(), Some("https://app.example"));
        for bad in [
            "http://app.example",
            "https://app.example/base",
            "https://a\",error=\"x.example/",
            "https://app.example/?q=1",
            "https://user@app.example",
        ] {
            let err = load_with(&[("PUBLIC_BASE_URL", bad)]).unwrap_err();
            assert_eq!(err.name, "PUBLIC_BASE_URL", "{bad}");
        }
        let multi = load_with(&[
            ("AUTH_TENANT_ID", "organizations"),
            (
                "AUTH_ALLOWED_TENANTS",
                "11111111-2222-4333-8444-555555555555,21111111-2222-4333-8444-555555555555",
            ),
        ])
        .unwrap();
        assert_eq!(
            multi.auth.authorization_servers(),
            ["https://login.microsoftonline.com/organizations/v2.0"],
            "never the allow-list"
        );
        let custom = load_with(&[(
            "AUTH_METADATA_URL",
            "https://id.example/t/v2.0/.well-known/openid-configuration?p=internal-policy",
        )])
        .unwrap();
        assert_eq!(
            custom.auth.authorization_servers(),
            ["https://id.example/t/v2.0"]
        );
    }

    #[test]
    fn defaults() {
        let s = load_with(&[]).unwrap();
        assert_eq!(s.listen, "127.0.0.1:4000".parse().unwrap());
        assert!(!s.standalone);
        assert_eq!(s.auth.audiences, vec!["api://abc", "abc"]);
        assert_eq!(s.auth.full_scope("Api.Read"), "api://abc/Api.Read");
        assert_eq!(s.auth.instance, "https://login.microsoftonline.com");
        assert_eq!(s.auth.clock_skew_seconds, 300);
        assert!(!s.auth.debug_errors);
        assert_eq!(s.layout.route_prefix, "api");
        assert_eq!(s.cors, CorsOrigins::List(vec![]));
    }

    #[test]
    fn full_scopes_follow_the_app_id_uri_among_the_audiences() {
        let full = |audiences: &str| {
            load_with(&[("AUTH_AUDIENCES", audiences)])
                .unwrap()
                .auth
                .full_scope("Orders.Read")
        };
        // An App ID URI on a verified domain, beside the client id: never `api://https://`.
        assert_eq!(
            full("https://api.contoso.com/,abc"),
            "https://api.contoso.com/Orders.Read"
        );
        // The `api://` one wins where both are given; a bare client id becomes one.
        assert_eq!(
            full("https://api.contoso.com,api://abc"),
            "api://abc/Orders.Read"
        );
        assert_eq!(full("abc"), "api://abc/Orders.Read");
        // A full value is kept as it is.
        assert_eq!(
            load_with(&[])
                .unwrap()
                .auth
                .full_scope("https://x.example/S"),
            "https://x.example/S"
        );
        // AUTH_SCOPE_PREFIX names the URI, or `none` for a provider whose scopes are bare names.
        let with_prefix = |prefix: &str| {
            load_with(&[("AUTH_SCOPE_PREFIX", prefix)]).map(|s| s.auth.full_scope("Orders.Read"))
        };
        assert_eq!(
            with_prefix("https://orders.contoso.com/").unwrap(),
            "https://orders.contoso.com/Orders.Read"
        );
        assert_eq!(
            with_prefix("api://orders").unwrap(),
            "api://orders/Orders.Read"
        );
        assert_eq!(with_prefix("None").unwrap(), "Orders.Read");
        for bad in [
            "orders",
            "://x",
            "api://",
            "https://a b",
            "https://x?y=1",
            "https://x#f",
            "https://x\"y",
            "https://x\\y",
            "https://x\r\ny",
            "api://a,api://b",
            "https://é.example",
            "https://x\u{200b}y",
            "1x://y",
        ] {
            let err = with_prefix(bad).unwrap_err();
            assert_eq!(err.name, "AUTH_SCOPE_PREFIX", "{bad}");
        }
        // Taken from AUTH_AUDIENCES, the URI is held to the same rules.
        let err = load_with(&[("AUTH_AUDIENCES", "api://a\"b")]).unwrap_err();
        assert_eq!(err.name, "AUTH_SCOPE_PREFIX");
        assert!(err.to_string().contains("AUTH_AUDIENCES"), "{err}");
        assert!(
            load_with(&[
                ("AUTH_AUDIENCES", "api://a\"b"),
                ("AUTH_SCOPE_PREFIX", "none")
            ])
            .is_ok()
        );
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
        // The environment's AUTH_CLIENT_ID won: the audiences derive from it.
        assert_eq!(s.auth.audiences, vec!["api://from-env", "from-env"]);
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
        assert!(s.secrets.key_vault.is_none());
        assert_eq!(s.secrets.cache_ttl, Duration::from_secs(300));
        let kv = |extra: &[(&str, &str)]| {
            let mut e = vec![("KEY_VAULT_URL", "https://my-vault.vault.azure.net/")];
            e.extend_from_slice(extra);
            load_with(&e).map(|s| s.secrets.key_vault.unwrap())
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
