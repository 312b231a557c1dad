//! `AUTH_POLICY_<FUNCTION>`: each function folder's rules per method, from the setting or the
//! implementation's defaults.

use std::collections::HashMap;

use super::source::Source;
use super::{SettingError, fail};
use crate::auth::policy::{MethodRules, Policy};
use crate::functions::Registry;
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

pub(super) fn policies(
    source: &Source,
    layout: &Layout,
    functions: &Registry,
) -> Result<HashMap<String, MethodRules>, SettingError> {
    let mut out = HashMap::new();
    for f in &layout.functions {
        let setting = policy_setting_name(&f.name);
        let rules = match source.get(&setting) {
            Some(text) => MethodRules::parse(text).or_else(|e| fail(&setting, e))?,
            None => match functions.find(&f.name) {
                Some(implementation) => implementation
                    .parsed_rules()
                    .or_else(|e| fail(&format!("{} (rules in code)", f.name), e))?,
                None => {
                    log::warn!(
                        "function {:?} has a folder but no registered function: every call is denied",
                        f.name
                    );
                    MethodRules::every_method(Policy::Deny)
                }
            },
        };
        let uncovered = rules.uncovered_by_bare_rule(f.methods.as_deref());
        if !uncovered.is_empty() {
            log::warn!(
                "{setting}: a rule without METHODS= sections covers GET and HEAD only; {} {} denied (add a section such as {}=RULE to allow it)",
                uncovered.join(", "),
                if uncovered.len() == 1 { "is" } else { "are" },
                uncovered.join(",")
            );
        }
        out.insert(f.name.clone(), rules);
    }
    for implementation in functions.iter() {
        // Checked even when a setting overrides them: a typo in code should not wait for the
        // day the setting is removed.
        implementation
            .parsed_rules()
            .or_else(|e| fail(&format!("{} (rules in code)", implementation.name), e))?;
        if layout.function(&implementation.name).is_none() {
            log::warn!(
                "function {:?} is registered but has no folder ({}/function.json): the host will never route to it",
                implementation.name,
                implementation.name
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
