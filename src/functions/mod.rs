//! The functions funcgate runs once a call has passed the guard.

pub mod health;
pub mod vault;
pub mod whoami;

use crate::auth::policy::{Policy, Requirement};

/// The functions implemented here, by folder name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionKind {
    /// `health`: service and signing-key cache state; open to everyone.
    Health,
    /// `vault`: returns a secret to callers holding the `GetSecret` app role.
    Vault,
    /// `whoami`: echoes the validated identity to any valid token.
    Whoami,
}

impl FunctionKind {
    /// The implementation behind a function folder, if any.
    pub fn for_name(name: &str) -> Option<FunctionKind> {
        [
            ("health", FunctionKind::Health),
            ("vault", FunctionKind::Vault),
            ("whoami", FunctionKind::Whoami),
        ]
        .into_iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n))
        .map(|(_, kind)| kind)
    }

    /// The policy used unless an `AUTH_POLICY_<NAME>` setting overrides it.
    pub fn default_policy(self) -> Policy {
        match self {
            FunctionKind::Health => Policy::Anonymous,
            FunctionKind::Vault => {
                Policy::Require(vec![Requirement::AnyRole(vec!["GetSecret".to_owned()])])
            }
            FunctionKind::Whoami => Policy::Require(Vec::new()),
        }
    }
}
