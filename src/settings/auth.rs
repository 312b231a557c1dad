//! `AUTH_*`: which tenants and issuers, audiences, timings, into `auth::config::AuthConfig`.

use std::collections::HashMap;

use super::source::Source;
use super::values::{flag, list, non_empty_list, number_in, required, seconds_in};
use super::{SettingError, fail};
use crate::auth::config::AuthConfig;
use crate::auth::policy::{MethodRules, Policy};
use crate::auth::token::{Tenancy, is_guid};
use crate::net;

/// Default `AUTH_INSTANCE`: Entra's public cloud.
pub(crate) const DEFAULT_INSTANCE: &str = "https://login.microsoftonline.com";
/// Default `AUTH_CLOCK_SKEW_SECONDS`: Microsoft.IdentityModel's default.
pub(crate) const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 300;
/// Largest `AUTH_CLOCK_SKEW_SECONDS` accepted.
const MAX_CLOCK_SKEW_SECONDS: u64 = 3600;
/// Default `AUTH_KEY_REFRESH_COOLDOWN_SECONDS`: Microsoft.IdentityModel's refresh interval.
pub(crate) const DEFAULT_KEY_REFRESH_COOLDOWN_SECONDS: u64 = 300;
/// Smallest unknown-`kid` refresh cooldown accepted (Microsoft.IdentityModel's own floor).
const MIN_KEY_REFRESH_COOLDOWN_SECONDS: u64 = 1;
/// Largest unknown-`kid` refresh cooldown accepted: a day.
const MAX_KEY_REFRESH_COOLDOWN_SECONDS: u64 = 86_400;
/// Default `AUTH_TOKEN_CACHE_SIZE`: verified tokens remembered.
pub(crate) const DEFAULT_TOKEN_CACHE_SIZE: usize = 10_000;
/// Largest `AUTH_TOKEN_CACHE_SIZE` accepted.
const MAX_TOKEN_CACHE_SIZE: usize = 1_000_000;

/// Reads every `AUTH_*` setting.
pub(super) fn read(source: &Source) -> Result<AuthConfig, SettingError> {
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
    let allow_any = flag(source, "AUTH_ALLOW_ANY_TENANT", false)?;
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
    let instance_text = source.get("AUTH_INSTANCE").unwrap_or(DEFAULT_INSTANCE);
    let instance = net::check_url(instance_text).or_else(|e| fail("AUTH_INSTANCE", e))?;
    if instance.query().is_some() || instance.fragment().is_some() {
        return fail("AUTH_INSTANCE", "must not have a query or fragment");
    }
    let audiences = non_empty_list(source, "AUTH_AUDIENCES")?
        .unwrap_or_else(|| vec![format!("api://{client_id}"), client_id.clone()]);
    let scope_prefix = match source.get("AUTH_SCOPE_PREFIX").map(str::trim) {
        // Taken from the audiences, it is held to the same rules as a value given here.
        None => match crate::auth::config::app_id_uri(&audiences) {
            Some(uri) => Some(scope_prefix(&uri).or_else(|_| {
                fail(
                    "AUTH_SCOPE_PREFIX",
                    format!(
                        "unset, scopes are named under the App ID URI among AUTH_AUDIENCES, and {uri:?} cannot be one: set AUTH_SCOPE_PREFIX (an App ID URI, or none)"
                    ),
                )
            })?),
            None => None,
        },
        Some(none) if none.eq_ignore_ascii_case("none") => None,
        Some(uri) => Some(scope_prefix(uri).or_else(|e| fail("AUTH_SCOPE_PREFIX", e))?),
    };
    let clock_skew_seconds = number_in(
        source,
        "AUTH_CLOCK_SKEW_SECONDS",
        DEFAULT_CLOCK_SKEW_SECONDS,
        0..=MAX_CLOCK_SKEW_SECONDS,
        "whole seconds",
    )?;
    let key_refresh_cooldown = seconds_in(
        source,
        "AUTH_KEY_REFRESH_COOLDOWN_SECONDS",
        DEFAULT_KEY_REFRESH_COOLDOWN_SECONDS,
        MIN_KEY_REFRESH_COOLDOWN_SECONDS..=MAX_KEY_REFRESH_COOLDOWN_SECONDS,
    )?;
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
    let debug_errors = flag(source, "AUTH_DEBUG_ERRORS", false)?;
    let token_cache_size = number_in(
        source,
        "AUTH_TOKEN_CACHE_SIZE",
        DEFAULT_TOKEN_CACHE_SIZE,
        0..=MAX_TOKEN_CACHE_SIZE,
        "a number of tokens",
    )?;
    Ok(AuthConfig {
        token_cache_size,
        tenant_id,
        instance: instance.as_str().trim_end_matches('/').to_owned(),
        metadata_url,
        tenancy,
        issuers,
        versions,
        allowed_clients: non_empty_list(source, "AUTH_ALLOWED_CLIENT_APPS")?,
        audiences,
        scope_prefix,
        client_id,
        clock_skew_seconds,
        key_refresh_cooldown,
        debug_errors,
    })
}

/// An `AUTH_SCOPE_PREFIX` URI (`api://…`, `https://…`): what scope names are written under, so
/// without a trailing slash. Every byte must be one a scope token may hold (RFC 6749 §3.3:
/// printable ASCII but space, `"` and `\`), and none that would end a URI's path (`?`, `#`) or
/// a list of values (`,`): the prefix is in every advertised scope and challenge.
fn scope_prefix(uri: &str) -> Result<String, String> {
    let expected = || format!("expected an App ID URI (api://… or https://…) or none, got {uri:?}");
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(expected());
    };
    // RFC 3986's scheme: a letter, then letters, digits, `+`, `-` and `.`.
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let rest = rest.trim_end_matches('/');
    let scope_byte = |b: u8| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E);
    if !scheme_ok
        || rest.is_empty()
        || !rest
            .bytes()
            .all(|b| scope_byte(b) && !matches!(b, b'?' | b'#' | b','))
    {
        return Err(expected());
    }
    Ok(format!("{scheme}://{rest}"))
}

/// Roles and scopes are granted by the caller's own tenant: with any tenant allowed, any
/// tenant's administrator could grant themselves any role. Refused unless client applications
/// narrow who can call.
pub(crate) fn check_any_tenant(
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
