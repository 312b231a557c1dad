//! The key set: an immutable generation of verified signing keys, looked up by `kid` or `x5t`.
//! Plain data, tested without HTTP; the store swaps whole sets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::VerifyingKey;
use super::jwks::FetchedKey;

/// How a token names its signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyRef {
    /// The header's `kid`.
    Kid(String),
    /// The header's `x5t` (certificate thumbprint), for tokens without a `kid`.
    Thumbprint(String),
}

impl KeyRef {
    /// A name for the unknown-key memory; thumbprints and `kid`s never collide.
    pub(super) fn memo(&self) -> String {
        match self {
            KeyRef::Kid(kid) => format!("kid:{kid}"),
            KeyRef::Thumbprint(x5t) => format!("x5t:{x5t}"),
        }
    }
}

/// One verified signing key and what the cache knows of it.
#[derive(Clone)]
pub(crate) struct CachedKey {
    pub(crate) key: Arc<VerifyingKey>,
    /// The key's own `issuer`, when the JWKS names one.
    pub(crate) issuer: Option<String>,
    x5t: Option<String>,
    material: (Vec<u8>, Vec<u8>),
}

impl CachedKey {
    fn same_as(&self, other: &CachedKey) -> bool {
        self.material == other.material && self.issuer == other.issuer && self.x5t == other.x5t
    }
}

/// An immutable generation of the cache: readers hold an `Arc` to it.
#[derive(Clone, Default)]
pub(crate) struct KeySet {
    keys: HashMap<String, CachedKey>,
    /// `x5t` → `kid`, for tokens that name their key by thumbprint.
    thumbprints: HashMap<String, String>,
    /// The discovery document's `issuer` (Entra multi-tenant: contains `{tenantid}`).
    pub(crate) issuer: Option<String>,
    pub(super) fetched_at: Option<Instant>,
    /// Bumped whenever the set of usable keys changes.
    pub(crate) generation: u64,
}

impl KeySet {
    /// Keys and an issuer are present.
    pub(crate) fn is_loaded(&self) -> bool {
        self.issuer.is_some() && !self.keys.is_empty()
    }

    /// The key for `kid`.
    #[cfg(test)]
    pub(crate) fn get(&self, kid: &str) -> Option<&CachedKey> {
        self.keys.get(kid)
    }

    /// How many keys are cached.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key a token names: by `kid`, or by `x5t` (the entry's `x5t`, else a `kid` equal to
    /// it, as Entra's v1 keys use the thumbprint as their `kid`).
    pub(crate) fn find(&self, by: &KeyRef) -> Option<&CachedKey> {
        match by {
            KeyRef::Kid(kid) => self.keys.get(kid),
            KeyRef::Thumbprint(x5t) => self
                .thumbprints
                .get(x5t)
                .and_then(|kid| self.keys.get(kid))
                .or_else(|| self.keys.get(x5t)),
        }
    }

    /// The next generation after a successful fetch at `now`: exactly the fetched keys. The
    /// generation changes when any key appears, disappears, or changes material, `x5t` or
    /// `issuer` under the same `kid`, or when the issuer changes.
    pub(crate) fn replaced(
        &self,
        issuer: String,
        fetched: Vec<FetchedKey>,
        now: Instant,
    ) -> KeySet {
        let mut keys = HashMap::with_capacity(fetched.len());
        let mut thumbprints = HashMap::new();
        for f in fetched {
            if let Some(x5t) = &f.x5t {
                thumbprints.insert(x5t.clone(), f.kid.clone());
            }
            keys.insert(
                f.kid,
                CachedKey {
                    key: Arc::new(f.key),
                    issuer: f.issuer,
                    x5t: f.x5t,
                    material: f.material,
                },
            );
        }
        let unchanged = self.issuer.as_deref() == Some(issuer.as_str())
            && keys.len() == self.keys.len()
            && keys
                .iter()
                .all(|(kid, k)| self.keys.get(kid).is_some_and(|old| old.same_as(k)));
        KeySet {
            generation: if unchanged {
                self.generation
            } else {
                self.generation + 1
            },
            keys,
            thumbprints,
            issuer: Some(issuer),
            fetched_at: Some(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::jwks::rs256_key;
    use std::time::Duration;

    fn fetched(kids: &[&str]) -> Vec<FetchedKey> {
        kids.iter().map(|kid| one(kid, 0xC5, None)).collect()
    }

    fn one(kid: &str, fill: u8, issuer: Option<&str>) -> FetchedKey {
        let n = vec![fill; 256];
        FetchedKey {
            kid: kid.to_string(),
            key: rs256_key(&n, &[1, 0, 1]).unwrap(),
            issuer: issuer.map(str::to_owned),
            x5t: None,
            material: (n, vec![1, 0, 1]),
        }
    }

    fn kids(set: &KeySet) -> Vec<String> {
        let mut k: Vec<String> = set.keys.keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn a_refresh_replaces_the_set_and_withdrawn_keys_are_gone() {
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        let empty = KeySet::default();
        assert!(!empty.is_loaded());
        let g1 = empty.replaced("iss".into(), fetched(&["a", "b"]), t0);
        assert!(g1.is_loaded());
        assert_eq!(g1.generation, 1);
        // b is withdrawn, c published: b stops verifying at once.
        let g2 = g1.replaced("iss".into(), fetched(&["a", "c"]), t0 + hour);
        assert_eq!(kids(&g2), ["a", "c"]);
        assert!(g2.get("b").is_none());
        assert_eq!(g2.generation, 2);
        // Same keys again: same generation, so cached verdicts survive.
        let g3 = g2.replaced("iss".into(), fetched(&["c", "a"]), t0 + 2 * hour);
        assert_eq!(g3.generation, 2);
        assert_eq!(g3.fetched_at, Some(t0 + 2 * hour));
        // Another issuer for the whole set: a new generation.
        let g4 = g3.replaced("other".into(), fetched(&["a", "c"]), t0 + 3 * hour);
        assert_eq!(g4.generation, 3);
    }

    #[test]
    fn new_material_or_issuer_under_the_same_kid_is_a_new_generation() {
        let t0 = Instant::now();
        let g1 = KeySet::default().replaced("iss".into(), vec![one("a", 0xC5, None)], t0);
        let same = g1.replaced("iss".into(), vec![one("a", 0xC5, None)], t0);
        assert_eq!(same.generation, g1.generation);
        let rekeyed = g1.replaced("iss".into(), vec![one("a", 0xC7, None)], t0);
        assert_eq!(rekeyed.generation, g1.generation + 1);
        let rebound = g1.replaced("iss".into(), vec![one("a", 0xC5, Some("https://x/"))], t0);
        assert_eq!(rebound.generation, g1.generation + 1);
    }

    #[test]
    fn thumbprints_find_keys_without_a_kid() {
        let mut with_x5t = one("kid-1", 0xC5, None);
        with_x5t.x5t = Some("thumb-1".into());
        let set = KeySet::default().replaced(
            "iss".into(),
            vec![with_x5t, one("thumb-2", 0xC7, None)],
            Instant::now(),
        );
        let by = |t: &str| {
            set.find(&KeyRef::Thumbprint(t.into()))
                .map(|k| k.material.0[0])
        };
        assert_eq!(by("thumb-1"), Some(0xC5), "the entry's own x5t");
        assert_eq!(by("thumb-2"), Some(0xC7), "a kid equal to the thumbprint");
        assert_eq!(by("thumb-3"), None);
        assert!(set.find(&KeyRef::Kid("thumb-1".into())).is_none());
        assert!(set.find(&KeyRef::Kid("kid-1".into())).is_some());
    }
}
