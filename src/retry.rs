//! A [`tower::retry::Policy`](https://docs.rs/tower/0.5/tower/retry/trait.Policy.html) for signed MCP traffic: throttling and transient
//! failures are retried with exponential backoff and full jitter, within a number
//! of attempts and a total time budget.
//!
//! - 429 and 503 are retried, honouring `Retry-After` (seconds or an HTTP date).
//! - Connection failures (refused, reset, timed out) are retried.
//! - 500, 502 and 504 are retried only for requests marked [`RetrySafe`]: a
//!   JSON-RPC `tools/call` may have side effects, so it is not repeated blindly.
//! - Signing errors ([`crate::Error`]) are never retried: they would fail again.
//!
//! The retry layer must sit **outside** the signing layer, so every attempt is
//! signed afresh with a new date:
//!
//! ```
//! use std::time::Duration;
//! use aws_credential_types::Credentials;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::ServiceBuilder;
//! use tower::retry::RetryLayer;
//! use tower_sigv4::SigV4Layer;
//! use tower_sigv4::retry::RetryPolicy;
//!
//! # fn demo() -> Result<(), tower_sigv4::Error> {
//! let signing = SigV4Layer::for_endpoint("https://aws-mcp.us-east-1.api.aws/mcp")
//!     .credentials(Credentials::new("AKID", "SECRET", None, None, "example"))
//!     .build()?;
//! let policy = RetryPolicy::default()
//!     .max_attempts(4)
//!     .budget(Duration::from_secs(20));
//! let service = ServiceBuilder::new()
//!     .layer(RetryLayer::new(policy)) // outside: each attempt is signed again
//!     .layer(signing)
//!     .service(tower::service_fn(|req: http::Request<Full<Bytes>>| async move {
//!         Ok::<_, tower_sigv4::BoxError>(http::Response::new(req.into_body()))
//!     }));
//! # let _ = service;
//! # Ok(()) }
//! ```

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, Request, Response, StatusCode};

use crate::error::BoxError;

/// Mark a request as safe to repeat after a 500, 502 or 504, by inserting this
/// into its extensions (for example for `tools/list` or `initialize`).
///
/// ```
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(tower_sigv4::retry::RetrySafe);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetrySafe;

/// The retry policy. Clone it per client; tower clones it per request.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    max_attempts: u32,
    budget: Duration,
    base_delay: Duration,
    max_delay: Duration,
    // Per request: set when the first attempt starts.
    started: Option<Instant>,
    attempts: u32,
}

impl Default for RetryPolicy {
    /// 3 attempts, a 30 s budget, backoff from 100 ms up to 5 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            budget: Duration::from_secs(30),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            started: None,
            attempts: 0,
        }
    }
}

impl RetryPolicy {
    /// No retries at all: one attempt.
    pub fn none() -> Self {
        Self::default().max_attempts(1)
    }

    /// Attempts in all, the first included (default 3; at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// Total time from the first attempt after which no retry starts (default 30 s).
    /// A `Retry-After` that would end past the budget is not waited for.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The first backoff's upper bound (default 100 ms); it doubles per attempt.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The largest backoff (default 5 s).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The delay before the next attempt, or `None` to stop. `attempt` counts the
    /// attempts made so far (1 after the first).
    fn next_delay(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let delay = match retry_after {
            Some(delay) => delay,
            None => {
                let cap = self
                    .base_delay
                    .saturating_mul(1u32 << (attempt - 1).min(20))
                    .min(self.max_delay);
                full_jitter(cap)
            }
        };
        let elapsed = self.started.map_or(Duration::ZERO, |s| s.elapsed());
        (elapsed + delay <= self.budget).then_some(delay)
    }
}

/// What kind of failure a result is, for retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Throttled,
    Transient,
    ServerError,
    Connect,
}

fn classify_status(status: StatusCode) -> Option<Failure> {
    match status {
        StatusCode::TOO_MANY_REQUESTS => Some(Failure::Throttled),
        StatusCode::SERVICE_UNAVAILABLE => Some(Failure::Transient),
        StatusCode::INTERNAL_SERVER_ERROR
        | StatusCode::BAD_GATEWAY
        | StatusCode::GATEWAY_TIMEOUT => Some(Failure::ServerError),
        _ => None,
    }
}

/// Whether `err` is a failure to connect (refused, reset, timed out): worth retrying.
pub fn is_connect_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.is::<crate::Error>() {
            return false;
        }
        #[cfg(feature = "rmcp-connect")]
        if e.downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some_and(|e| e.is_connect())
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | TimedOut
            ) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// `Retry-After` as a delay: delta-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

fn full_jitter(cap: Duration) -> Duration {
    if cap.is_zero() {
        return cap;
    }
    let random = RandomState::new().hash_one(Instant::now());
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(random % nanos.saturating_add(1))
}

type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

impl<B, ResBody, E> tower::retry::Policy<Request<B>, Response<ResBody>, E> for RetryPolicy
where
    B: Clone,
    E: Into<BoxError> + AsRef<dyn std::error::Error + Send + Sync> + 'static,
{
    type Future = Sleep;

    fn retry(
        &mut self,
        request: &mut Request<B>,
        result: &mut Result<Response<ResBody>, E>,
    ) -> Option<Self::Future> {
        self.attempts += 1;
        let safe = request.extensions().get::<RetrySafe>().is_some();
        let (failure, retry_after) = match result {
            Ok(response) => (
                classify_status(response.status())?,
                retry_after(response.headers(), SystemTime::now()),
            ),
            Err(err) => {
                let err: &(dyn std::error::Error + 'static) = err.as_ref();
                is_connect_error(err).then_some((Failure::Connect, None))?
            }
        };
        if failure == Failure::ServerError && !safe {
            return None;
        }
        let delay = self.next_delay(self.attempts, retry_after)?;
        tracing::info!(
            attempt = self.attempts,
            ?failure,
            delay_ms = delay.as_millis() as u64,
            uri = %request.uri(),
            "retrying request"
        );
        Some(Box::pin(tokio::time::sleep(delay)))
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        self.started.get_or_insert_with(Instant::now);
        Some(request.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        headers.insert("retry-after", later.parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn backoff_is_capped_and_jittered_within_bounds() {
        let policy = RetryPolicy::default()
            .max_attempts(10)
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(800));
        for attempt in 1..10 {
            let cap =
                Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_millis(800));
            let delay = policy.next_delay(attempt, None).unwrap();
            assert!(delay <= cap, "attempt {attempt}: {delay:?} > {cap:?}");
        }
        assert_eq!(policy.next_delay(10, None), None);
    }

    #[test]
    fn budget_stops_a_long_retry_after() {
        let mut policy = RetryPolicy::default().budget(Duration::from_secs(5));
        policy.started = Some(Instant::now());
        assert_eq!(policy.next_delay(1, Some(Duration::from_secs(60))), None);
        assert_eq!(
            policy.next_delay(1, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
    }
}
