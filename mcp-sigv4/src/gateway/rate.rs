//! Rate limits per identity: a token bucket per identity on this replica,
//! holding up to its `requests_per_minute` and refilling continuously (the
//! maintained `governor` crate's GCRA). Replicas share nothing: N replicas
//! allow N times the rate.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

use ::http::{HeaderValue, Response, StatusCode};
use serde_json::{Value, json};

use super::caller::Caller;
use super::http::{self, Body};
use crate::protocol::jsonrpc;

/// The most identities whose buckets are kept; past it they are all dropped
/// (and start full again). Identities come only from valid credentials, so
/// this bounds memory without letting an unknown caller reset anyone's bucket.
const MAX_BUCKETS: usize = 100_000;

/// The buckets of the identities seen on this replica.
#[derive(Debug, Default)]
pub(super) struct RateLimits {
    buckets: Mutex<HashMap<(String, u32), Arc<DefaultDirectRateLimiter>>>,
}

impl RateLimits {
    /// Take one request from the caller's bucket: `Err` with how long until
    /// the next one is allowed when it is empty. A caller without a limit is
    /// never refused.
    pub(super) fn take(&self, caller: &Caller) -> Result<(), Duration> {
        let Some(per_minute) = caller.requests_per_minute.and_then(NonZeroU32::new) else {
            return Ok(());
        };
        let bucket = {
            let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (caller.identity.clone(), per_minute.get());
            if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
                buckets.clear();
            }
            buckets
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(DefaultDirectRateLimiter::direct(Quota::per_minute(
                        per_minute,
                    )))
                })
                .clone()
        };
        bucket
            .check()
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
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
        Caller {
            identity: "ci".into(),
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
    fn retry_after_rounds_up() {
        assert_eq!(retry_after(Duration::ZERO), 1);
        assert_eq!(retry_after(Duration::from_millis(10)), 1);
        assert_eq!(retry_after(Duration::from_secs(2)), 2);
        assert_eq!(retry_after(Duration::from_millis(2001)), 3);
    }
}
