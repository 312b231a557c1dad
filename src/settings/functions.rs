//! `AUTH_POLICY_<FUNCTION>`: the rules per method a setting gives a function folder, overriding
//! the registered function's own. Read here as settings; `state` joins them with the registry
//! (settings never know which functions are registered).

use std::collections::HashMap;

use super::source::Source;
use super::{SettingError, fail};
use crate::auth::policy::MethodRules;
use crate::layout::Layout;

/// Prefix of the per-function policy settings (`AUTH_POLICY_VAULT`).
pub(crate) const POLICY_PREFIX: &str = "AUTH_POLICY_";

/// `AUTH_POLICY_<NAME>` for a function folder name (upper case, `-` as `_`).
pub(crate) fn policy_setting_name(function: &str) -> String {
    format!(
        "{POLICY_PREFIX}{}",
        function.to_ascii_uppercase().replace('-', "_")
    )
}

/// The rules the settings give function folders, by folder name; a setting that does not
/// parse stops start-up, one naming no folder is reported and ignored.
pub(super) fn overrides(
    source: &Source,
    layout: &Layout,
) -> Result<HashMap<String, MethodRules>, SettingError> {
    let mut out = HashMap::new();
    for f in &layout.functions {
        let setting = policy_setting_name(&f.name);
        if let Some(text) = source.get(&setting) {
            out.insert(
                f.name.clone(),
                MethodRules::parse(text).or_else(|e| fail(&setting, e))?,
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
