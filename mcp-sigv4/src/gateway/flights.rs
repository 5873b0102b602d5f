//! Single flight: of the requests for the same thing at once, one (the
//! leader) fetches it and the others (followers) wait for its result instead
//! of fetching it again. The list cache uses it so that a burst of identical
//! list requests costs the server one request; the GET of a session uses it so
//! that the session's POSTs wait for its event streams to open
//! ([`Flights::follow`]).
//!
//! A follower never waits longer than its leader lives: the leader's
//! [`Landing`] is dropped when its fetch ends, however it ends (a result, an
//! error, a timeout, its client gone), and a follower whose leader landed
//! nothing learns so at once and can fetch for itself.
//!
//! The map is behind a std `Mutex` held only for a lookup or an insert, never
//! across an await; followers wait on a `tokio::sync::watch` channel of their
//! own flight.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// The fetches in flight, by what they fetch.
#[derive(Debug)]
pub(super) struct Flights<K, V> {
    flying: Arc<Mutex<HashMap<K, watch::Receiver<Option<V>>>>>,
}

impl<K, V> Default for Flights<K, V> {
    fn default() -> Self {
        Self {
            flying: Arc::default(),
        }
    }
}

/// What a request for `key` is to do.
#[derive(Debug)]
pub(super) enum Turn<K: Eq + Hash, V> {
    /// It is there already (the `ready` lookup found it).
    Ready(V),
    /// Fetch it, and land the result for the followers.
    Lead(Landing<K, V>),
    /// Wait for the leader's result.
    Follow(Follower<V>),
}

impl<K: Eq + Hash + Clone, V: Clone> Flights<K, V> {
    /// Look `key` up with `ready` (the cache), and when it has nothing, join
    /// the flight for `key` or start one. `ready` runs under the map's lock,
    /// so a request never misses both a result its leader just kept and the
    /// leader's flight.
    pub(super) fn join(&self, key: &K, ready: impl FnOnce() -> Option<V>) -> Turn<K, V> {
        let mut flying = self.flying.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = ready() {
            return Turn::Ready(value);
        }
        if let Some(landed) = flying.get(key) {
            return Turn::Follow(Follower(landed.clone()));
        }
        let (sender, landed) = watch::channel(None);
        flying.insert(key.clone(), landed);
        Turn::Lead(Landing {
            flying: self.flying.clone(),
            key: key.clone(),
            sender,
        })
    }
}

impl<K: Eq + Hash, V> Flights<K, V> {
    /// The flight for `key`, if one is in the air, to wait for it without
    /// starting one.
    pub(super) fn follow(&self, key: &K) -> Option<Follower<V>> {
        self.flying
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .map(|landed| Follower(landed.clone()))
    }
}

/// A leader's hold on its flight: [`land`](Self::land) hands the followers
/// the result; dropping it ends the flight, landed or not.
#[derive(Debug)]
pub(super) struct Landing<K: Eq + Hash, V> {
    flying: Arc<Mutex<HashMap<K, watch::Receiver<Option<V>>>>>,
    key: K,
    sender: watch::Sender<Option<V>>,
}

impl<K: Eq + Hash, V> Landing<K, V> {
    /// Give the followers `value`.
    pub(super) fn land(&self, value: V) {
        self.sender.send_replace(Some(value));
    }
}

impl<K: Eq + Hash, V> Drop for Landing<K, V> {
    fn drop(&mut self) {
        // The entry for `key` is this flight's: one is inserted only where
        // there is none, and only its landing removes it.
        self.flying
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

/// A follower's wait for its leader.
#[derive(Debug)]
pub(super) struct Follower<V>(watch::Receiver<Option<V>>);

impl<V: Clone> Follower<V> {
    /// The leader's result, or `None` once the leader is done without one.
    pub(super) async fn landed(mut self) -> Option<V> {
        let landed = self.0.wait_for(Option::is_some).await.ok()?;
        landed.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_get_the_leaders_result_or_none_when_it_lands_nothing() {
        let flights = Flights::<&str, u32>::default();
        let Turn::Lead(landing) = flights.join(&"k", || None) else {
            panic!("the first request leads");
        };
        let Turn::Follow(follower) = flights.join(&"k", || None) else {
            panic!("the second one follows");
        };
        assert!(matches!(flights.join(&"other", || None), Turn::Lead(_)));
        landing.land(7);
        // Landed before the follower looked: it still gets it.
        assert_eq!(follower.landed().await, Some(7));
        drop(landing);

        // A leader dropped without a result lets its followers go.
        let Turn::Lead(landing) = flights.join(&"k", || None) else {
            panic!("the flight ended with its landing");
        };
        let Turn::Follow(follower) = flights.join(&"k", || None) else {
            panic!("a follower");
        };
        drop(landing);
        assert_eq!(follower.landed().await, None);

        // What `ready` finds is served without any flight.
        assert!(matches!(flights.join(&"k", || Some(1)), Turn::Ready(1)));

        // Following starts no flight, and finds the one in the air.
        assert!(flights.follow(&"k").is_none());
        let Turn::Lead(landing) = flights.join(&"k", || None) else {
            panic!("following started no flight");
        };
        let follower = flights.follow(&"k").expect("the flight in the air");
        landing.land(3);
        assert_eq!(follower.landed().await, Some(3));
    }
}
