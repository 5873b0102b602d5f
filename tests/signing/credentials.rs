use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError as ProviderError;
use aws_credential_types::provider::{self, ProvideCredentials};
use bytes::Bytes;
use http_body_util::Full;
use tower_sigv4::clock::{Clock, FixedClock};
use tower_sigv4::credentials::CredentialsCache;
use tower_sigv4::{Error, SigV4Layer};

use crate::support::*;

/// A provider that counts calls and answers from a script.
#[derive(Clone, Debug)]
struct Scripted {
    calls: Arc<AtomicUsize>,
    behaviour: Behaviour,
    clock: FixedClock,
}

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Credentials valid for this long from the clock's now, after a small delay.
    Expiring(Duration),
    /// Credentials without an expiry.
    NoExpiry,
    /// Fail for the first n calls, then expire after an hour.
    FailFirst(usize),
    /// Never answer.
    Hang,
}

impl Scripted {
    fn new(behaviour: Behaviour, clock: &FixedClock) -> Self {
        Self {
            calls: Arc::default(),
            behaviour,
            clock: clock.clone(),
        }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn creds(generation: usize, expiry: Option<SystemTime>) -> Credentials {
    Credentials::new(
        format!("AKID{generation}"),
        SECRET_KEY,
        Some(SESSION_TOKEN.to_owned()),
        expiry,
        "scripted",
    )
}

impl ProvideCredentials for Scripted {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        provider::future::ProvideCredentials::new(async move {
            // Long enough for every concurrent caller to pile up behind the load.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.clock.now();
            match self.behaviour {
                Behaviour::Expiring(valid) => Ok(creds(n, Some(now + valid))),
                Behaviour::NoExpiry => Ok(creds(n, None)),
                Behaviour::FailFirst(k) if n <= k => Err(ProviderError::provider_error(
                    "profile `dev`: the SSO session has expired",
                )),
                Behaviour::FailFirst(_) => Ok(creds(n, Some(now + Duration::from_secs(3600)))),
                Behaviour::Hang => std::future::pending().await,
            }
        })
    }
}

fn cache(
    provider: &(impl ProvideCredentials + Clone + 'static),
    clock: &FixedClock,
) -> CredentialsCache {
    CredentialsCache::builder()
        .clock(clock.clone())
        .load_timeout(Duration::from_millis(500))
        .build(provider.clone())
}

/// `n` calls of `cache.get()` at once, each in a task of its own; what each got.
async fn concurrent_gets(
    cache: &CredentialsCache,
    n: usize,
) -> Vec<Result<Credentials, tower_sigv4::credentials::CredentialsError>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get().await })
        })
        .collect();
    let mut got = Vec::with_capacity(n);
    for task in tasks {
        got.push(task.await.unwrap());
    }
    got
}

#[tokio::test]
async fn a_thousand_concurrent_calls_on_a_cold_cache_make_one_load() {
    let clock = FixedClock::new(suite_time());
    let provider = Scripted::new(Behaviour::Expiring(Duration::from_secs(3600)), &clock);
    let cache = cache(&provider, &clock);
    for got in concurrent_gets(&cache, 1000).await {
        assert_eq!(got.unwrap().access_key_id(), "AKID1");
    }
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn a_thousand_concurrent_signed_requests_make_one_load() {
    let clock = FixedClock::new(suite_time());
    let provider = Scripted::new(Behaviour::Expiring(Duration::from_secs(3600)), &clock);
    let layer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials_provider(provider.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let layer = layer.clone();
            tokio::spawn(async move {
                let request = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
                    .body(Full::new(Bytes::from_static(b"{}")))
                    .unwrap();
                send(&layer, request).await.0.map(|_| ())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn refreshes_ahead_of_expiry_with_a_frozen_clock() {
    let clock = FixedClock::new(suite_time());
    let provider = Scripted::new(Behaviour::Expiring(Duration::from_secs(3600)), &clock);
    let cache = cache(&provider, &clock);
    assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID1");
    // 54 minutes in: more than 5 minutes left, still cached.
    clock.advance(Duration::from_secs(54 * 60));
    assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID1");
    assert_eq!(provider.calls(), 1);
    // 55 minutes and a second in: inside the 5-minute window. The still valid
    // credentials answer at once while a background load replaces them.
    clock.advance(Duration::from_secs(61));
    assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID1");
    let mut refreshed = None;
    for _ in 0..200 {
        let key = cache.get().await.unwrap().access_key_id().to_owned();
        if key == "AKID2" {
            refreshed = Some(key);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(refreshed.as_deref(), Some("AKID2"));
    assert_eq!(provider.calls(), 2);
    // One load, then one refresh ahead of the expiry.
    let counts = cache.load_counts();
    assert_eq!((counts.loads, counts.refreshes, counts.failures), (1, 1, 0));
    assert_eq!(
        cache.cached_expiry(),
        Some(clock.now() + Duration::from_secs(3600)),
        "the refreshed credentials' expiry"
    );
}

/// A provider that answers only when let through: each call takes one permit.
#[derive(Clone, Debug)]
struct Gated {
    calls: Arc<AtomicUsize>,
    permits: Arc<tokio::sync::Semaphore>,
    clock: FixedClock,
}

impl Gated {
    fn new(clock: &FixedClock, open: usize) -> Self {
        Self {
            calls: Arc::default(),
            permits: Arc::new(tokio::sync::Semaphore::new(open)),
            clock: clock.clone(),
        }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn release(&self) {
        self.permits.add_permits(1);
    }
    /// Yield until the provider has been called `n` times (bounded).
    async fn called(&self, n: usize) {
        for _ in 0..1000 {
            if self.calls() >= n {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the provider was called {} times, not {n}", self.calls());
    }
}

impl ProvideCredentials for Gated {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        provider::future::ProvideCredentials::new(async move {
            self.permits.acquire().await.unwrap().forget();
            Ok(creds(n, Some(self.clock.now() + Duration::from_secs(3600))))
        })
    }
}

#[tokio::test]
async fn a_load_survives_the_caller_that_started_it_going_away() {
    let clock = FixedClock::new(suite_time());
    let provider = Gated::new(&clock, 0);
    let cache = cache(&provider, &clock);
    let first = tokio::spawn({
        let cache = cache.clone();
        async move { cache.get().await }
    });
    provider.called(1).await;
    // The request that started the load is cancelled.
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    let second = tokio::spawn({
        let cache = cache.clone();
        async move { cache.get().await }
    });
    tokio::task::yield_now().await;
    provider.release();
    let credentials = second.await.unwrap().unwrap();
    assert_eq!(credentials.access_key_id(), "AKID1");
    assert_eq!(provider.calls(), 1, "the load was started again");
}

#[tokio::test]
async fn inside_the_refresh_window_cached_credentials_answer_at_once_and_one_load_runs() {
    use futures_util::FutureExt;

    let clock = FixedClock::new(suite_time());
    let provider = Gated::new(&clock, 1);
    let cache = cache(&provider, &clock);
    assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID1");
    // Four minutes before expiry: inside the default five-minute window.
    clock.advance(Duration::from_secs(56 * 60));
    for _ in 0..10 {
        let now = cache.get().now_or_never();
        let credentials = now.expect("answered without waiting").unwrap();
        assert_eq!(credentials.access_key_id(), "AKID1");
        tokio::task::yield_now().await;
    }
    provider.called(2).await;
    assert_eq!(provider.calls(), 2, "one background load, not one per call");
    provider.release();
    let mut refreshed = false;
    for _ in 0..1000 {
        if cache.get().await.unwrap().access_key_id() == "AKID2" {
            refreshed = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refreshed);
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn credentials_that_arrive_inside_the_refresh_window_do_not_reload_back_to_back() {
    let clock = FixedClock::new(suite_time());
    // Four minutes of validity, a five-minute refresh window.
    let provider = Scripted::new(Behaviour::Expiring(Duration::from_secs(240)), &clock);
    let cache = cache(&provider, &clock);
    for _ in 0..10 {
        assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID1");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(provider.calls(), 1);
    // Ten seconds later the refresh is tried again, in the background.
    clock.advance(Duration::from_secs(11));
    assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID1");
    let mut refreshed = false;
    for _ in 0..200 {
        if cache.get().await.unwrap().access_key_id() == "AKID2" {
            refreshed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refreshed);
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn concurrent_refusals_of_one_generation_reload_once() {
    let clock = FixedClock::new(suite_time());
    let provider = Scripted::new(Behaviour::Expiring(Duration::from_secs(3600)), &clock);
    let cache = cache(&provider, &clock);
    cache.get().await.unwrap();
    let refused = cache.generation();
    let invalidated = (0..20)
        .filter(|_| cache.invalidate_if_generation(refused))
        .count();
    assert_eq!(invalidated, 1);
    for got in concurrent_gets(&cache, 20).await {
        assert_eq!(got.unwrap().access_key_id(), "AKID2");
    }
    assert_eq!(provider.calls(), 2);
    assert_eq!(cache.generation(), refused + 1);
    // A refusal of the old generation no longer touches the new credentials.
    assert!(!cache.invalidate_if_generation(refused));
    assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID2");
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn the_provider_of_the_newest_credentials_is_named() {
    let provider = Credentials::new("AKID", SECRET_KEY, None, None, "ProfileFile");
    let cache = CredentialsCache::new(provider);
    assert_eq!(cache.last_provider(), None);
    cache.get().await.unwrap();
    assert_eq!(cache.last_provider().as_deref(), Some("ProfileFile"));
    let fixed = CredentialsCache::fixed(Credentials::new("AKID", SECRET_KEY, None, None, "Static"));
    assert_eq!(fixed.last_provider().as_deref(), Some("Static"));
    let text = format!("{:?}", cache.last_provider());
    assert!(!text.contains(SECRET_KEY));
}

#[tokio::test]
async fn credentials_without_expiry_are_reloaded_after_the_ttl() {
    let clock = FixedClock::new(suite_time());
    let provider = Scripted::new(Behaviour::NoExpiry, &clock);
    let cache = CredentialsCache::builder()
        .clock(clock.clone())
        .ttl_without_expiry(Duration::from_secs(900))
        .refresh_before_expiry(Duration::ZERO)
        .build(provider.clone());
    cache.get().await.unwrap();
    clock.advance(Duration::from_secs(899));
    cache.get().await.unwrap();
    assert_eq!(provider.calls(), 1);
    clock.advance(Duration::from_secs(2));
    assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID2");
}

#[tokio::test]
async fn failing_provider_gives_a_clear_error_that_every_waiter_shares() {
    let clock = FixedClock::new(suite_time());
    let provider = Scripted::new(Behaviour::FailFirst(1), &clock);
    let cache = cache(&provider, &clock);
    for got in concurrent_gets(&cache, 50).await {
        let err = got.unwrap_err();
        let msg = Error::from(err).to_string();
        assert!(msg.contains("the SSO session has expired"), "{msg}");
        assert!(msg.contains("AWS_PROFILE"), "{msg}");
    }
    assert_eq!(
        provider.calls(),
        1,
        "waiters called the broken provider again"
    );
    // Recovery: the next call loads again and succeeds.
    assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID2");
}

#[tokio::test]
async fn hanging_provider_fails_within_the_load_timeout() {
    let clock = FixedClock::new(suite_time());
    let provider = Scripted::new(Behaviour::Hang, &clock);
    let cache = cache(&provider, &clock);
    let started = Instant::now();
    for got in concurrent_gets(&cache, 20).await {
        let err = got.unwrap_err();
        assert_eq!(err.timed_out(), Some(Duration::from_millis(500)));
        assert!(
            Error::from(err)
                .to_string()
                .contains("loading took longer than 500ms")
        );
    }
    // Bounded, not a timing assertion on speed: all 20 shared one timed-out load.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(provider.calls(), 1);
}

#[tokio::test]
async fn still_valid_credentials_are_kept_when_a_refresh_fails() {
    let clock = FixedClock::new(suite_time());
    // The first load succeeds (FailFirst(0)), later loads... use a provider that
    // succeeds once then fails: emulate with a hand-rolled sequence.
    #[derive(Debug)]
    struct OnceThenFail(AtomicUsize, FixedClock);
    impl ProvideCredentials for OnceThenFail {
        fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            let now = self.1.now();
            provider::future::ProvideCredentials::ready(if n == 0 {
                Ok(creds(1, Some(now + Duration::from_secs(600))))
            } else {
                Err(ProviderError::provider_error("throttled"))
            })
        }
    }
    let cache = CredentialsCache::builder()
        .clock(clock.clone())
        .build(OnceThenFail(AtomicUsize::new(0), clock.clone()));
    cache.get().await.unwrap();
    // Inside the refresh window but before expiry: refresh fails, cached ones still serve.
    clock.advance(Duration::from_secs(400));
    assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID1");
    // After expiry: the failure is the answer.
    clock.advance(Duration::from_secs(300));
    let err = cache.get().await.unwrap_err();
    assert!(err.to_string().contains("throttled"), "{err}");
    // The first load, then one failure: the refresh begun at 400 s had not
    // run yet, and the expired `get` waited for it rather than start another.
    let counts = cache.load_counts();
    assert_eq!((counts.loads, counts.refreshes, counts.failures), (1, 0, 1));
}

#[tokio::test]
async fn invalidate_forces_one_reload() {
    let clock = FixedClock::new(suite_time());
    let provider = Scripted::new(Behaviour::Expiring(Duration::from_secs(3600)), &clock);
    let cache = cache(&provider, &clock);
    cache.get().await.unwrap();
    cache.invalidate();
    assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID2");
    assert_eq!(cache.get().await.unwrap().access_key_id(), "AKID2");
    assert_eq!(provider.calls(), 2);
}

#[tokio::test]
async fn static_credentials_never_call_a_provider() {
    let cache = CredentialsCache::fixed(credentials(true));
    cache.invalidate();
    assert_eq!(cache.get().await.unwrap().secret_access_key(), SECRET_KEY);
    assert!(cache.is_fixed());
}

#[tokio::test]
async fn credentials_errors_fail_the_request_and_never_show_secrets() {
    let clock = FixedClock::new(suite_time());
    let provider = Scripted::new(Behaviour::FailFirst(usize::MAX), &clock);
    let layer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials_provider(provider)
        .clock(clock)
        .build()
        .unwrap();
    let request = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (result, seen) = send(&layer, request).await;
    let err = sign_error(result.unwrap_err());
    assert!(matches!(err, Error::Credentials(_)));
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(SECRET_KEY) && !text.contains(SESSION_TOKEN),
        "{text}"
    );
    assert_eq!(seen.count(), 0);
}

#[tokio::test]
async fn missing_credentials_can_send_unsigned_when_configured() {
    let clock = FixedClock::new(suite_time());
    let provider = Scripted::new(Behaviour::FailFirst(usize::MAX), &clock);
    let layer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials_provider(provider)
        .missing_credentials(tower_sigv4::MissingCredentials::SendUnsigned)
        .build()
        .unwrap();
    let request = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
        .header("authorization", "AWS4-HMAC-SHA256 stale")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (result, seen) = send(&layer, request).await;
    result.unwrap();
    let req = &seen.requests()[0];
    assert!(req.headers().get("authorization").is_none());
    assert!(req.headers().get("x-amz-date").is_none());
}
