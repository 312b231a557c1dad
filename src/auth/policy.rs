//! What each function requires of a validated token, and which 403 a failure maps to.
//!
//! A policy is written as a setting (`AUTH_POLICY_<FUNCTION>`) in a small grammar:
//! `anonymous`, `authenticated`, `deny`, or alternatives joined by `|`, each made of terms
//! joined by `&` that must all hold, each term one of `roles:A,B` (any of), `all-roles:A,B`,
//! `scopes:x,y` (any of), `all-scopes:x,y`, `acrs:c1` (an Entra authentication context in the
//! token's `acrs` claim: step-up). `roles:GetSecret|scopes:GetSecret` lets an app-only token
//! pass with a role and a delegated token with a scope; `roles:SetSecret&acrs:c1` also needs
//! the authentication context `c1`, and a token that has the role but not the context gets a
//! claims challenge (`401 insufficient_claims`) when its client can answer one (`xms_cc`
//! holds `cp1`), otherwise `403 AuthenticationContextRequired`.
//!
//! [`MethodRules`] give each HTTP method its own policy: sections `METHODS=POLICY` joined by
//! `;`, for example `GET,HEAD=scopes:Api.Read;POST,PUT,PATCH,DELETE=scopes:Api.Write`. `*`
//! names every method no other section names. A rule with no `=` applies to `GET` and `HEAD`
//! only: such rules were written when functions only read, and must not grant a method that
//! changes data once a function gains one (methods that write need a section of their own). A
//! method no section covers is denied, except `HEAD`, which follows `GET` (a `HEAD` is a `GET`
//! without its body).

use std::fmt;

use crate::auth::token::Identity;
use crate::errors::{ApiError, Detail, ErrorKind};

/// Why a rule does not parse; printed after the setting's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// Nothing written.
    Empty,
    /// An alternative that is not `KIND:NAMES`.
    NotKindNames(String),
    /// A kind with no names after it.
    NoNames(String),
    /// A name with a quote, a backslash, whitespace or a control character.
    InvalidName(String),
    /// A kind other than roles, all-roles, scopes, all-scopes, acrs.
    UnknownKind(String),
    /// Sections that are not `METHODS=RULE`.
    NotSections(Option<String>),
    /// A method named in two sections.
    TwoRules(String),
    /// `*` listed with other methods.
    StarNotAlone,
    /// Two `acrs:` terms in one alternative.
    TwoContexts(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Empty => f.write_str("empty policy"),
            PolicyError::NotKindNames(alt) => write!(f, "expected KIND:NAMES, got {alt:?}"),
            PolicyError::NoNames(kind) => write!(f, "no names after {kind:?}"),
            PolicyError::InvalidName(name) => write!(
                f,
                "invalid name {name:?} (no quotes, backslashes, whitespace or control characters)"
            ),
            PolicyError::UnknownKind(kind) => write!(
                f,
                "unknown kind {kind:?} (use roles, all-roles, scopes, all-scopes or acrs)"
            ),
            PolicyError::NotSections(None) => {
                f.write_str("sections must read METHODS=RULE, e.g. GET,HEAD=roles:Reader")
            }
            PolicyError::NotSections(Some(part)) => {
                write!(f, "expected METHODS=RULE, got {part:?}")
            }
            PolicyError::TwoRules(method) => write!(f, "method {method} has two rules"),
            PolicyError::StarNotAlone => f.write_str("* stands alone: *=RULE"),
            PolicyError::TwoContexts(alt) => write!(
                f,
                "{alt:?} has two acrs: terms; list the contexts any of which will do in one (acrs:c1,c2)"
            ),
        }
    }
}

/// One way of satisfying a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// At least one of these app roles in `roles`.
    AnyRole(Vec<String>),
    /// Every one of these app roles in `roles`.
    AllRoles(Vec<String>),
    /// At least one of these delegated scopes in `scp`.
    AnyScope(Vec<String>),
    /// Every one of these delegated scopes in `scp`.
    AllScopes(Vec<String>),
}

/// One alternative of a policy: role and scope terms and, for step-up, authentication
/// contexts, all of which must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alternative {
    /// Role and scope terms.
    pub terms: Vec<Requirement>,
    /// `acrs:` values, any one of which the token's `acrs` claim must carry (empty: none).
    pub acrs: Vec<String>,
}

/// Claims that pass a policy, as [`Policy::passing_claims`] picks them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PassingClaims<'p> {
    /// For `scp`.
    pub(crate) scopes: Vec<&'p str>,
    /// For `roles`.
    pub(crate) roles: Vec<&'p str>,
    /// For `acrs`.
    pub(crate) acrs: Vec<&'p str>,
}

/// Keeps the first of each value, in order: the names a rule, an app registration or a
/// challenge lists, where a name given twice would only be noise.
pub(crate) fn each_once<T: PartialEq>(list: &mut Vec<T>) {
    let mut kept = 0;
    for i in 0..list.len() {
        if !list[..kept].contains(&list[i]) {
            list.swap(kept, i);
            kept += 1;
        }
    }
    list.truncate(kept);
}

/// What a function demands of its callers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// No token needed.
    Anonymous,
    /// A valid token needed, and then refused: functions nobody declared a policy for.
    Deny,
    /// A valid token meeting any one of the alternatives (none listed: any valid token).
    Require(Vec<Alternative>),
}

/// A token's step-up status for an alternative that wants an authentication context.
fn has_acrs(who: &Identity, wanted: &[String]) -> bool {
    wanted.is_empty()
        || who
            .claims()
            .get("acrs")
            .and_then(|v| v.as_array())
            .is_some_and(|have| {
                have.iter()
                    .filter_map(|v| v.as_str())
                    .any(|a| wanted.iter().any(|w| w == a))
            })
}

/// Whether the token's client can answer a claims challenge (`xms_cc` holds `cp1`).
fn answers_claims_challenges(who: &Identity) -> bool {
    who.claims()
        .get("xms_cc")
        .and_then(|v| v.as_array())
        .is_some_and(|caps| caps.iter().any(|c| c.as_str() == Some("cp1")))
}

impl Policy {
    /// Parses the setting grammar described in the module docs.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let text = text.trim();
        match text.to_ascii_lowercase().as_str() {
            "anonymous" => return Ok(Policy::Anonymous),
            "authenticated" => return Ok(Policy::Require(Vec::new())),
            "deny" => return Ok(Policy::Deny),
            "" => return Err(PolicyError::Empty),
            _ => {}
        }
        let mut alternatives = Vec::new();
        for alt in text.split('|') {
            let mut alternative = Alternative {
                terms: Vec::new(),
                acrs: Vec::new(),
            };
            for term in alt.split('&') {
                match parse_term(term)? {
                    Term::Need(need) => alternative.terms.push(need),
                    // One `acrs:` term per alternative: two would read as "both contexts"
                    // but a token carries the one it stepped up to.
                    Term::Acrs(_) if !alternative.acrs.is_empty() => {
                        return Err(PolicyError::TwoContexts(alt.trim().to_owned()));
                    }
                    Term::Acrs(values) => alternative.acrs = values,
                }
            }
            alternatives.push(alternative);
        }
        Ok(Policy::Require(alternatives))
    }
}

/// One parsed term of an alternative.
enum Term {
    Need(Requirement),
    Acrs(Vec<String>),
}

/// `KIND:NAMES`.
fn parse_term(term: &str) -> Result<Term, PolicyError> {
    {
        {
            let (kind, names) = term
                .split_once(':')
                .ok_or_else(|| PolicyError::NotKindNames(term.trim().to_owned()))?;
            let names: Vec<String> = names
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            if names.is_empty() {
                return Err(PolicyError::NoNames(kind.trim().to_owned()));
            }
            // A token lists its scopes split by whitespace, so a name holding any (a tab, a
            // line break) could never be matched; control characters have no place in one.
            let unusable = |c: char| c == '"' || c == '\\' || c.is_whitespace() || c.is_control();
            if let Some(bad) = names.iter().find(|n| n.chars().any(unusable)) {
                return Err(PolicyError::InvalidName(bad.clone()));
            }
            Ok(match kind.trim().to_ascii_lowercase().as_str() {
                "roles" => Term::Need(Requirement::AnyRole(names)),
                "all-roles" => Term::Need(Requirement::AllRoles(names)),
                "scopes" => Term::Need(Requirement::AnyScope(names)),
                "all-scopes" => Term::Need(Requirement::AllScopes(names)),
                "acrs" => Term::Acrs(names),
                other => return Err(PolicyError::UnknownKind(other.to_owned())),
            })
        }
    }
}

impl Policy {
    /// True when some alternative asks for a role, a scope or a context (which the caller's
    /// tenant grants).
    pub(crate) fn names_roles_or_scopes(&self) -> bool {
        matches!(self, Policy::Require(alternatives) if !alternatives.is_empty())
    }

    /// The delegated scopes this policy names, for Protected Resource Metadata.
    pub(crate) fn scopes(&self) -> Vec<&str> {
        let Policy::Require(alternatives) = self else {
            return Vec::new();
        };
        alternatives
            .iter()
            .flat_map(|a| &a.terms)
            .flat_map(|t| match t {
                Requirement::AnyScope(n) | Requirement::AllScopes(n) => n.as_slice(),
                _ => &[],
            })
            .map(String::as_str)
            .collect()
    }

    /// The claims a token needs to pass by the first alternative (each `any of` term's first
    /// name, each `all of` term's every name, the first context): for `cargo funcgate dev`'s
    /// token hint. Empty for a rule any token passes, and for anonymous and deny.
    pub(crate) fn passing_claims(&self) -> PassingClaims<'_> {
        let mut claims = PassingClaims::default();
        let Policy::Require(alternatives) = self else {
            return claims;
        };
        let Some(first) = alternatives.first() else {
            return claims;
        };
        for term in &first.terms {
            let (into, names) = match term {
                Requirement::AnyScope(n) => (&mut claims.scopes, &n[..n.len().min(1)]),
                Requirement::AllScopes(n) => (&mut claims.scopes, &n[..]),
                Requirement::AnyRole(n) => (&mut claims.roles, &n[..n.len().min(1)]),
                Requirement::AllRoles(n) => (&mut claims.roles, &n[..]),
            };
            into.extend(names.iter().map(String::as_str));
        }
        claims.acrs.extend(first.acrs.first().map(String::as_str));
        claims
    }

    /// Every scope, role and authentication context this policy names, each once, in order:
    /// what the app registration must define (`cargo funcgate check` lists them).
    pub(crate) fn all_names(&self) -> PassingClaims<'_> {
        let mut names = PassingClaims::default();
        let Policy::Require(alternatives) = self else {
            return names;
        };
        for alternative in alternatives {
            for term in &alternative.terms {
                let (into, list) = match term {
                    Requirement::AnyScope(n) | Requirement::AllScopes(n) => (&mut names.scopes, n),
                    Requirement::AnyRole(n) | Requirement::AllRoles(n) => (&mut names.roles, n),
                };
                into.extend(list.iter().map(String::as_str));
            }
            names
                .acrs
                .extend(alternative.acrs.iter().map(String::as_str));
        }
        for list in [&mut names.scopes, &mut names.roles, &mut names.acrs] {
            each_once(list);
        }
        names
    }

    /// True when a token is needed and may pass (neither anonymous nor denied).
    pub(crate) fn needs_token(&self) -> bool {
        matches!(self, Policy::Require(_))
    }

    /// True when the function can be called without a token.
    pub(crate) fn is_anonymous(&self) -> bool {
        matches!(self, Policy::Anonymous)
    }

    /// Allows the identity, or says which 403 (or, for step-up, which claims challenge) it gets.
    pub fn check(&self, who: &Identity) -> Result<(), ApiError> {
        let alternatives = match self {
            Policy::Anonymous => return Ok(()),
            Policy::Deny => {
                return Err(ApiError::new(ErrorKind::RoleForbidden)
                    .because("no rule allows this method for this function"));
            }
            Policy::Require(alternatives) if alternatives.is_empty() => return Ok(()),
            Policy::Require(alternatives) => alternatives,
        };
        let permitted = |a: &Alternative| a.terms.iter().all(|t| t.is_met_by(who));
        if alternatives
            .iter()
            .any(|a| permitted(a) && has_acrs(who, &a.acrs))
        {
            return Ok(());
        }
        // Permitted but for the authentication context: step-up.
        if let Some(a) = alternatives.iter().find(|a| permitted(a)) {
            let wanted = a.acrs.join(" ");
            let kind = if answers_claims_challenges(who) {
                ErrorKind::InsufficientClaims
            } else {
                ErrorKind::AuthenticationContextRequired
            };
            return Err(ApiError::new(kind)
                .because(format!("token lacks the authentication context: {wanted}"))
                .with(Detail::Claims(claims_request(&a.acrs))));
        }
        let terms = || alternatives.iter().flat_map(|a| &a.terms);
        let wants_scope =
            terms().any(|r| matches!(r, Requirement::AnyScope(_) | Requirement::AllScopes(_)));
        let wants_role =
            terms().any(|r| matches!(r, Requirement::AnyRole(_) | Requirement::AllRoles(_)));
        // A delegated token (it has `scp`) is judged on scopes when scopes would do;
        // an app-only token can only ever carry roles.
        let (kind, names, what) = if wants_scope && (!wants_role || who.is_delegated()) {
            (ErrorKind::ScopeForbidden, self.names(true), "scope")
        } else if who.roles.is_empty() {
            (ErrorKind::RolesMissing, self.names(false), "role")
        } else {
            (ErrorKind::RoleForbidden, self.names(false), "role")
        };
        Err(ApiError::new(kind)
            .because(format!("token lacks the required {what}: {names}"))
            .with(Detail::Scope(names)))
    }

    /// The role (or scope) names this policy mentions, space-separated.
    fn names(&self, scopes: bool) -> String {
        let all = self.all_names();
        if scopes { all.scopes } else { all.roles }.join(" ")
    }
}

/// One function's policies by HTTP method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MethodRules {
    /// (upper-case methods, policy), in the order written.
    sections: Vec<(Vec<String>, Policy)>,
    /// The policy for methods no section names (`*`).
    other: Option<Policy>,
    /// Written as a bare rule (no `=`), which covers only the reading methods.
    bare: bool,
}

/// The methods a bare rule (no `METHODS=` sections) covers: those that only read.
pub(crate) const BARE_RULE_METHODS: [&str; 2] = ["GET", "HEAD"];

/// The policy for a method no rule covers.
static DENY: Policy = Policy::Deny;

impl MethodRules {
    /// One policy for every method.
    pub(crate) fn every_method(policy: Policy) -> MethodRules {
        MethodRules {
            sections: Vec::new(),
            other: Some(policy),
            bare: false,
        }
    }

    /// Parses `METHODS=POLICY;...`, or a bare policy for `GET` and `HEAD`.
    pub(crate) fn parse(text: &str) -> Result<MethodRules, PolicyError> {
        let text = text.trim();
        let sectioned = text.split(';').any(|part| method_list(part).is_some());
        if !sectioned {
            if text.contains(';') {
                return Err(PolicyError::NotSections(None));
            }
            return Ok(MethodRules {
                sections: vec![(
                    BARE_RULE_METHODS.iter().map(|m| (*m).to_owned()).collect(),
                    Policy::parse(text)?,
                )],
                other: None,
                bare: true,
            });
        }
        let mut rules = MethodRules {
            sections: Vec::new(),
            other: None,
            bare: false,
        };
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (methods, policy) =
                method_list(part).ok_or_else(|| PolicyError::NotSections(Some(part.to_owned())))?;
            let policy = Policy::parse(policy)?;
            for m in &methods {
                let taken = if m == "*" {
                    rules.other.is_some()
                } else {
                    rules.sections.iter().any(|(ms, _)| ms.contains(m))
                };
                if taken {
                    return Err(PolicyError::TwoRules(m.clone()));
                }
            }
            if methods.iter().any(|m| m == "*") {
                if methods.len() > 1 {
                    return Err(PolicyError::StarNotAlone);
                }
                rules.other = Some(policy);
            } else {
                rules.sections.push((methods, policy));
            }
        }
        Ok(rules)
    }

    /// The policy for `method`: its section, else `GET`'s for `HEAD`, else `*`, else deny.
    pub(crate) fn for_method(&self, method: &str) -> &Policy {
        let find = |m: &str| {
            self.sections
                .iter()
                .find(|(ms, _)| ms.iter().any(|x| x.eq_ignore_ascii_case(m)))
                .map(|(_, p)| p)
        };
        find(method)
            .or_else(|| {
                method
                    .eq_ignore_ascii_case("HEAD")
                    .then(|| find("GET"))
                    .flatten()
            })
            .or(self.other.as_ref())
            .unwrap_or(&DENY)
    }

    /// The methods among `declared` (a function's methods; `None`: every method) that a bare
    /// rule leaves uncovered, for the start-up warning; empty for sectioned rules.
    pub(crate) fn uncovered_by_bare_rule(&self, declared: Option<&[String]>) -> Vec<String> {
        if !self.bare {
            return Vec::new();
        }
        let every = ["POST", "PUT", "PATCH", "DELETE"].map(str::to_owned);
        declared
            .unwrap_or(&every)
            .iter()
            .filter(|m| !BARE_RULE_METHODS.contains(&m.as_str()) && m.as_str() != "OPTIONS")
            .cloned()
            .collect()
    }

    /// The methods among `declared` (`None`: the common ones) that any valid token of the
    /// tenant may call: neither anonymous nor denied, and naming no role, scope or context.
    pub(crate) fn methods_any_token_passes(&self, declared: Option<&[String]>) -> Vec<String> {
        let common = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"].map(str::to_owned);
        declared
            .unwrap_or(&common)
            .iter()
            .filter(|m| {
                let policy = self.for_method(m);
                !policy.is_anonymous()
                    && !matches!(policy, Policy::Deny)
                    && !policy.names_roles_or_scopes()
            })
            .cloned()
            .collect()
    }

    /// The methods among `declared` (`None`: the common ones) that no token may call: a
    /// `deny`, or a method no section covers (a bare rule covers `GET` and `HEAD` only).
    pub(crate) fn methods_denied(&self, declared: Option<&[String]>) -> Vec<String> {
        let common = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"].map(str::to_owned);
        declared
            .unwrap_or(&common)
            .iter()
            .filter(|m| matches!(self.for_method(m), Policy::Deny))
            .cloned()
            .collect()
    }

    /// Every policy these rules contain.
    pub(crate) fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.sections.iter().map(|(_, p)| p).chain(&self.other)
    }

    /// The rule per method, for the start-up log: each of `methods` (the function's declared
    /// methods; `None`: every method) with the policy that applies.
    pub(crate) fn describe(&self, methods: Option<&[String]>) -> String {
        let Some(methods) = methods else {
            return self.to_string();
        };
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for m in methods {
            let policy = self.for_method(m).to_string();
            match groups.iter_mut().find(|(p, _)| *p == policy) {
                Some((_, ms)) => ms.push(m),
                None => groups.push((policy, vec![m])),
            }
        }
        groups
            .iter()
            .map(|(p, ms)| format!("{} -> {p}", ms.join(",")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// `GET,HEAD=...` → (methods, rest), when the text before `=` is a list of method tokens.
fn method_list(part: &str) -> Option<(Vec<String>, &str)> {
    let (head, rest) = part.split_once('=')?;
    let methods: Vec<String> = head
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .collect();
    let valid = methods.iter().all(|m| {
        m == "*" || (!m.is_empty() && m.len() <= 16 && m.bytes().all(|b| b.is_ascii_uppercase()))
    });
    valid.then_some((methods, rest))
}

impl fmt::Display for MethodRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (true, [(_, policy)]) = (self.bare, self.sections.as_slice()) {
            return write!(f, "{policy}");
        }
        let mut parts: Vec<String> = self
            .sections
            .iter()
            .map(|(ms, p)| format!("{}={p}", ms.join(",")))
            .collect();
        match (&self.other, parts.is_empty()) {
            (Some(p), true) => return write!(f, "{p}"),
            (Some(p), false) => parts.push(format!("*={p}")),
            (None, _) => {}
        }
        f.write_str(&parts.join(";"))
    }
}

/// The OpenID Connect claims request a claims challenge carries: `acrs` essential, with the
/// one value (or the values) the rule names, as Entra's claims-challenge guide shows.
fn claims_request(acrs: &[String]) -> String {
    let acrs = match acrs {
        [one] => serde_json::json!({"essential": true, "value": one}),
        many => serde_json::json!({"essential": true, "values": many}),
    };
    serde_json::json!({"access_token": {"acrs": acrs}}).to_string()
}

impl Requirement {
    fn is_met_by(&self, who: &Identity) -> bool {
        let has_role = |n: &String| who.roles.iter().any(|r| r == n);
        let has_scope = |n: &String| who.scopes.iter().any(|s| s == n);
        match self {
            Requirement::AnyRole(n) => n.iter().any(has_role),
            Requirement::AllRoles(n) => n.iter().all(has_role),
            Requirement::AnyScope(n) => n.iter().any(has_scope),
            Requirement::AllScopes(n) => n.iter().all(has_scope),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Anonymous => f.write_str("anonymous"),
            Policy::Deny => f.write_str("deny"),
            Policy::Require(alts) if alts.is_empty() => f.write_str("authenticated"),
            Policy::Require(alts) => {
                let parts: Vec<String> = alts
                    .iter()
                    .map(|a| {
                        let mut terms: Vec<String> = a
                            .terms
                            .iter()
                            .map(|r| {
                                let (k, n) = match r {
                                    Requirement::AnyRole(n) => ("roles", n),
                                    Requirement::AllRoles(n) => ("all-roles", n),
                                    Requirement::AnyScope(n) => ("scopes", n),
                                    Requirement::AllScopes(n) => ("all-scopes", n),
                                };
                                format!("{k}:{}", n.join(","))
                            })
                            .collect();
                        if !a.acrs.is_empty() {
                            terms.push(format!("acrs:{}", a.acrs.join(",")));
                        }
                        terms.join("&")
                    })
                    .collect();
                f.write_str(&parts.join("|"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::TokenVersion;

    fn who(roles: &[&str], scopes: &[&str]) -> Identity {
        Identity {
            roles: roles.iter().map(|s| s.to_string()).collect(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..Identity::empty(TokenVersion::V2)
        }
    }

    #[test]
    fn each_once_keeps_the_first_of_each_in_order() {
        let mut list = vec!["b", "a", "b", "c", "a", "b"];
        each_once(&mut list);
        assert_eq!(list, ["b", "a", "c"]);
        let mut empty: Vec<&str> = Vec::new();
        each_once(&mut empty);
        assert!(empty.is_empty());
    }

    #[test]
    fn passing_claims_pass_by_the_first_alternative() {
        let claims = |rule: &str| {
            let policy = Policy::parse(rule).unwrap();
            let c = policy.passing_claims();
            (c.scopes.join(" "), c.roles.join(","), c.acrs.join(","))
        };
        let owned = |(s, r, a): (&str, &str, &str)| (s.to_owned(), r.to_owned(), a.to_owned());
        assert_eq!(claims("scopes:A,B|roles:R"), owned(("A", "", "")));
        assert_eq!(claims("all-scopes:A,B&roles:R,S"), owned(("A B", "R", "")));
        assert_eq!(claims("roles:R&acrs:c1"), owned(("", "R", "c1")));
        assert_eq!(claims("all-roles:R,S"), owned(("", "R,S", "")));
        for none in ["authenticated", "anonymous", "deny"] {
            assert_eq!(claims(none), owned(("", "", "")), "{none}");
        }
        // Every name of every alternative, each once, for the app registration.
        let all =
            Policy::parse("scopes:A,B&acrs:c1|roles:R&scopes:A|all-roles:R,S&acrs:c2").unwrap();
        let names = all.all_names();
        assert_eq!(
            (names.scopes, names.roles, names.acrs),
            (vec!["A", "B"], vec!["R", "S"], vec!["c1", "c2"])
        );
        // What it picks passes.
        for rule in [
            "scopes:A,B|roles:R",
            "all-scopes:A,B&roles:R,S",
            "all-roles:R,S",
        ] {
            let policy = Policy::parse(rule).unwrap();
            let c = policy.passing_claims();
            assert!(policy.check(&who(&c.roles, &c.scopes)).is_ok(), "{rule}");
        }
    }

    #[test]
    fn parses_the_grammar_and_prints_it_back() {
        for text in [
            "anonymous",
            "authenticated",
            "deny",
            "roles:GetSecret",
            "roles:A,B|scopes:x",
            "all-roles:A,B|all-scopes:x,y",
        ] {
            assert_eq!(Policy::parse(text).unwrap().to_string(), text);
        }
        let step_up = Policy::parse("roles:A&acrs:c1,c2|scopes:x").unwrap();
        assert_eq!(step_up.to_string(), "roles:A&acrs:c1,c2|scopes:x");
        assert_eq!(
            Policy::parse("roles:A&acrs:c1&acrs:c2"),
            Err(PolicyError::TwoContexts("roles:A&acrs:c1&acrs:c2".into())),
            "two contexts would read as both"
        );
        for bad in [
            "",
            "roles",
            "roles:",
            "groups:x",
            "roles:a b",
            "roles:A&",
            "acrs:",
            // Whitespace a token's scopes are split by, and control characters.
            "scopes:a\tb",
            "scopes:a\u{a0}b",
            "roles:a\u{0c}b",
            "acrs:c\u{1}1",
        ] {
            assert!(Policy::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn method_rules_pick_a_policy_per_method() {
        let rules =
            MethodRules::parse("GET,HEAD=scopes:Api.Read;POST,PUT,PATCH,DELETE=scopes:Api.Write")
                .unwrap();
        assert_eq!(rules.for_method("get").to_string(), "scopes:Api.Read");
        assert_eq!(rules.for_method("DELETE").to_string(), "scopes:Api.Write");
        assert_eq!(
            *rules.for_method("OPTIONS"),
            Policy::Deny,
            "no rule: denied"
        );
        assert_eq!(
            rules.to_string(),
            "GET,HEAD=scopes:Api.Read;POST,PUT,PATCH,DELETE=scopes:Api.Write"
        );
        // HEAD follows GET unless it has its own rule; * covers the rest.
        let rules = MethodRules::parse("GET=roles:R; *=authenticated").unwrap();
        assert_eq!(rules.for_method("HEAD").to_string(), "roles:R");
        assert_eq!(rules.for_method("PUT").to_string(), "authenticated");
        // No `=`: the reading methods only; a method that writes needs its own section.
        let bare = MethodRules::parse("roles:A|scopes:b").unwrap();
        assert_eq!(bare.for_method("GET").to_string(), "roles:A|scopes:b");
        assert_eq!(bare.for_method("head").to_string(), "roles:A|scopes:b");
        for write in ["PUT", "POST", "PATCH", "DELETE"] {
            assert_eq!(*bare.for_method(write), Policy::Deny, "{write}");
        }
        assert_eq!(bare.to_string(), "roles:A|scopes:b");
        let declared = ["GET".to_owned(), "HEAD".to_owned(), "PUT".to_owned()];
        assert_eq!(bare.uncovered_by_bare_rule(Some(&declared)), ["PUT"]);
        assert_eq!(
            bare.uncovered_by_bare_rule(None),
            ["POST", "PUT", "PATCH", "DELETE"]
        );
        let sectioned = MethodRules::parse("GET=roles:A").unwrap();
        assert!(sectioned.uncovered_by_bare_rule(Some(&declared)).is_empty());
        let methods = ["GET".to_owned(), "HEAD".to_owned(), "PUT".to_owned()];
        let vault = MethodRules::parse("GET,HEAD=roles:GetSecret;PUT=roles:SetSecret").unwrap();
        assert_eq!(
            vault.describe(Some(&methods)),
            "GET,HEAD -> roles:GetSecret; PUT -> roles:SetSecret"
        );
        for bad in [
            "GET=roles:a;GET=roles:b",
            "GET=roles:a;roles:b",
            "GET,*=roles:a",
            "*=roles:a;*=anonymous",
            "GET=",
            "GET=groups:x",
        ] {
            assert!(MethodRules::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn maps_failures_to_the_catalogue() {
        let vault = Policy::parse("roles:GetSecret").unwrap();
        assert!(vault.check(&who(&["GetSecret"], &[])).is_ok());
        assert_eq!(
            vault.check(&who(&[], &[])).unwrap_err().kind,
            ErrorKind::RolesMissing
        );
        let err = vault.check(&who(&["Other"], &[])).unwrap_err();
        assert_eq!(err.kind, ErrorKind::RoleForbidden);
        assert_eq!(err.detail, Detail::Scope("GetSecret".into()));

        let either = Policy::parse("roles:GetSecret|scopes:Secrets.Read").unwrap();
        assert!(either.check(&who(&[], &["Secrets.Read"])).is_ok());
        assert!(either.check(&who(&["GetSecret"], &[])).is_ok());
        assert_eq!(
            either.check(&who(&[], &["User.Read"])).unwrap_err().kind,
            ErrorKind::ScopeForbidden
        );
        assert_eq!(
            either.check(&who(&[], &[])).unwrap_err().kind,
            ErrorKind::RolesMissing
        );

        let all = Policy::parse("all-scopes:a,b").unwrap();
        assert!(all.check(&who(&[], &["a", "b"])).is_ok());
        assert_eq!(
            all.check(&who(&[], &["a"])).unwrap_err().kind,
            ErrorKind::ScopeForbidden
        );
        assert_eq!(
            Policy::Deny
                .check(&who(&["GetSecret"], &[]))
                .unwrap_err()
                .kind,
            ErrorKind::RoleForbidden
        );
    }
}
