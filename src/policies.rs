//! Each function folder's rules per method: the settings' `AUTH_POLICY_<NAME>` joined with the
//! registered functions' own rules. Here, above both, so the settings never know the registry
//! and the registry never knows the settings.

use std::collections::HashMap;

use crate::auth::policy::{MethodRules, Policy};
use crate::functions::Registry;
use crate::settings::{SettingError, Settings, policy_setting_name};

/// The rules of every function folder: the setting, else the registered function's rules, else
/// `deny` (a folder with no function behind it). Rules in code are checked even when a setting
/// overrides them: a typo should not wait for the day the setting is removed.
pub(crate) fn join(
    settings: &Settings,
    functions: &Registry,
) -> Result<HashMap<String, MethodRules>, SettingError> {
    let in_code = |name: &str, rules: Result<MethodRules, _>| {
        rules.map_err(|e: crate::auth::policy::PolicyError| SettingError {
            name: format!("{name} (rules in code)"),
            problem: e.to_string(),
        })
    };
    for implementation in functions.iter() {
        in_code(&implementation.name, implementation.parsed_rules())?;
        if settings.layout.function(&implementation.name).is_none() {
            log::warn!(
                "function {:?} is registered but has no folder ({}/function.json): the host will never route to it",
                implementation.name,
                implementation.name
            );
        }
    }
    let mut out = HashMap::new();
    let mut taken = Vec::new();
    for f in &settings.layout.functions {
        let setting = policy_setting_name(&f.name);
        // A function placed by its route in code (no folder when the settings were read)
        // takes its setting here.
        let unplaced = match settings.unplaced_policies.get(&setting) {
            Some(text) => {
                taken.push(setting.clone());
                Some(MethodRules::parse(text).map_err(|e| SettingError {
                    name: setting.clone(),
                    problem: e.to_string(),
                })?)
            }
            None => None,
        };
        let rules = match settings.policy_overrides.get(&f.name).cloned().or(unplaced) {
            Some(rules) => rules,
            None => match functions.find(&f.name) {
                Some(implementation) => in_code(&f.name, implementation.parsed_rules())?,
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
    crate::settings::warn_untaken(settings.unplaced_policies.keys(), &taken, "function");
    crate::settings::check_any_tenant(&settings.auth, &out)?;
    Ok(out)
}
