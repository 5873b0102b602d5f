//! Tokens already checked, so that a client's next request with the same token
//! costs a hash rather than a signature verification.
//!
//! An entry is keyed by the SHA-256 of the route's resource and the whole
//! token, holds only a token that passed every check for that resource, and
//! lasts until the token's `exp` (plus the leeway) or [`MAX_AGE`], whichever is
//! first. At most [`MAX_ENTRIES`] are kept: when full, the expired ones go, and
//! if none has, all of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::token::{LEEWAY_SECONDS, Verified};

/// The longest a checked token is trusted without being checked again, in
/// seconds: a key the issuer withdraws stops its tokens within this.
pub(super) const MAX_AGE: u64 = 60;
/// The most tokens kept.
pub(super) const MAX_ENTRIES: usize = 4096;

/// A checked token's claims and until when (Unix seconds) they are trusted.
type Entry = (u64, Arc<Verified>);

#[derive(Default)]
pub(super) struct Checked {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checked").finish_non_exhaustive()
    }
}

/// The key of `token` on the route whose resource is `resource`.
pub(super) fn key(resource: &str, token: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(resource.as_bytes());
    hasher.update([0]);
    hasher.update(token.as_bytes());
    hasher.finalize().into()
}

impl Checked {
    /// The claims of a token checked before, if still trusted at `now` (Unix seconds).
    pub(super) fn get(&self, key: &[u8; 32], now: u64) -> Option<Arc<Verified>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (until, verified) = entries.get(key)?;
        (now < *until).then(|| verified.clone())
    }

    /// Keep `verified`, checked at `now`.
    pub(super) fn put(&self, key: [u8; 32], verified: Arc<Verified>, now: u64) {
        let exp = verified
            .claims
            .get("exp")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let until = exp.saturating_add(LEEWAY_SECONDS).min(now + MAX_AGE);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (until, _)| now < *until);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (until, verified));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(exp: u64) -> Arc<Verified> {
        let claims = serde_json::json!({"exp": exp})
            .as_object()
            .cloned()
            .unwrap();
        Arc::new(Verified {
            iss: "i".into(),
            sub: "s".into(),
            claims,
        })
    }

    #[test]
    fn an_entry_lasts_until_exp_with_leeway_or_a_minute_and_is_per_route() {
        let checked = Checked::default();
        let (now, route) = (1_000_000, "https://m/mcp");
        // Expired 30 s ago: trusted for the 30 s of leeway left.
        let exp = now - 30;
        checked.put(key(route, "t1"), verified(exp), now);
        assert!(
            checked
                .get(&key(route, "t1"), exp + LEEWAY_SECONDS - 1)
                .is_some()
        );
        assert!(
            checked
                .get(&key(route, "t1"), exp + LEEWAY_SECONDS)
                .is_none()
        );
        assert!(
            checked
                .get(&key("https://m/mcp/other", "t1"), now)
                .is_none()
        );
        assert!(checked.get(&key(route, "t2"), now).is_none());
        checked.put(key(route, "long"), verified(now + 3600), now);
        assert!(
            checked
                .get(&key(route, "long"), now + MAX_AGE - 1)
                .is_some()
        );
        assert!(checked.get(&key(route, "long"), now + MAX_AGE).is_none());
    }

    #[test]
    fn it_never_holds_more_than_its_bound() {
        let checked = Checked::default();
        for i in 0..(MAX_ENTRIES * 2 + 3) {
            checked.put(key("r", &i.to_string()), verified(2_000_000), 1_000_000);
        }
        assert!(checked.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
