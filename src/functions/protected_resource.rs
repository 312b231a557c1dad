//! `oauth-protected-resource`: the OAuth 2.0 Protected Resource Metadata document (RFC 9728)
//! at `/.well-known/oauth-protected-resource`, so OAuth clients (MCP clients among them) find
//! out from the API itself where and how to get a token for it.

use std::collections::HashMap;

use serde::Serialize;

use super::{Function, Outcome, Request};
use crate::auth::policy::MethodRules;
use crate::errors::{ApiError, ErrorKind};
use crate::reply::Reply;
use crate::settings::Settings;

/// The function's folder name.
pub(crate) const FOLDER: &str = "oauth-protected-resource";

/// The document's path under the app's public base URL (RFC 9728's well-known location).
pub(crate) const PROTECTED_RESOURCE_PATH: &str = "/.well-known/oauth-protected-resource";

/// The built-in `oauth-protected-resource` function (folder `oauth-protected-resource`, route
/// `.well-known/oauth-protected-resource`, rule `anonymous`): the resource identifier
/// (`PUBLIC_BASE_URL`), its authorization servers (the tenant's issuers), the full scope
/// values its functions' rules name, and `bearer_methods_supported: ["header"]`. Without
/// `PUBLIC_BASE_URL` it answers `404 NotFound`: the resource identifier is never guessed from
/// `Host`.
pub fn protected_resource<S: Send + Sync + 'static>() -> Function<S> {
    Function::new(FOLDER, answer)
        .rules("GET,HEAD=anonymous")
        .route(
            ".well-known/oauth-protected-resource/{*resource}",
            &["GET", "HEAD"],
        )
}

#[derive(Serialize)]
struct Metadata<'a> {
    resource: &'a str,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    bearer_methods_supported: [&'static str; 1],
}

/// The document, rendered once at start-up from the settings (the rules and issuers do not
/// change while the process runs); `None` without `PUBLIC_BASE_URL`.
pub(crate) fn document(
    settings: &Settings,
    policies: &HashMap<String, MethodRules>,
    more_scopes: &[String],
) -> Option<Vec<u8>> {
    let resource = settings.public_base_url.as_deref()?;
    let scopes = policies
        .values()
        .flat_map(|rules| rules.policies())
        .flat_map(|policy| policy.scopes())
        .chain(more_scopes.iter().map(String::as_str));
    render(settings, resource, scopes)
}

/// The document of an MCP server at `resource` (`PUBLIC_BASE_URL` + its path): the scopes its
/// rule and tools accept.
pub(crate) fn resource_document(
    settings: &Settings,
    resource: &str,
    scopes: &[&str],
) -> Option<Vec<u8>> {
    render(settings, resource, scopes.iter().copied())
}

/// The document for `resource`: the tenant's issuers, and `scopes` as full values under the
/// API's one App ID URI, sorted, each once. `offline_access` is never listed: it is Entra's to
/// grant, not this resource's scope.
fn render<'a>(
    settings: &Settings,
    resource: &str,
    scopes: impl Iterator<Item = &'a str>,
) -> Option<Vec<u8>> {
    let mut scopes: Vec<String> = scopes
        .filter(|scope| !scope.eq_ignore_ascii_case("offline_access"))
        .map(|scope| settings.auth.full_scope(scope))
        .collect();
    scopes.sort();
    scopes.dedup();
    serde_json::to_vec(&Metadata {
        resource,
        authorization_servers: settings.auth.authorization_servers(),
        scopes_supported: scopes,
        bearer_methods_supported: ["header"],
    })
    .ok()
}

/// The route parameter of the path-inserted form (RFC 9728 §3.1):
/// `/.well-known/oauth-protected-resource/<path>` describes the resource `<base>/<path>`.
const RESOURCE_PATH_PARAM: &str = "resource";

async fn answer(req: Request) -> Outcome {
    let Some(document) = &req.services().protected_resource else {
        return Err(ApiError::new(ErrorKind::NotFound)
            .because("PUBLIC_BASE_URL is not set: no protected resource metadata"));
    };
    let services = req.services();
    let body = match req.param(RESOURCE_PATH_PARAM) {
        None => document.clone(),
        Some(path) => match services
            .resource_documents
            .iter()
            .find(|(p, _)| p == path.trim_matches('/'))
        {
            Some((_, document)) => document.clone(),
            None => for_path(document, services.public_base_url.as_deref(), path)?,
        },
    };
    let mut reply = Reply::with_json_body(200, body);
    // The same for every caller, and changes only with settings.
    reply.header("Cache-Control", "public, max-age=3600");
    Ok(reply)
}

/// The document for the resource at `path` under the base URL: the same servers and scopes,
/// `resource` naming that path, as a client that derived this location expects it to.
fn for_path(document: &[u8], base: Option<&str>, path: &str) -> Result<Vec<u8>, ApiError> {
    let not_found = || {
        ApiError::new(ErrorKind::NotFound).because("no protected resource metadata for this path")
    };
    let mut value: serde_json::Value = serde_json::from_slice(document).map_err(|_| not_found())?;
    // The path is under the app's base URL, whatever resource the root document names.
    let base = base.ok_or_else(not_found)?;
    // The value is the caller's: encode what a URL path cannot hold as it is.
    let encoded =
        percent_encoding::utf8_percent_encode(path.trim_matches('/'), RESOURCE_PATH_ENCODE);
    value["resource"] = serde_json::Value::String(format!("{base}/{encoded}"));
    serde_json::to_vec(&value).map_err(|_| not_found())
}

/// What is escaped in a resource path: controls, space, and the characters that would end the
/// path or change its meaning.
const RESOURCE_PATH_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\');
