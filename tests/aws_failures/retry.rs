use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder, ServiceExt};
use tower_sigv4::clock::{Clock, FixedClock, SystemClock};
use tower_sigv4::recover::{Diagnosis, RecoverLayer};
use tower_sigv4::rejection::RejectionKind;
use tower_sigv4::retry::{RetryPolicy, RetrySafe};
use tower_sigv4::{SigV4Layer, Signer};

use crate::server::{Reply, start, start_with};

/// Counts loads; each load gives new keys (`AKID1`, `AKID2`, ...).
#[derive(Clone, Debug, Default)]
pub struct Counting(Arc<AtomicUsize>);

impl Counting {
    pub fn loads(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl ProvideCredentials for Counting {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        provider::future::ProvideCredentials::ready(Ok(Credentials::new(
            format!("AKID{n}"),
            "SECRET",
            Some(format!("TOKEN{n}")),
            Some(SystemTime::now() + Duration::from_secs(3600)),
            "counting",
        )))
    }
}

fn signer(provider: Counting, clock: impl Clock) -> Signer {
    SigV4Layer::builder()
        .region("us-east-1")
        .service("aws-mcp")
        .credentials_provider(provider)
        .clock(clock)
        .build_signer()
        .unwrap()
}

pub struct Outcome {
    pub status: u16,
    pub diagnosis: Option<Diagnosis>,
}

pub async fn call_with(
    signer: &Signer,
    policy: RetryPolicy,
    url: &str,
    safe: bool,
) -> Result<Outcome, BoxError> {
    call(signer, policy, url, safe).await
}

async fn call(
    signer: &Signer,
    policy: RetryPolicy,
    url: &str,
    safe: bool,
) -> Result<Outcome, BoxError> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(policy))
        .layer(RecoverLayer::new(signer.clone()))
        .layer(SigV4Layer::from_signer(signer.clone()))
        .service(client);
    let mut request = http::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        )))
        .unwrap();
    if safe {
        request.extensions_mut().insert(RetrySafe);
    }
    let response = service.oneshot(request).await?;
    let status = response.status().as_u16();
    let diagnosis = response.extensions().get::<Diagnosis>().cloned();
    let _ = response.into_body().collect().await;
    Ok(Outcome { status, diagnosis })
}

fn fast() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(4)
        .base_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(50))
}

#[tokio::test]
async fn throttling_with_retry_after_then_success() {
    let server = start(vec![
        Reply::aws_error(429, "ThrottlingException", "Rate exceeded").header("retry-after", "1"),
        Reply::ok(),
    ])
    .await;
    let signer = signer(Counting::default(), SystemClock);
    let started = Instant::now();
    let outcome = call(&signer, fast(), &server.url("/mcp"), false)
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
    assert_eq!(server.recorded.count(), 2);
    // Retry-After: 1 was honoured (not the 10-50 ms backoff).
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn throttling_without_retry_after_backs_off_then_succeeds() {
    let server = start(vec![
        Reply::aws_error(429, "TooManyRequestsException", "slow down"),
        Reply::aws_error(429, "TooManyRequestsException", "slow down"),
        Reply::ok(),
    ])
    .await;
    let signer = signer(Counting::default(), SystemClock);
    let outcome = call(&signer, fast(), &server.url("/mcp"), false)
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
    assert_eq!(server.recorded.count(), 3);
}

#[tokio::test]
async fn service_unavailable_twice_then_success_each_attempt_signed_afresh() {
    let server = start(vec![Reply::new(503), Reply::new(503), Reply::ok()]).await;
    // A clock that moves 2 s per reading: each attempt must carry its own date.
    #[derive(Debug)]
    struct Ticking(FixedClock);
    impl Clock for Ticking {
        fn now(&self) -> SystemTime {
            self.0.advance(Duration::from_secs(2));
            self.0.now()
        }
    }
    let clock = Ticking(FixedClock::new(SystemTime::now()));
    let signer = signer(Counting::default(), clock);
    let outcome = call(&signer, fast(), &server.url("/mcp"), false)
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
    assert_eq!(server.recorded.count(), 3);
    let dates: Vec<_> = (0..3)
        .map(|i| server.recorded.header(i, "x-amz-date").unwrap())
        .collect();
    assert_ne!(dates[0], dates[1]);
    assert_ne!(dates[1], dates[2]);
    let signatures: Vec<_> = (0..3)
        .map(|i| server.recorded.header(i, "authorization").unwrap())
        .collect();
    assert_ne!(signatures[0], signatures[1]);
}

#[tokio::test]
async fn server_error_is_not_retried_unless_the_request_is_safe() {
    let server = start(vec![Reply::new(500), Reply::ok()]).await;
    let signer = signer(Counting::default(), SystemClock);
    let outcome = call(&signer, fast(), &server.url("/mcp"), false)
        .await
        .unwrap();
    assert_eq!(outcome.status, 500);
    assert_eq!(server.recorded.count(), 1);

    let server = start(vec![Reply::new(502), Reply::new(504), Reply::ok()]).await;
    let outcome = call(&signer, fast(), &server.url("/mcp"), true)
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
    assert_eq!(server.recorded.count(), 3);
}

#[tokio::test]
async fn attempts_give_up_within_the_time_budget() {
    let server = start(vec![Reply::new(503).header("retry-after", "1")]).await;
    let signer = signer(Counting::default(), SystemClock);
    let policy = RetryPolicy::default()
        .max_attempts(100)
        .budget(Duration::from_millis(2500));
    let started = Instant::now();
    let outcome = call(&signer, policy, &server.url("/mcp"), false)
        .await
        .unwrap();
    assert_eq!(outcome.status, 503);
    // 1 s apart within 2.5 s: the first attempt and two retries.
    assert_eq!(server.recorded.count(), 3);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    // Bind and drop a listener: nothing listens on that port now.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let signer = signer(Counting::default(), SystemClock);
    let err = call(&signer, fast(), &format!("http://{addr}/mcp"), false)
        .await
        .err()
        .unwrap();
    assert!(tower_sigv4::retry::is_connect_error(&*err), "{err}");
}

#[tokio::test]
async fn expired_token_reloads_credentials_and_retries_once() {
    let server = start(vec![
        Reply::aws_error(
            403,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
        Reply::ok(),
    ])
    .await;
    let provider = Counting::default();
    let signer = signer(provider.clone(), SystemClock);
    let outcome = call(&signer, fast(), &server.url("/mcp"), false)
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
    assert_eq!(
        provider.0.load(Ordering::SeqCst),
        2,
        "the provider must be called exactly twice"
    );
    assert_eq!(
        server.recorded.header(0, "x-amz-security-token").as_deref(),
        Some("TOKEN1")
    );
    assert_eq!(
        server.recorded.header(1, "x-amz-security-token").as_deref(),
        Some("TOKEN2")
    );
}

#[tokio::test]
async fn invalid_signature_is_retried_once_never_looped() {
    let server = start(vec![Reply::aws_error(
        403,
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided.",
    )])
    .await;
    let provider = Counting::default();
    let signer = signer(provider.clone(), SystemClock);
    let outcome = call(&signer, fast(), &server.url("/mcp"), false)
        .await
        .unwrap();
    assert_eq!(outcome.status, 403);
    assert_eq!(server.recorded.count(), 2);
    assert_eq!(provider.0.load(Ordering::SeqCst), 2);
    let diagnosis = outcome.diagnosis.expect("a Diagnosis extension");
    assert_eq!(diagnosis.kind(), RejectionKind::InvalidSignature);
    assert!(diagnosis.retried);
}

/// Twenty requests refused at once with the same credentials: one reload, and
/// each request retried once with the new credentials.
#[tokio::test]
async fn concurrent_refusals_of_the_same_credentials_reload_them_once() {
    let server = start_with(|parts| {
        if parts
            .headers
            .get("x-amz-security-token")
            .is_some_and(|t| t == "TOKEN1")
        {
            Reply::aws_error(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            )
        } else {
            Reply::ok()
        }
    })
    .await;
    let provider = Counting::default();
    let signer = signer(provider.clone(), SystemClock);
    signer.credentials().get().await.unwrap();
    let url = server.url("/mcp");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let signer = signer.clone();
            let url = url.clone();
            tokio::spawn(async move { call(&signer, fast(), &url, false).await.unwrap() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().status, 200);
    }
    assert_eq!(
        provider.loads(),
        2,
        "one load, and one reload for all twenty"
    );
    let refused = (0..server.recorded.count())
        .filter(|i| {
            server
                .recorded
                .header(*i, "x-amz-security-token")
                .as_deref()
                == Some("TOKEN1")
        })
        .count();
    assert_eq!(refused, 20, "every request was refused once");
    assert_eq!(server.recorded.count(), 40);
}

/// Credentials that stay refused after a reload are not reloaded and retried
/// on every later request.
#[tokio::test]
async fn a_lasting_refusal_does_not_double_every_request() {
    let server = start(vec![Reply::aws_error(
        403,
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided.",
    )])
    .await;
    let provider = Counting::default();
    let signer = signer(provider.clone(), SystemClock);
    let mut retried = Vec::new();
    for _ in 0..5 {
        let outcome = call(&signer, fast(), &server.url("/mcp"), false)
            .await
            .unwrap();
        assert_eq!(outcome.status, 403);
        retried.push(outcome.diagnosis.unwrap().retried);
    }
    assert_eq!(retried, [true, false, false, false, false]);
    assert_eq!(
        server.recorded.count(),
        6,
        "one retry in all, not one per request"
    );
    assert_eq!(provider.loads(), 2);
}

/// A server on 127.0.0.1 that reads each request in full, counts it, and drops
/// the connection without answering: with a reset (RST), or closed (FIN).
async fn dropping_server(reset: bool) -> (String, Arc<AtomicUsize>) {
    use tokio::io::AsyncReadExt;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        for _ in 0..16 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut received = Vec::new();
            let mut buffer = [0u8; 4096];
            // Read the head, then the body its Content-Length announces.
            let complete = loop {
                let Ok(n) = stream.read(&mut buffer).await else {
                    break false;
                };
                if n == 0 || received.len() > 64 * 1024 {
                    break false;
                }
                received.extend_from_slice(&buffer[..n]);
                if is_complete_request(&received) {
                    break true;
                }
            };
            if complete {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            if reset {
                stream.set_zero_linger().unwrap();
            }
            drop(stream);
        }
    });
    (url, requests)
}

fn is_complete_request(received: &[u8]) -> bool {
    let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    received.len() >= end + 4 + length
}

#[tokio::test]
async fn a_connection_dropped_after_the_request_was_sent_is_retried_only_when_safe() {
    for reset in [true, false] {
        let signer = signer(Counting::default(), SystemClock);

        let (url, requests) = dropping_server(reset).await;
        let err = call(&signer, fast(), &url, false).await.err().unwrap();
        assert_eq!(
            requests.load(Ordering::SeqCst),
            1,
            "reset {reset}: a request that may have been processed is not repeated"
        );
        assert!(
            !tower_sigv4::retry::is_connect_error(&*err),
            "reset {reset}: {err}"
        );
        assert!(
            tower_sigv4::retry::is_interrupted_error(&*err),
            "reset {reset}: {err}"
        );

        let (url, requests) = dropping_server(reset).await;
        call(&signer, fast(), &url, true).await.err().unwrap();
        assert_eq!(
            requests.load(Ordering::SeqCst),
            4,
            "reset {reset}: a RetrySafe request is attempted max_attempts times"
        );
    }
}
