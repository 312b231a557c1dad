//! Everything requests share, built once at start-up and handed to the server.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::auth::Guard;
use crate::auth::policy::{MethodRules, Policy};
use crate::auth::token::Tenancy;
use crate::downstream::{self as ds, Downstream, Downstreams};
use crate::errors::{ApiError, Challenge};
use crate::functions::Registry;
use crate::functions::protected_resource::{self, PROTECTED_RESOURCE_PATH};
use crate::net;
use crate::reply::Challenges;
use crate::secrets::cache::SecretCache;
use crate::secrets::keyvault::KeyVaultStore;
use crate::secrets::local::LocalStore;
use crate::services::Services;
use crate::settings::downstream::CredentialSetting;
use crate::settings::{SettingError, Settings};
use crate::telemetry::Telemetry;

/// Everything requests share, built once at start-up.
pub(crate) struct AppState {
    /// The settings.
    pub(crate) settings: Settings,
    /// The registered functions.
    pub(crate) functions: Registry,
    /// Each function folder's rules per method: the `AUTH_POLICY_<NAME>` setting, else the
    /// registered function's own rules, else `deny` (joined here, so settings never know the
    /// registry).
    pub(crate) policies: HashMap<String, MethodRules>,
    /// What functions may use: the guard, secrets, telemetry.
    pub(crate) services: Arc<Services>,
    /// The parameters every challenge names (`resource_metadata`); `authorization_uri` is
    /// left empty here and filled per claims challenge by [`AppState::challenges_for`].
    pub(crate) challenges: Challenges,
    /// An MCP server's own challenge parameters (its metadata document, the `scope`
    /// connecting needs), by lower-case function name.
    pub(crate) endpoint_challenges: HashMap<String, Challenges>,
    /// Bytes of invocation payloads that may be buffered at once, one permit per byte; see
    /// [`MAX_BUFFERED_INVOCATIONS`].
    pub(crate) invocation_buffers: tokio::sync::Semaphore,
}

/// Invocation payloads' worth of bytes buffered at once. A payload may be 4 ×
/// `MAX_REQUEST_BODY_BYTES` + 256 KiB (JSON escaping), so at the default 1 MiB the buffers
/// never exceed 8 × 4.25 MiB = 34 MiB. A payload takes permits for the bytes it has received
/// (a slow sender holds only what arrived) and gives them back once it has become a call; one
/// that would have to wait for permits while holding some gives way with `503 ServiceBusy`.
pub(crate) const MAX_BUFFERED_INVOCATIONS: usize = 8;

impl AppState {
    /// Builds the shared state; fails on settings that only show when used (the secrets file).
    pub(crate) fn new(
        mut settings: Settings,
        functions: Registry,
        app: Option<(String, String)>,
        downstreams: Vec<(String, Downstream)>,
    ) -> Result<AppState, SettingError> {
        let placed = place(&mut settings, &functions)?;
        let policies = crate::policies::join(&settings, &functions)?;
        let mcp = describe(placed, &settings, &functions, &policies);
        let http = net::Http::new();
        let telemetry = match &settings.telemetry {
            None => Telemetry::off(),
            Some(config) => Telemetry::start(config).map_err(|e| SettingError {
                name: "APPLICATIONINSIGHTS_CONNECTION_STRING".into(),
                problem: e.to_string(),
            })?,
        };
        if settings.auth.metadata_url.is_none() && settings.auth.scope_prefix.is_none() {
            // Not wrong enough to stop start-up (rules still judge `scp`), but every scope the
            // metadata and challenges name is one a client cannot get from Entra.
            log::warn!(
                "AUTH_SCOPE_PREFIX=none with Entra: clients would ask Entra for bare scope names, which it reads as Microsoft Graph's; leave it unset (scopes under the App ID URI) unless AUTH_METADATA_URL names another provider"
            );
        }
        let guard = Guard::new(&settings.auth, &http, &telemetry);
        let downstream = build_downstream(&settings, downstreams, &http, &telemetry)?;
        let stores = guard.key_stores();
        telemetry.observe_key_age(move || {
            stores
                .iter()
                .filter_map(|store| store.status().age_seconds)
                .max()
        });
        // Only an app that serves `vault` opens a secret store (and says so in its log).
        let secrets = match functions.find(crate::functions::vault::FOLDER) {
            Some(_) => Some(build_secrets(&settings, &telemetry)?),
            None => None,
        };
        // The root document describes the app (its base URL) with every scope it accepts, the
        // MCP servers' too; each server has its own document at its path-inserted location,
        // which its challenges name.
        let mcp_scopes: Vec<String> = functions
            .iter()
            .filter_map(|f| f.mcp.as_ref())
            .flat_map(|m| m.tool_scopes.iter().cloned())
            .collect();
        let protected_resource = protected_resource::document(&settings, &policies, &mcp_scopes);
        let resource_metadata_base = settings.public_base_url.as_ref().map(|base| {
            let path = settings
                .layout
                .public_path(protected_resource::FOLDER)
                .unwrap_or_else(|| PROTECTED_RESOURCE_PATH.to_owned());
            format!("{base}{path}")
        });
        Ok(AppState {
            services: Arc::new(Services {
                guard,
                secrets,
                telemetry,
                started: Instant::now(),
                protected_resource,
                // Run alone there is no platform in front: nothing it could have set.
                easy_auth: settings.easy_auth && !settings.standalone,
                app,
                downstream,
                mcp_origins: settings.mcp_origins.clone(),
                public_base_url: settings.public_base_url.clone(),
                scope_prefix: settings.auth.scope_prefix.clone(),
                resource_documents: mcp
                    .iter()
                    .filter_map(|e| Some((e.path.clone(), e.document.clone()?)))
                    .collect(),
            }),
            endpoint_challenges: mcp
                .iter()
                .map(|e| {
                    let challenges = Challenges {
                        // The path-inserted location of the server's own document.
                        resource_metadata: resource_metadata_base
                            .as_ref()
                            .map(|base| format!("{base}/{}", e.path)),
                        authorization_uri: None,
                        scope: (!e.scopes.is_empty()).then(|| e.scopes.join(" ")),
                        metadata_on_403: true,
                    };
                    (e.name.to_ascii_lowercase(), challenges)
                })
                .collect(),
            challenges: Challenges {
                // Where the document is served through the host: the folder's route under the
                // route prefix (RFC 9728's root location only when the prefix is empty, as
                // the host routes nothing outside it to the handler).
                resource_metadata: resource_metadata_base,
                // Known only once a discovery document arrives, after start-up.
                authorization_uri: None,
                scope: None,
                metadata_on_403: false,
            },
            functions,
            policies,
            invocation_buffers: tokio::sync::Semaphore::new(
                MAX_BUFFERED_INVOCATIONS
                    .saturating_mul(settings.body.max_invocation_bytes())
                    .min(tokio::sync::Semaphore::MAX_PERMITS),
            ),
            settings,
        })
    }

    /// The challenge parameters for `err`: a claims challenge also names the authorize
    /// endpoint the guard knows now (the discovery document's, which may change with a
    /// refresh), so it is looked up per challenge rather than fixed at start-up.
    pub(crate) fn challenges_for(&self, err: &ApiError, function: &str) -> Cow<'_, Challenges> {
        let base = if self.endpoint_challenges.is_empty() {
            &self.challenges
        } else {
            self.endpoint_challenges
                .get(&function.to_ascii_lowercase())
                .unwrap_or(&self.challenges)
        };
        if err.kind.spec().3 != Challenge::InsufficientClaims {
            return Cow::Borrowed(base);
        }
        Cow::Owned(Challenges {
            authorization_uri: self.services.guard.authorization_uri(),
            ..base.clone()
        })
    }

    /// `err`, by which `policy` refused a call to `function`: for an MCP server's own rule,
    /// in the MCP authorization spec's terms ([`Services::as_mcp_refusal`], from the rule for
    /// the call's method: a server in a folder may have one per method); other functions'
    /// refusals are left as the catalogue documents them.
    ///
    /// [`Services::as_mcp_refusal`]: crate::services::Services::as_mcp_refusal
    pub(crate) fn as_endpoint_refusal(
        &self,
        err: ApiError,
        function: &str,
        policy: &Policy,
    ) -> ApiError {
        let is_endpoint = self
            .endpoint_challenges
            .keys()
            .any(|name| name.eq_ignore_ascii_case(function));
        if !is_endpoint {
            return err;
        }
        self.services.as_mcp_refusal(err, policy.scopes())
    }

    /// The policy for `method` on a function folder; folders and methods no rule covers are
    /// denied.
    pub(crate) fn policy(&self, function: &str, method: &str) -> &Policy {
        match self.policies.get(function) {
            Some(rules) => rules.for_method(method),
            None => &Policy::Deny,
        }
    }
}

/// An MCP server as start-up placed it, before its rule is known.
pub(crate) struct Placed {
    /// The function name.
    name: String,
    /// Its resource's path under `PUBLIC_BASE_URL`, without slashes (`mcp`, `api/mcp`).
    path: String,
    /// Its resource URI, with `PUBLIC_BASE_URL`.
    resource: Option<String>,
}

/// An MCP server as start-up placed it, with what it asks of tokens.
pub(crate) struct McpEndpoint {
    /// The function name.
    name: String,
    /// Its resource's path under `PUBLIC_BASE_URL`, without slashes (`mcp`, `api/mcp`).
    path: String,
    /// Full scope values connecting asks for.
    scopes: Vec<String>,
    /// Its metadata document, with `PUBLIC_BASE_URL`.
    document: Option<Vec<u8>>,
}

/// Places the registered functions in the layout as start-up does, and `--funcgate-check`
/// with it: those without a folder where host.json passes folder-less routes on, then each
/// MCP server (see [`mcp_endpoints`]); a function or server that cannot be placed stops here.
pub(crate) fn place(
    settings: &mut Settings,
    functions: &Registry,
) -> Result<Vec<Placed>, SettingError> {
    for f in functions.iter() {
        let placed = settings
            .layout
            .add_folderless(&f.name, &f.route, f.methods.clone())
            .map_err(|e| SettingError {
                name: e.file,
                problem: e.problem,
            })?;
        if placed {
            log::info!(
                "function {} has no folder: served at its route {:?} (customHandler.http.routes)",
                f.name,
                f.route
            );
        }
    }
    mcp_endpoints(settings, functions)
}

/// Places each MCP server: it must be reachable as the request itself (a folder-less route
/// or a folder of its own, never the invocation protocol, which carries no stream and would
/// make the host the protocol's parser). Its resource URI (`PUBLIC_BASE_URL` + path) must be
/// one Entra can issue tokens for and MCP clients accept (https, no fragment, no trailing
/// slash); tokens issued for it are accepted beside the client id forms.
fn mcp_endpoints(
    settings: &mut Settings,
    functions: &Registry,
) -> Result<Vec<Placed>, SettingError> {
    let mut out = Vec::new();
    for f in functions.iter() {
        let Some(mount) = &f.mcp else {
            continue;
        };
        let name = format!("MCP server {:?}", f.name);
        let fail = |problem: String| SettingError {
            name: name.clone(),
            problem,
        };
        let invoked = settings.layout.mode == crate::layout::HostMode::Invocation
            || settings.layout.function(&f.name).is_some_and(|d| d.invoked);
        if invoked {
            return Err(fail(
                "MCP needs the request itself, which the invocation protocol does not carry: set \"configurationProfile\": \"mcp-custom-handler\" or customHandler.enableProxyingHttpRequest in host.json".to_owned(),
            ));
        }
        if settings.layout.function(&f.name).is_none() {
            return Err(fail(format!(
                "host.json passes nothing at /{} to the handler: set \"configurationProfile\": \"mcp-custom-handler\" (or customHandler.http.routes), or add a {}/function.json",
                mount.path, f.name
            )));
        }
        let path = settings
            .layout
            .public_path(&f.name)
            .unwrap_or_else(|| format!("/{}", mount.path));
        let path = path.trim_matches('/').to_owned();
        let resource = match &settings.public_base_url {
            None => None,
            Some(base) => {
                let resource = format!("{base}/{path}");
                check_resource(&resource).map_err(|problem| SettingError {
                    name: "PUBLIC_BASE_URL".into(),
                    problem: format!("{name}'s resource {resource:?} {problem}"),
                })?;
                if !settings.auth.audiences.contains(&resource) {
                    settings.auth.audiences.push(resource.clone());
                }
                Some(resource)
            }
        };
        out.push(Placed {
            name: f.name.clone(),
            path,
            resource,
        });
    }
    Ok(out)
}

/// What each placed MCP server asks of tokens: the scopes of its rule as it is in force (its
/// `AUTH_POLICY_<NAME>` setting's, else the code's), then its tools', as full values; and its
/// metadata document listing them.
fn describe(
    placed: Vec<Placed>,
    settings: &Settings,
    functions: &Registry,
    policies: &HashMap<String, MethodRules>,
) -> Vec<McpEndpoint> {
    placed
        .into_iter()
        .map(|p| {
            // The rules are kept under the folder's name as written, which may differ in case
            // from the server's (`Orders/` for `Mcp::new("orders")`).
            let rules = settings
                .layout
                .function(&p.name)
                .and_then(|folder| policies.get(&folder.name));
            let tools = functions.find(&p.name).and_then(|f| f.mcp.as_ref());
            let short: Vec<&str> = rules
                .map(|rules| rules.for_method("POST").scopes())
                .unwrap_or_default()
                .into_iter()
                .chain(
                    tools
                        .iter()
                        .flat_map(|m| m.tool_scopes.iter().map(String::as_str)),
                )
                .collect();
            let scopes = crate::services::full_scopes(short.iter().copied(), |scope| {
                settings.auth.full_scope(scope)
            });
            let document = p.resource.as_deref().and_then(|resource| {
                protected_resource::resource_document(settings, resource, &short)
            });
            McpEndpoint {
                name: p.name,
                path: p.path,
                scopes,
                document,
            }
        })
        .collect()
}

/// Why `resource` cannot identify an MCP server: not https (plain http only on loopback,
/// for local runs), a fragment, or a trailing slash (Entra then refuses the `resource`
/// parameter with AADSTS9010010, and clients compare it as written).
fn check_resource(resource: &str) -> Result<(), String> {
    let url = url::Url::parse(resource).map_err(|e| format!("is not a URL: {e}"))?;
    let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err("must be https (plain http only on loopback)".into());
    }
    if resource.contains('#') {
        return Err("must not have a fragment".into());
    }
    if resource.ends_with('/') {
        return Err("must not end with a slash".into());
    }
    if url.query().is_some() {
        return Err("must not have a query".into());
    }
    Ok(())
}

/// The declared downstream APIs with their settings, and the token exchange. A setting for an
/// API the code does not declare is a warning (a typo would otherwise be silent); the
/// credential is only needed once an API is declared.
fn build_downstream(
    settings: &Settings,
    declared: Vec<(String, Downstream)>,
    http: &net::Http,
    telemetry: &Telemetry,
) -> Result<Downstreams, SettingError> {
    let cfg = &settings.downstream;
    let names: Vec<String> = declared.iter().map(|(n, _)| ds::setting_name(n)).collect();
    for name in cfg.urls.keys().chain(cfg.scopes.keys()) {
        if !names.contains(name) {
            log::warn!(
                "DOWNSTREAM_{name}_*: the app declares no downstream API {name} (App::downstream)"
            );
        }
    }
    if declared.is_empty() {
        return Ok(Downstreams::none(telemetry));
    }
    let mut apis = Vec::with_capacity(declared.len());
    for (name, api) in declared {
        let key = ds::setting_name(&name);
        // Parsed once at start-up (the setting's when it was read), for every call's path to
        // be joined and checked against.
        let url = match (cfg.urls.get(&key), &api.url) {
            (Some(url), _) => Some(url.clone()),
            (None, Some(url)) => Some(net::check_base_url(url).map_err(|e| SettingError {
                name: format!("downstream API {name:?}"),
                problem: e.to_string(),
            })?),
            (None, None) => None,
        };
        let kind = match (api.kind, cfg.scopes.get(&key)) {
            (ds::Kind::OnBehalfOf(_), Some(scopes)) => ds::Kind::OnBehalfOf(scopes.clone()),
            (kind @ ds::Kind::AsApp(_), Some(_)) => {
                log::warn!(
                    "DOWNSTREAM_{key}_SCOPES: {name} is called as the app, with the scope in its code; the setting is not used"
                );
                kind
            }
            (kind, None) => kind,
        };
        log::info!(
            "downstream API {name}: {} at {}",
            match &kind {
                ds::Kind::OnBehalfOf(_) => "on behalf of the caller",
                ds::Kind::AsApp(_) => "as the app (managed identity)",
            },
            url.as_ref().map_or("(no URL: tokens only)", |u| u.as_str())
        );
        apis.push(ds::Api { name, url, kind });
    }
    let credential = match &cfg.credential {
        None => {
            if apis
                .iter()
                .any(|a| matches!(a.kind, ds::Kind::OnBehalfOf(_)))
            {
                log::warn!(
                    "AUTH_CLIENT_CREDENTIAL is not set: calls on behalf of the caller answer 500 DownstreamNotConfigured (set managed_identity in Azure)"
                );
            }
            None
        }
        Some(CredentialSetting::ManagedIdentity) => Some(ds::ClientCredential::ManagedIdentity),
        Some(CredentialSetting::Secret(secret)) => {
            log::warn!(
                "AUTH_CLIENT_CREDENTIAL=secret: a client secret is for local development only; use managed_identity (a federated credential) in Azure"
            );
            Some(ds::ClientCredential::Secret(secret.clone()))
        }
        Some(CredentialSetting::Certificate {
            key_pem,
            thumbprint,
        }) => {
            let key =
                jsonwebtoken::EncodingKey::from_rsa_pem(key_pem).map_err(|_| SettingError {
                    name: "AUTH_CLIENT_CERTIFICATE_PATH".into(),
                    problem: "its private key is not an RSA key".into(),
                })?;
            Some(ds::ClientCredential::Certificate {
                key,
                thumbprint: thumbprint.clone(),
            })
        }
    };
    if let Some(c) = &credential {
        log::info!("downstream: token exchange with the {}", c.describe());
    }
    let tenant = match &settings.auth.tenancy {
        Tenancy::Single => Some(settings.auth.tenant_id.clone()),
        Tenancy::Multi { .. } => None,
    };
    let exchange = ds::Exchange::new(
        ds::ExchangeConfig {
            client_id: settings.auth.client_id.clone(),
            instance: settings.auth.instance.clone(),
            tenant,
            metadata_url: settings.auth.metadata_url.clone(),
            credential,
            managed_identity_client_id: cfg.managed_identity_client_id.clone(),
        },
        http.clone(),
        telemetry,
    );
    Ok(Downstreams::new(apis, exchange))
}

/// The secret source: Key Vault when `KEY_VAULT_URL` is set, else the local secrets file.
fn build_secrets(settings: &Settings, telemetry: &Telemetry) -> Result<SecretCache, SettingError> {
    let cfg = &settings.secrets;
    match &cfg.key_vault {
        Some(kv) => {
            let store = KeyVaultStore::new(&kv.url, &kv.credential, kv.loopback);
            log::info!(
                "secrets: Key Vault {} with {}, cache {} s",
                kv.url,
                kv.credential.describe(),
                cfg.cache_ttl.as_secs()
            );
            let host = reqwest::Url::parse(&kv.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            Ok(SecretCache::new(
                Box::new(store),
                "keyvault",
                cfg.cache_ttl,
                cfg.allowed.clone(),
            )
            .reporting_to(telemetry.clone(), &host))
        }
        None => {
            let store =
                LocalStore::load(&settings.local_secrets_file).map_err(|problem| SettingError {
                    name: "LOCAL_SECRETS_FILE".into(),
                    problem: problem.to_string(),
                })?;
            // The file is read once already; caching it again would only delay edits.
            Ok(SecretCache::new(
                Box::new(store),
                "local",
                std::time::Duration::ZERO,
                cfg.allowed.clone(),
            ))
        }
    }
}
