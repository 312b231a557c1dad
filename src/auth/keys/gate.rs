//! Whether an unknown `kid` may trigger a refresh: the cooldown, and the memory of `kid`s a
//! refresh proved unknown. Plain data, tested without HTTP.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Most `kid`s remembered as confirmed unknown.
const MAX_REMEMBERED_UNKNOWN: usize = 1024;

/// Whether an unknown `kid` may trigger a refresh: the cooldown and the confirmed-unknown memory.
///
/// A `kid` is remembered for one cooldown from the refresh that proved it unknown, not until the
/// next background refresh: a key published after that proof (a rollover the proof raced) is
/// tried again once the cooldown has passed, as for any other `kid`.
#[derive(Debug)]
pub(crate) struct UnknownKidGate {
    cooldown: Duration,
    last_refresh: Option<Instant>,
    /// When each remembered `kid` was proved unknown.
    unknown: HashMap<String, Instant>,
    order: VecDeque<String>,
}

impl UnknownKidGate {
    /// A gate allowing one unknown-`kid` refresh per `cooldown`.
    pub(crate) fn new(cooldown: Duration) -> UnknownKidGate {
        UnknownKidGate {
            cooldown,
            last_refresh: None,
            unknown: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// True (and the refresh is recorded) when `kid` may trigger a refresh at `now`.
    pub(crate) fn allow(&mut self, kid: &str, now: Instant) -> bool {
        if self.is_remembered(kid, now) {
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

    /// Whether `kid` was proved unknown less than a cooldown before `now`.
    fn is_remembered(&self, kid: &str, now: Instant) -> bool {
        self.unknown
            .get(kid)
            .is_some_and(|&at| now.saturating_duration_since(at) < self.cooldown)
    }

    /// Remembers a `kid` that a refresh did not find, as of `now`.
    pub(crate) fn confirm_unknown(&mut self, kid: &str, now: Instant) {
        if kid.len() > 256 {
            return;
        }
        if let Some(at) = self.unknown.get_mut(kid) {
            // Already queued for eviction: only the proof's time moves.
            *at = now;
            return;
        }
        self.unknown.insert(kid.to_owned(), now);
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
        // A kid confirmed unknown triggers no refresh while remembered, though others may.
        let proved = t0 + Duration::from_secs(10_000);
        gate.confirm_unknown("y", proved);
        assert!(!gate.allow("y", proved));
        assert!(gate.allow("z", proved));
        gate.forget_unknown();
        assert!(gate.allow("y", t0 + Duration::from_secs(20_000)));
        // Memory is bounded.
        for i in 0..5000 {
            gate.confirm_unknown(&format!("k{i}"), proved);
        }
        assert_eq!(gate.remembered(), MAX_REMEMBERED_UNKNOWN);
    }

    #[test]
    fn a_kid_proved_unknown_is_tried_again_after_the_cooldown() {
        let cooldown = Duration::from_secs(300);
        let t0 = Instant::now();
        let mut gate = UnknownKidGate::new(cooldown);
        assert!(gate.allow("new", t0));
        gate.confirm_unknown("new", t0);
        // Within the cooldown: neither the memory nor the cooldown lets it refresh.
        assert!(!gate.allow("new", t0 + cooldown - Duration::from_millis(1)));
        // The memory expires with the cooldown, not with the next background refresh.
        assert!(gate.allow("new", t0 + cooldown));
        // A fresh proof starts the memory again from its own time.
        let t1 = t0 + cooldown * 3;
        gate.confirm_unknown("new", t1);
        assert!(!gate.allow("new", t1 + cooldown / 2));
        assert!(gate.allow("new", t1 + cooldown));
        assert_eq!(gate.remembered(), 1, "a re-proved kid is not queued twice");
    }
}
