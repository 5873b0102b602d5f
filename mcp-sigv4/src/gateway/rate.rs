//! Rate limits per identity: a token bucket per identity on this replica,
//! holding up to its `requests_per_minute` and refilling continuously (the
//! maintained `governor` crate's GCRA). Replicas share nothing: N replicas
//! allow N times the rate.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

use ::http::{HeaderValue, Response, StatusCode};
use serde_json::{Value, json};

use super::caller::{Caller, Kind};
use super::http::{self, Body};
use crate::protocol::jsonrpc;

/// The most identities whose buckets are kept. Past it, a new identity's
/// bucket takes the place of buckets full again (idle for a minute: dropping
/// one loses nothing), else of the least recently used one; never does one
/// identity's arrival reset everyone's limits.
const MAX_BUCKETS: usize = 100_000;

/// How long an emptied bucket takes to fill again: a per-minute quota
/// refills in a minute.
const REFILL: Duration = Duration::from_secs(60);

/// An identity's bucket, and when it was last taken from.
#[derive(Debug)]
struct Bucket {
    limiter: Arc<DefaultDirectRateLimiter>,
    used: Instant,
}

/// The buckets of the identities seen on this replica.
#[derive(Debug)]
pub(super) struct RateLimits {
    buckets: Mutex<HashMap<(Kind, String, u32), Bucket>>,
    max: usize,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self::with_capacity(MAX_BUCKETS)
    }
}

impl RateLimits {
    fn with_capacity(max: usize) -> Self {
        Self {
            buckets: Mutex::default(),
            max: max.max(1),
        }
    }

    /// Take one request from the caller's bucket: `Err` with how long until
    /// the next one is allowed when it is empty. A caller without a limit is
    /// never refused.
    pub(super) fn take(&self, caller: &Caller) -> Result<(), Duration> {
        self.take_at(caller, Instant::now())
    }

    fn take_at(&self, caller: &Caller, now: Instant) -> Result<(), Duration> {
        let Some(per_minute) = caller.requests_per_minute.and_then(NonZeroU32::new) else {
            return Ok(());
        };
        let limiter = {
            let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (caller.kind, caller.identity.clone(), per_minute.get());
            if buckets.len() >= self.max && !buckets.contains_key(&key) {
                make_room(&mut buckets, self.max, now);
            }
            let bucket = buckets.entry(key).or_insert_with(|| Bucket {
                limiter: Arc::new(DefaultDirectRateLimiter::direct(Quota::per_minute(
                    per_minute,
                ))),
                used: now,
            });
            bucket.used = bucket.used.max(now);
            bucket.limiter.clone()
        };
        limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Drop the buckets that are full again; if that frees no room below `max`,
/// the least recently used one.
fn make_room<K: Clone + Eq + std::hash::Hash>(
    buckets: &mut HashMap<K, Bucket>,
    max: usize,
    now: Instant,
) {
    buckets.retain(|_, bucket| now.saturating_duration_since(bucket.used) < REFILL);
    if buckets.len() < max {
        return;
    }
    let oldest = buckets
        .iter()
        .min_by_key(|(_, bucket)| bucket.used)
        .map(|(key, _)| key.clone());
    if let Some(oldest) = oldest {
        buckets.remove(&oldest);
    }
}

/// A `Retry-After` value: whole seconds, at least 1.
pub(super) fn retry_after(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

const OVER: &str = "this identity is over its rate limit (requests_per_minute of its general_settings.keys entry or access rule); retry after the seconds Retry-After gives";

/// 429 with `Retry-After`, for a request over its caller's limit.
pub(super) fn too_many(wait: Duration) -> Response<Body> {
    let seconds = retry_after(wait);
    let mut response = http::error(StatusCode::TOO_MANY_REQUESTS, OVER);
    response
        .headers_mut()
        .insert(::http::header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The JSON-RPC error for a message of a batch over its caller's limit.
pub(super) fn too_many_error(id: &Value, wait: Duration) -> Value {
    jsonrpc::error(
        id,
        jsonrpc::RATE_LIMITED,
        OVER,
        Some(json!({"source": "gateway", "retryAfter": retry_after(wait)})),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::caller::Grants;

    fn caller(per_minute: Option<u32>) -> Caller {
        named("ci", per_minute)
    }

    fn named(name: &str, per_minute: Option<u32>) -> Caller {
        Caller {
            identity: name.into(),
            kind: Kind::Key,
            rule: Some("ci".into()),
            grants: Grants::All,
            requests_per_minute: per_minute,
        }
    }

    #[test]
    fn a_bucket_holds_the_per_minute_count() {
        let limits = RateLimits::default();
        for _ in 0..3 {
            assert!(limits.take(&caller(Some(3))).is_ok());
        }
        let wait = limits.take(&caller(Some(3))).unwrap_err();
        assert!(wait <= Duration::from_secs(20), "{wait:?}");
        assert!(retry_after(wait) >= 1);
        for _ in 0..10 {
            assert!(limits.take(&caller(None)).is_ok());
        }
    }

    #[test]
    fn a_full_table_drops_one_bucket_never_everyones() {
        let limits = RateLimits::with_capacity(2);
        let start = Instant::now();
        let (idle, busy, new) = (
            named("idle", Some(3)),
            named("busy", Some(3)),
            named("new", Some(3)),
        );
        assert!(limits.take_at(&idle, start).is_ok());
        for _ in 0..3 {
            assert!(limits.take_at(&busy, start).is_ok());
        }
        assert!(limits.take_at(&busy, start).is_err());
        // A third identity takes the least recently used bucket's place; the
        // emptied one stays empty.
        let later = start + Duration::from_secs(1);
        assert!(limits.take_at(&busy, later).is_err());
        assert!(limits.take_at(&new, later).is_ok());
        assert!(limits.take_at(&busy, later).is_err());
        assert_eq!(limits.buckets.lock().unwrap().len(), 2);
        // Buckets idle for a minute are full again: they make room first.
        let much_later = later + REFILL;
        let other = named("other", Some(3));
        assert!(limits.take_at(&other, much_later).is_ok());
        assert_eq!(limits.buckets.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_key_named_like_an_oauth_identity_has_a_bucket_of_its_own() {
        let limits = RateLimits::default();
        let key = named("https://idp u-1", Some(1));
        let mut oauth = named("https://idp u-1", Some(1));
        oauth.kind = Kind::OAuth;
        assert!(limits.take(&key).is_ok());
        assert!(limits.take(&key).is_err());
        assert!(limits.take(&oauth).is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after(Duration::ZERO), 1);
        assert_eq!(retry_after(Duration::from_millis(10)), 1);
        assert_eq!(retry_after(Duration::from_secs(2)), 2);
        assert_eq!(retry_after(Duration::from_millis(2001)), 3);
    }
}
