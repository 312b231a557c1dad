//! Verified tokens, remembered so a caller reusing its token (for about an hour) pays one
//! SHA-256 instead of a full RS256 verification.
//!
//! Keyed by SHA-256 of the whole token (a collision would be a forgery, so no weaker hash);
//! bounded; `exp` and `nbf` re-checked on every hit; forgotten when the signing keys change;
//! failures are never stored. Policies are still checked on every request by the caller.

use std::sync::Arc;

use aws_lc_rs::digest;

use super::token::Identity;

/// One remembered validation.
#[derive(Clone)]
struct Entry {
    identity: Arc<Identity>,
    not_before: Option<i64>,
    generation: u64,
}

/// The cache; capacity zero disables it.
pub struct TokenCache {
    cache: Option<quick_cache::sync::Cache<[u8; 32], Entry>>,
    clock_skew: i64,
}

/// The SHA-256 of a token, computed once per request and used for both lookup and insert.
pub(crate) type CacheKey = [u8; 32];

/// The cache key of `token`.
pub fn key(token: &str) -> CacheKey {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

impl TokenCache {
    /// A cache for `capacity` tokens, re-checking times with `clock_skew`.
    pub fn new(capacity: usize, clock_skew: i64) -> TokenCache {
        TokenCache {
            cache: (capacity > 0).then(|| quick_cache::sync::Cache::new(capacity)),
            clock_skew,
        }
    }

    /// The identity of a token validated before under key-set `generation`, if still in date.
    pub fn get(&self, k: &CacheKey, now: i64, generation: u64) -> Option<Arc<Identity>> {
        let cache = self.cache.as_ref()?;
        let entry = cache.get(k)?;
        if entry.generation != generation {
            // The keys changed: everything remembered was verified against the old set.
            cache.clear();
            return None;
        }
        let expired = now >= entry.identity.expires_at.saturating_add(self.clock_skew);
        let early = entry
            .not_before
            .is_some_and(|nbf| nbf.saturating_sub(self.clock_skew) > now);
        if expired || early {
            cache.remove(k);
            return None;
        }
        Some(entry.identity)
    }

    /// Remembers a token that fully validated under key-set `generation`.
    pub fn insert(
        &self,
        k: CacheKey,
        identity: Arc<Identity>,
        not_before: Option<i64>,
        generation: u64,
    ) {
        if let Some(cache) = &self.cache {
            cache.insert(
                k,
                Entry {
                    identity,
                    not_before,
                    generation,
                },
            );
        }
    }

    /// How many tokens are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    /// True when nothing is remembered.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::TokenVersion;

    fn id(exp: i64) -> Arc<Identity> {
        Arc::new(Identity {
            expires_at: exp,
            ..Identity::empty(TokenVersion::V2)
        })
    }

    #[test]
    fn hits_until_expiry_and_key_change() {
        let c = TokenCache::new(10, 300);
        assert!(c.get(&key("t"), 1000, 1).is_none());
        c.insert(key("t"), id(2000), Some(900), 1);
        assert!(c.get(&key("t"), 1000, 1).is_some());
        assert!(c.get(&key("other"), 1000, 1).is_none());
        // exp is re-checked with the skew.
        assert!(c.get(&key("t"), 2299, 1).is_some());
        assert!(c.get(&key("t"), 2300, 1).is_none());
        assert!(c.is_empty(), "expired entries are dropped");
        // nbf too.
        c.insert(key("n"), id(5000), Some(1500), 1);
        assert!(c.get(&key("n"), 1100, 1).is_none());
        c.insert(key("n"), id(5000), Some(1500), 1);
        assert!(c.get(&key("n"), 1300, 1).is_some());
        // A new key generation forgets everything.
        c.insert(key("a"), id(5000), None, 1);
        assert!(c.get(&key("a"), 1300, 2).is_none());
        assert!(c.get(&key("n"), 1300, 2).is_none());
        assert!(c.is_empty());
    }

    #[test]
    fn bounded_and_disableable() {
        let c = TokenCache::new(100, 0);
        for i in 0..1000 {
            c.insert(key(&format!("t{i}")), id(9999), None, 1);
        }
        assert!(c.len() <= 100, "{}", c.len());
        let off = TokenCache::new(0, 0);
        off.insert(key("t"), id(9999), None, 1);
        assert!(off.get(&key("t"), 1, 1).is_none());
    }
}
