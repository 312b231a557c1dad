//! The guard's configuration: which tenants and issuers, audiences, timings. `settings` reads
//! it from `AUTH_*`; this module says what it means (discovery URLs, Entra's v1 issuer, the
//! claim rules).

use std::time::Duration;

use super::token::{Rules, Tenancy, V1_ISSUER_CHINA, V1_ISSUER_PUBLIC, is_guid};

/// Token validation settings, built by `settings` from `AUTH_*`.
#[derive(Clone, Debug)]
pub(crate) struct AuthConfig {
    /// `AUTH_CLIENT_ID`: the API's app registration (the client of on-behalf-of exchanges).
    pub(crate) client_id: String,
    /// `AUTH_TENANT_ID`: tenant GUID or verified domain, or `organizations`/`common`.
    pub(crate) tenant_id: String,
    /// `AUTH_INSTANCE` without a trailing slash.
    pub(crate) instance: String,
    /// `AUTH_METADATA_URL`: a discovery document that replaces the Entra one.
    pub(crate) metadata_url: Option<String>,
    /// Single or multi-tenant, with `AUTH_ALLOWED_TENANTS` / `AUTH_ALLOW_ANY_TENANT`.
    pub(crate) tenancy: Tenancy,
    /// `AUTH_ISSUERS`.
    pub(crate) issuers: Option<Vec<String>>,
    /// `AUTH_TOKEN_VERSIONS`: (v1 accepted, v2 accepted).
    pub(crate) versions: (bool, bool),
    /// `AUTH_ALLOWED_CLIENT_APPS`.
    pub(crate) allowed_clients: Option<Vec<String>>,
    /// `AUTH_AUDIENCES`.
    pub(crate) audiences: Vec<String>,
    /// What scope names are written under where a client reads them (metadata, challenges):
    /// `AUTH_SCOPE_PREFIX`, else the App ID URI among the audiences; `None` for a provider
    /// whose scopes are bare names (`AUTH_SCOPE_PREFIX=none`).
    pub(crate) scope_prefix: Option<String>,
    /// `AUTH_CLOCK_SKEW_SECONDS`.
    pub(crate) clock_skew_seconds: u64,
    /// `AUTH_KEY_REFRESH_COOLDOWN_SECONDS`.
    pub(crate) key_refresh_cooldown: Duration,
    /// `AUTH_TOKEN_CACHE_SIZE`: verified tokens remembered (0 disables).
    pub(crate) token_cache_size: usize,
    /// `AUTH_DEBUG_ERRORS`.
    pub(crate) debug_errors: bool,
}

/// The App ID URI among `audiences` that scopes are named under: the `api://` one, else the
/// first that is a URI (an App ID URI on a verified domain, `https://api.contoso.com`), else
/// `api://` + the first (a client id). The default of `AUTH_SCOPE_PREFIX`.
pub(crate) fn app_id_uri(audiences: &[String]) -> Option<String> {
    audiences
        .iter()
        .find(|a| a.starts_with("api://"))
        .or_else(|| audiences.iter().find(|a| a.contains("://")))
        .map(|a| a.trim_end_matches('/').to_owned())
        .or_else(|| audiences.first().map(|a| format!("api://{a}")))
}

/// `scope` under `prefix` (`None`: scopes are bare names); a full value is kept as it is.
pub(crate) fn full_scope(prefix: Option<&str>, scope: &str) -> String {
    match prefix {
        Some(prefix) if !scope.contains("://") => format!("{prefix}/{scope}"),
        _ => scope.to_owned(),
    }
}

impl AuthConfig {
    /// The discovery documents to load keys from: one, or one per allowed tenant.
    pub(crate) fn discovery_urls(&self) -> Vec<(Option<String>, String)> {
        if let Some(url) = &self.metadata_url {
            return vec![(None, url.clone())];
        }
        let url = |tenant: &str| {
            format!(
                "{}/{tenant}/v2.0/.well-known/openid-configuration",
                self.instance
            )
        };
        match &self.tenancy {
            Tenancy::Multi {
                allowed: Some(list),
            } => list.iter().map(|t| (Some(t.clone()), url(t))).collect(),
            _ => vec![(None, url(&self.tenant_id))],
        }
    }

    /// The authorization servers (issuers) an OAuth client gets tokens from, for Protected
    /// Resource Metadata: `AUTH_ISSUERS` when set, else each discovery document's issuer.
    /// A multi-tenant API names Entra's `organizations` authority rather than its allow-list
    /// (which is the customers' list, not the document's to publish); a custom metadata URL
    /// names its issuer base, never its query.
    pub(crate) fn authorization_servers(&self) -> Vec<String> {
        if let Some(issuers) = &self.issuers {
            return issuers.clone();
        }
        if let Some(url) = &self.metadata_url {
            let base = url.split(['?', '#']).next().unwrap_or(url);
            return vec![
                base.strip_suffix("/.well-known/openid-configuration")
                    .unwrap_or(base)
                    .to_owned(),
            ];
        }
        let tenant = match &self.tenancy {
            Tenancy::Multi { .. } => "organizations",
            _ => self.tenant_id.as_str(),
        };
        vec![format!("{}/{tenant}/v2.0", self.instance)]
    }

    /// Entra's authorize endpoint for `AUTH_INSTANCE` and `AUTH_TENANT_ID`, which claims
    /// challenges name until a discovery document gives its own `authorization_endpoint`.
    ///
    /// None with `AUTH_METADATA_URL`: the document is another provider's (or a B2C policy's),
    /// whose endpoint cannot be built from Entra's pattern; with no tenant to fill in, the
    /// pattern gave `…//oauth2/v2.0/authorize` on Entra's host. A challenge then names the
    /// document's own endpoint, or none at all rather than a wrong one.
    pub(crate) fn entra_authorization_uri(&self) -> Option<String> {
        if self.metadata_url.is_some() {
            return None;
        }
        Some(format!(
            "{}/{}/oauth2/v2.0/authorize",
            self.instance, self.tenant_id
        ))
    }

    /// `scope` as a client requests it (`api://{client}/Api.Read`): under
    /// [`scope_prefix`](AuthConfig::scope_prefix), or as it is when scopes are bare names or
    /// it is a full value already.
    pub(crate) fn full_scope(&self, scope: &str) -> String {
        full_scope(self.scope_prefix.as_deref(), scope)
    }

    /// Entra's v1 issuer template for the instance; none for other metadata.
    pub(crate) fn v1_issuer(&self) -> Option<&'static str> {
        if self.metadata_url.is_some() {
            return None;
        }
        let host = self
            .instance
            .split("://")
            .nth(1)
            .unwrap_or("")
            .split(['/', ':'])
            .next()
            .unwrap_or("");
        Some(if host.ends_with(".cn") {
            V1_ISSUER_CHINA
        } else {
            V1_ISSUER_PUBLIC
        })
    }

    /// Single-tenant: `AUTH_TENANT_ID` when it is a tenant id (GUID), lower-case as Entra's
    /// issuers write it; it fills `{tenantid}` in issuers that do not name their tenant.
    pub(crate) fn configured_tenant(&self) -> Option<String> {
        (self.tenancy == Tenancy::Single && is_guid(&self.tenant_id))
            .then(|| self.tenant_id.to_ascii_lowercase())
    }

    /// The claim rules these settings describe.
    pub(crate) fn rules(&self) -> Rules {
        Rules {
            audiences: self.audiences.clone(),
            clock_skew: self.clock_skew_seconds as i64,
            tenancy: self.tenancy.clone(),
            tenant: self.configured_tenant(),
            issuers: self.issuers.clone(),
            v1_issuer: self.v1_issuer().map(str::to_owned),
            accept_v1: self.versions.0,
            accept_v2: self.versions.1,
            allowed_clients: self.allowed_clients.clone(),
            validation: Default::default(),
            settled: Default::default(),
        }
    }
}
