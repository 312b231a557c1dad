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

/// Between an MCP server's name and its tool's in a tool's setting.
const TOOL_SEPARATOR: &str = "__";

/// `AUTH_POLICY_<SERVER>__<TOOL>` for an MCP server's tool (upper case; `-` and `.` as `_`).
pub(crate) fn tool_policy_setting_name(server: &str, tool: &str) -> String {
    let name = |text: &str| text.to_ascii_uppercase().replace(['-', '.'], "_");
    format!(
        "{POLICY_PREFIX}{}{TOOL_SEPARATOR}{}",
        name(server),
        name(tool)
    )
}

/// Whether a setting is a tool's rule: `AUTH_POLICY_<SERVER>__<TOOL>`, and no function
/// folder's own setting (a folder's name may hold `__` too).
fn is_tool_setting(name: &str, layout: &Layout) -> bool {
    name.strip_prefix(POLICY_PREFIX)
        .is_some_and(|rest| rest.contains(TOOL_SEPARATOR))
        && !layout
            .functions
            .iter()
            .any(|f| policy_setting_name(&f.name) == name)
}

/// What settings say of MCP tools' rules; the app's servers, which know their tools, take
/// theirs at start-up.
#[derive(Clone, Debug, Default)]
pub(crate) struct ToolRules {
    /// `AUTH_POLICY_<SERVER>__<TOOL>` texts by setting name, parsed by the tool that takes
    /// one (a stale setting no tool takes is reported, not refused).
    pub(crate) rules: HashMap<String, String>,
    /// The set `AUTH_POLICY_<FUNCTION>` names of function folders: a tool whose setting
    /// would have one of these names cannot be told apart from the folder.
    pub(crate) folder_settings: Vec<String>,
}

/// The settings' tool rules (see [`ToolRules`]).
pub(super) fn tool_rules(source: &Source, layout: &Layout) -> ToolRules {
    let mut rules = HashMap::new();
    for name in source.names() {
        if is_tool_setting(name, layout)
            && let Some(text) = source.get(name)
        {
            rules.insert(name.clone(), text.to_owned());
        }
    }
    let folder_settings = layout
        .functions
        .iter()
        .map(|f| policy_setting_name(&f.name))
        .filter(|name| source.get(name).is_some())
        .collect();
    ToolRules {
        rules,
        folder_settings,
    }
}

/// Warns, in name order, about each setting in `read` that nothing took: a typo would
/// otherwise leave the rule in code in force unnoticed. `what` says what it names none of.
pub(crate) fn warn_untaken<'a>(
    read: impl Iterator<Item = &'a String>,
    taken: &[String],
    what: &str,
) {
    let mut untaken: Vec<&String> = read.filter(|name| !taken.contains(name)).collect();
    untaken.sort();
    for name in untaken {
        log::warn!("{name} names no {what}; it is ignored");
    }
}

/// Folder names' parsed rules, and the other settings' texts by setting name.
type Overrides = (HashMap<String, MethodRules>, HashMap<String, String>);

/// The rules the settings give function folders, by folder name (a setting that does not
/// parse stops start-up), and the texts of the other `AUTH_POLICY_<NAME>` settings by
/// setting name: they may name a function without a folder, placed at start-up by its route
/// in code (the MCP profile's), which `policies` matches them with.
pub(super) fn overrides(source: &Source, layout: &Layout) -> Result<Overrides, SettingError> {
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
    let mut others = HashMap::new();
    for name in source.names() {
        if name.starts_with(POLICY_PREFIX)
            && !is_tool_setting(name, layout)
            && !layout
                .functions
                .iter()
                .any(|f| &policy_setting_name(&f.name) == name)
            && let Some(text) = source.get(name)
        {
            others.insert(name.clone(), text.to_owned());
        }
    }
    Ok((out, others))
}

#[cfg(test)]
mod tests {
    use super::tool_policy_setting_name;

    #[test]
    fn a_tools_setting_is_named_after_its_server_and_tool() {
        assert_eq!(
            tool_policy_setting_name("orders", "cancel_order"),
            "AUTH_POLICY_ORDERS__CANCEL_ORDER"
        );
        // The characters MCP allows in a tool's name that a setting's name cannot hold.
        assert_eq!(
            tool_policy_setting_name("my-server", "orders.v1-read"),
            "AUTH_POLICY_MY_SERVER__ORDERS_V1_READ"
        );
    }
}
