//! A [`tower::retry::Policy`](https://docs.rs/tower/0.5/tower/retry/trait.Policy.html) for signed MCP traffic: throttling and transient
//! failures are retried with exponential backoff and full jitter, within a number
//! of attempts and a total time budget.
//!
//! - 429 and 503 are retried, honouring `Retry-After` (seconds or an HTTP date).
//! - Failures before the request could reach the server ([`is_connect_error`]:
//!   connection refused, DNS, TCP connect timeout, TLS handshake, proxy tunnel)
//!   are retried for any request.
//! - Failures after the request may have reached the server
//!   ([`is_interrupted_error`]: the connection reset or closed before the
//!   response, a response that did not start in time) and 500, 502 and 504 are
//!   retried only for requests marked [`RetrySafe`]: a JSON-RPC `tools/call` may
//!   have side effects, so it is not repeated blindly.
//! - Signing errors ([`crate::Error`]) are never retried: they would fail again.
//!
//! The backoff is tower's
//! [`ExponentialBackoff`]: it starts at
//! [`base_delay`](RetryPolicy::base_delay), doubles per attempt up to
//! [`max_delay`](RetryPolicy::max_delay), and adds up to 100 % random jitter. The
//! time [`budget`](RetryPolicy::budget) counts from the start of each request's
//! first attempt: one policy shared by every request of a long-lived client (a
//! cloned `Retry`, or one behind `tower::buffer::Buffer`) gives every request the
//! whole budget.
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

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Request, Response, StatusCode};
use tokio::time::Instant;
use tower::retry::backoff::{Backoff, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use tower::util::rng::HasherRng;

use crate::error::BoxError;

/// Mark a request as safe to repeat after a 500, 502 or 504, or after a
/// connection that broke once the request was sent, by inserting this into its
/// extensions (for example for `tools/list` or `initialize`).
///
/// ```
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(tower_sigv4::retry::RetrySafe);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetrySafe;

/// When the first attempt of a request started: carried in the extensions of the
/// copy tower keeps for retrying, so it belongs to that one request.
#[derive(Clone, Copy, Debug)]
struct FirstAttempt(Instant);

/// The retry policy. Clone it per client; tower clones it per request, and the
/// state of a request (its attempts, backoff and start time) lives only in that
/// clone.
#[derive(Clone, Debug)]
#[must_use = "a policy does nothing until a `RetryLayer` or builder is given it"]
pub struct RetryPolicy {
    max_attempts: u32,
    budget: Duration,
    base_delay: Duration,
    max_delay: Duration,
    backoff: Option<ExponentialBackoffMaker>,
    on_retry: Option<Hook>,
    // Per request: only the clone tower makes for one request changes these.
    attempts: u32,
    request_backoff: Option<ExponentialBackoff>,
}

impl Default for RetryPolicy {
    /// 3 attempts, a 30 s budget, backoff from 100 ms up to 5 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            budget: Duration::from_secs(30),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            backoff: None,
            on_retry: None,
            attempts: 0,
            request_backoff: None,
        }
        .with_backoff()
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

    /// Total time from the start of a request's first attempt after which no retry
    /// of it starts (default 30 s). A backoff or `Retry-After` that would end past
    /// the budget is not waited for.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The first backoff (default 100 ms); it doubles per attempt, plus up to
    /// 100 % jitter. Clamped to [`max_delay`](Self::max_delay).
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self.with_backoff()
    }

    /// The largest backoff (default 5 s). Zero retries at once.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self.with_backoff()
    }

    /// Call `hook` before each retry, with the reason for it: to count retries
    /// in a metric, say. It runs on the request's task, so keep it short. Every
    /// retry is also recorded on the current `tracing` span as
    /// `http.request.resend_count` (OpenTelemetry's name), when the span has
    /// that field.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use tower_sigv4::retry::{RetryPolicy, RetryReason};
    ///
    /// let throttled = Arc::new(AtomicU64::new(0));
    /// let counter = throttled.clone();
    /// let policy = RetryPolicy::default().on_retry(move |reason| {
    ///     if reason == RetryReason::Throttled {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// });
    /// # let _ = policy;
    /// ```
    pub fn on_retry(mut self, hook: impl Fn(RetryReason) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Hook(Arc::new(hook)));
        self
    }

    /// tower's backoff for these bounds; `None` when every delay is zero (tower
    /// refuses a zero maximum).
    fn with_backoff(mut self) -> Self {
        let min = self.base_delay.min(self.max_delay);
        self.backoff =
            ExponentialBackoffMaker::new(min, self.max_delay, 1.0, HasherRng::default()).ok();
        self
    }

    /// The next backoff of this request, as a sleep.
    fn next_backoff(&mut self) -> tokio::time::Sleep {
        let Some(maker) = &mut self.backoff else {
            return tokio::time::sleep(Duration::ZERO);
        };
        self.request_backoff
            .get_or_insert_with(|| maker.make_backoff())
            .next_backoff()
    }

    /// The sleep before the next attempt, or `None` to stop. `started` is when the
    /// request's first attempt started.
    fn next_sleep(
        &mut self,
        started: Instant,
        retry_after: Option<Duration>,
    ) -> Option<tokio::time::Sleep> {
        if self.attempts >= self.max_attempts {
            return None;
        }
        let sleep = match retry_after {
            Some(delay) => tokio::time::sleep(delay),
            None => self.next_backoff(),
        };
        let deadline = started.checked_add(self.budget)?;
        (sleep.deadline() <= deadline).then_some(sleep)
    }
}

/// Why a request was retried: what the attempt before it ran into. Given to
/// the [`on_retry`](RetryPolicy::on_retry) hook, e.g. to count retries by reason.
///
/// ```
/// use tower_sigv4::retry::RetryReason;
/// assert_eq!(RetryReason::Throttled.as_str(), "throttled");
/// assert_eq!(RetryReason::Unavailable.to_string(), "unavailable");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryReason {
    /// 429 Too Many Requests.
    Throttled,
    /// 503 Service Unavailable.
    Unavailable,
    /// 500, 502 or 504, for a request marked [`RetrySafe`].
    ServerError,
    /// The connection could not be set up ([`is_connect_error`]).
    Connect,
    /// The connection broke, or the response did not start in time, after the
    /// request may have been sent ([`is_interrupted_error`]), for a request
    /// marked [`RetrySafe`].
    Interrupted,
}

impl RetryReason {
    /// A short lower-case name, for a metric label or a log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::Unavailable => "unavailable",
            Self::ServerError => "server_error",
            Self::Connect => "connect",
            Self::Interrupted => "interrupted",
        }
    }

    /// Whether a request not marked [`RetrySafe`] may be repeated after this.
    fn retries_any_request(self) -> bool {
        matches!(self, Self::Throttled | Self::Unavailable | Self::Connect)
    }
}

impl std::fmt::Display for RetryReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The function [`RetryPolicy::on_retry`] calls before each retry.
#[derive(Clone)]
struct Hook(Arc<dyn Fn(RetryReason) + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

fn classify_status(status: StatusCode) -> Option<RetryReason> {
    match status {
        StatusCode::TOO_MANY_REQUESTS => Some(RetryReason::Throttled),
        StatusCode::SERVICE_UNAVAILABLE => Some(RetryReason::Unavailable),
        StatusCode::INTERNAL_SERVER_ERROR
        | StatusCode::BAD_GATEWAY
        | StatusCode::GATEWAY_TIMEOUT => Some(RetryReason::ServerError),
        _ => None,
    }
}

fn classify_error(err: &(dyn std::error::Error + 'static)) -> Option<RetryReason> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.is::<crate::Error>() {
            return None;
        }
        #[cfg(feature = "rmcp-connect")]
        if let Some(e) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            // Everything the connector reports (DNS, TCP, proxy tunnel, TLS
            // handshake) happened before a byte of the request was sent.
            if e.is_connect() {
                return Some(RetryReason::Connect);
            }
        }
        #[cfg(feature = "rmcp-connect")]
        if let Some(e) = e.downcast_ref::<hyper::Error>() {
            // The request was handed to a connection: it may have been sent.
            if e.is_incomplete_message() || e.is_canceled() || e.is_closed() || e.is_timeout() {
                return Some(RetryReason::Interrupted);
            }
        }
        if e.is::<tower::timeout::error::Elapsed>() {
            return Some(RetryReason::Interrupted);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused => return Some(RetryReason::Connect),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected
                | TimedOut => return Some(RetryReason::Interrupted),
                _ => {}
            }
        }
        current = e.source();
    }
    None
}

/// Whether `err` is a failure before the request could reach the server
/// (connection refused, DNS, TCP connect timeout, TLS handshake, proxy tunnel):
/// safe to retry for any request.
///
/// A connection that breaks after the request was written is not one of these:
/// see [`is_interrupted_error`].
pub fn is_connect_error(err: &(dyn std::error::Error + 'static)) -> bool {
    classify_error(err) == Some(RetryReason::Connect)
}

/// Whether `err` is a failure after the request may have reached the server: the
/// connection was reset or closed before the response (hyper's incomplete
/// message, canceled or closed), or the response did not start within the
/// timeout. The policy retries these only for requests marked [`RetrySafe`].
///
/// hyper's errors are recognised with feature `rmcp-connect`; without it, I/O
/// errors and `tower::timeout` are.
pub fn is_interrupted_error(err: &(dyn std::error::Error + 'static)) -> bool {
    classify_error(err) == Some(RetryReason::Interrupted)
}

/// `Retry-After` as a delay: delta-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
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
        let (failure, retry_after) = match result {
            Ok(response) => (
                classify_status(response.status())?,
                retry_after(response.headers(), SystemTime::now()),
            ),
            Err(err) => {
                let err: &(dyn std::error::Error + 'static) = err.as_ref();
                (classify_error(err)?, None)
            }
        };
        if !failure.retries_any_request() && request.extensions().get::<RetrySafe>().is_none() {
            return None;
        }
        let started = request
            .extensions()
            .get::<FirstAttempt>()
            .map_or_else(Instant::now, |first| first.0);
        let sleep = self.next_sleep(started, retry_after)?;
        tracing::Span::current().record("http.request.resend_count", self.attempts);
        if let Some(hook) = &self.on_retry {
            (hook.0)(failure);
        }
        tracing::info!(
            attempt = self.attempts,
            reason = %failure,
            delay_ms = sleep.deadline().saturating_duration_since(Instant::now()).as_millis() as u64,
            uri = %crate::endpoint::redact_query(&request.uri().to_string()),
            "retrying request"
        );
        Some(Box::pin(sleep))
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        // Called on the service's policy for a new request, and on the request's
        // own clone before each retry: the start time travels with the request,
        // never in a policy that outlives it.
        let mut clone = request.clone();
        if clone.extensions().get::<FirstAttempt>().is_none() {
            clone.extensions_mut().insert(FirstAttempt(Instant::now()));
        }
        Some(clone)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tower::{Service, ServiceExt};

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

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_within_the_jitter_and_the_cap() {
        let mut policy = RetryPolicy::default()
            .max_attempts(10)
            .budget(Duration::from_secs(3600))
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(800));
        let started = Instant::now();
        for attempt in 1..10u32 {
            policy.attempts = attempt;
            let base = Duration::from_millis(100 << (attempt - 1).min(3));
            let sleep = policy.next_sleep(started, None).unwrap();
            let delay = sleep.deadline() - Instant::now();
            let most = (base * 2).min(Duration::from_millis(800));
            assert!(
                base <= delay && delay <= most,
                "attempt {attempt}: {delay:?} not in {base:?}..={most:?}"
            );
        }
        policy.attempts = 10;
        assert!(policy.next_sleep(started, None).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn budget_stops_a_long_retry_after() {
        let mut policy = RetryPolicy::default().budget(Duration::from_secs(5));
        policy.attempts = 1;
        let started = Instant::now();
        assert!(
            policy
                .next_sleep(started, Some(Duration::from_secs(60)))
                .is_none()
        );
        let sleep = policy
            .next_sleep(started, Some(Duration::from_secs(1)))
            .unwrap();
        assert_eq!(sleep.deadline(), started + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_delays_retry_at_once() {
        let mut policy = RetryPolicy::default()
            .base_delay(Duration::ZERO)
            .max_delay(Duration::ZERO);
        policy.attempts = 1;
        let started = Instant::now();
        let sleep = policy.next_sleep(started, None).unwrap();
        assert_eq!(sleep.deadline(), started);
    }

    /// A service that always answers 503 and counts its calls.
    fn unavailable(
        calls: Arc<AtomicUsize>,
    ) -> impl Service<
        Request<()>,
        Response = Response<()>,
        Error = BoxError,
        Future = impl Future<Output = Result<Response<()>, BoxError>> + Send,
    > + Clone {
        tower::service_fn(move |_request: Request<()>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                let mut response = Response::new(());
                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                Ok::<_, BoxError>(response)
            }
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_reused_retry_service_gives_every_request_the_whole_budget() {
        let calls = Arc::new(AtomicUsize::new(0));
        let policy = RetryPolicy::default()
            .max_attempts(2)
            .budget(Duration::from_secs(30));
        let mut service = tower::retry::Retry::new(policy, unavailable(calls.clone()));

        let response = service.ready().await.unwrap().call(Request::new(())).await;
        assert_eq!(response.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "the first request is retried"
        );

        // Long after the first request's budget: a new request gets its own.
        tokio::time::advance(Duration::from_secs(120)).await;
        let response = service.ready().await.unwrap().call(Request::new(())).await;
        assert_eq!(response.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            4,
            "the second request is retried"
        );

        // A clone of the service, as `Buffer` or a cloned client holds, too.
        tokio::time::advance(Duration::from_secs(120)).await;
        let response = service.clone().oneshot(Request::new(())).await;
        assert_eq!(response.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            6,
            "a clone's request is retried"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_hook_hears_each_retry_and_its_reason() {
        let calls = Arc::new(AtomicUsize::new(0));
        let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = heard.clone();
        let policy = RetryPolicy::default()
            .max_attempts(3)
            .on_retry(move |reason| log.lock().unwrap().push(reason));
        let service = tower::retry::Retry::new(policy, unavailable(calls.clone()));
        let response = service.oneshot(Request::new(())).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(
            *heard.lock().unwrap(),
            [RetryReason::Unavailable, RetryReason::Unavailable],
            "two retries after the first attempt"
        );
    }

    #[test]
    fn connect_and_interrupted_errors_are_told_apart() {
        use std::io::{Error as IoError, ErrorKind};
        let refused = IoError::from(ErrorKind::ConnectionRefused);
        assert!(is_connect_error(&refused));
        assert!(!is_interrupted_error(&refused));
        for kind in [
            ErrorKind::ConnectionReset,
            ErrorKind::ConnectionAborted,
            ErrorKind::BrokenPipe,
            ErrorKind::UnexpectedEof,
            ErrorKind::TimedOut,
        ] {
            let err = IoError::from(kind);
            assert!(!is_connect_error(&err), "{kind:?}");
            assert!(is_interrupted_error(&err), "{kind:?}");
        }
        let elapsed: BoxError = tower::timeout::error::Elapsed::new().into();
        assert!(is_interrupted_error(&*elapsed));
        let signing = crate::error::config(crate::ConfigErrorKind::NoRegion, "no region");
        assert!(!is_connect_error(&signing) && !is_interrupted_error(&signing));
    }
}
