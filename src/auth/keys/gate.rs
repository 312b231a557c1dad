//! Whether an unknown `kid` may trigger a refresh: the cooldown, and the memory of `kid`s a
//! refresh proved unknown. Plain data, tested without HTTP.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Most `kid`s remembered as confirmed unknown.
const MAX_REMEMBERED_UNKNOWN: usize = 1024;

/// Whether an unknown `kid` may trigger a refresh: the cooldown and the confirmed-unknown memory.
#[derive(Debug)]
pub(crate) struct UnknownKidGate {
    cooldown: Duration,
    last_refresh: Option<Instant>,
    unknown: HashSet<String>,
    order: VecDeque<String>,
}

impl UnknownKidGate {
    /// A gate allowing one unknown-`kid` refresh per `cooldown`.
    pub(crate) fn new(cooldown: Duration) -> UnknownKidGate {
        UnknownKidGate {
            cooldown,
            last_refresh: None,
            unknown: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// True (and the refresh is recorded) when `kid` may trigger a refresh at `now`.
    pub(crate) fn allow(&mut self, kid: &str, now: Instant) -> bool {
        if self.unknown.contains(kid) {
            return false;
        }
        if self
            .last_refresh
            .is_some_and(|t| now.saturating_duration_since(t) < self.cooldown)
        {
            return false;
        }
        self.last_refresh = Some(now);
        true
    }

    /// Remembers a `kid` that a refresh did not find.
    pub(crate) fn confirm_unknown(&mut self, kid: &str) {
        if kid.len() > 256 || !self.unknown.insert(kid.to_owned()) {
            return;
        }
        self.order.push_back(kid.to_owned());
        while self.order.len() > MAX_REMEMBERED_UNKNOWN {
            if let Some(old) = self.order.pop_front() {
                self.unknown.remove(&old);
            }
        }
    }

    /// Forgets the remembered `kid`s (after a background refresh).
    pub(crate) fn forget_unknown(&mut self) {
        self.unknown.clear();
        self.order.clear();
    }

    /// How many `kid`s are remembered.
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        self.unknown.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_kid_gate_allows_one_refresh_per_cooldown() {
        let t0 = Instant::now();
        let mut gate = UnknownKidGate::new(Duration::from_secs(300));
        assert!(
            gate.allow("x", t0),
            "the first unknown kid refreshes at once"
        );
        assert!(!gate.allow("y", t0 + Duration::from_secs(10)));
        assert!(!gate.allow("y", t0 + Duration::from_secs(299)));
        assert!(gate.allow("y", t0 + Duration::from_secs(300)));
        // A kid confirmed unknown never triggers a refresh again until forgotten.
        gate.confirm_unknown("y");
        assert!(!gate.allow("y", t0 + Duration::from_secs(10_000)));
        assert!(gate.allow("z", t0 + Duration::from_secs(10_000)));
        gate.forget_unknown();
        assert!(gate.allow("y", t0 + Duration::from_secs(20_000)));
        // Memory is bounded.
        for i in 0..5000 {
            gate.confirm_unknown(&format!("k{i}"));
        }
        assert_eq!(gate.remembered(), MAX_REMEMBERED_UNKNOWN);
    }
}
