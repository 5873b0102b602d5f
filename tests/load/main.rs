//! Load and fault tests on 127.0.0.1: one shared layer under 10,000 requests,
//! credentials expiring mid-load, failing and hanging providers, and bodies that
//! must never be sent. Every loop is bounded.

#[path = "../support/serve.rs"]
mod serve;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials};
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};
use tower_sigv4::clock::{Clock, FixedClock, SharedClock, SystemClock};
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};
use tower_sigv4::{Error, SigV4Layer};

/// What the server received.
#[derive(Clone, Default)]
struct Received {
    requests: Arc<AtomicUsize>,
    bytes: Arc<AtomicU64>,
}

/// A hyper server behind the verifying layer; keys `AKID{n}` / `SECRET`.
async fn server(clock: SharedClock) -> (SocketAddr, Received) {
    let received = Received::default();
    let seen = received.clone();
    let verify = VerifySigV4Layer::new("us-east-1", "bedrock-agentcore", |id: &str| {
        id.strip_prefix("AKID").map(|_| VerifyingKey::new("SECRET"))
    })
    .clock(clock);
    let ok = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let verified = verify.layer(ok);
    // Count what arrives before verification, so "nothing sent" means nothing.
    let front = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let seen = seen.clone();
        let verified = verified.clone();
        async move {
            seen.requests.fetch_add(1, Ordering::SeqCst);
            let (parts, body) = req.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            seen.bytes.fetch_add(bytes.len() as u64, Ordering::SeqCst);
            verified
                .oneshot(http::Request::from_parts(parts, Full::new(bytes)))
                .await
        }
    });
    let (addr, _accept) = crate::serve::bind(front).await;
    (addr, received)
}

/// New keys per load, expiring `valid` after the clock's now.
#[derive(Clone, Debug)]
struct Rotating {
    loads: Arc<AtomicUsize>,
    clock: SharedClock,
    valid: Duration,
}

impl ProvideCredentials for Rotating {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
        let expiry = self.clock.now() + self.valid;
        provider::future::ProvideCredentials::ready(Ok(Credentials::new(
            format!("AKID{n}"),
            "SECRET",
            None,
            Some(expiry),
            "rotating",
        )))
    }
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn request(addr: SocketAddr, i: usize) -> http::Request<Full<Bytes>> {
    http::Request::post(format!("http://{addr}/mcp"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(format!(
            r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/list"}}"#
        ))))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_five_hundred_in_flight_one_credentials_load() {
    let clock = SharedClock::new(SystemClock);
    let (addr, received) = server(clock.clone()).await;
    let provider = Rotating {
        loads: Arc::default(),
        clock: clock.clone(),
        valid: Duration::from_secs(3600),
    };
    let layer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials_provider(provider.clone())
        .build()
        .unwrap();
    let service = layer.layer(client());
    let statuses: Vec<u16> = stream::iter(0..10_000)
        .map(|i| {
            let service = service.clone();
            async move {
                match service.oneshot(request(addr, i)).await {
                    Ok(response) => response.status().as_u16(),
                    Err(e) => panic!("request {i} failed: {e}"),
                }
            }
        })
        .buffer_unordered(500)
        .collect()
        .await;
    assert_eq!(statuses.len(), 10_000);
    assert!(
        statuses.iter().all(|s| *s == 200),
        "{} refused",
        statuses.iter().filter(|s| **s != 200).count()
    );
    assert_eq!(provider.loads.load(Ordering::SeqCst), 1);
    assert_eq!(received.requests.load(Ordering::SeqCst), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_expiring_mid_load_refresh_once_per_expiry_and_nothing_fails() {
    // Client and server share a frozen clock that the test moves: 10 s per 100 requests.
    let fixed = FixedClock::new(SystemTime::now());
    let clock = SharedClock::new(fixed.clone());
    let (addr, _) = server(clock.clone()).await;
    let provider = Rotating {
        loads: Arc::default(),
        clock: clock.clone(),
        // Refreshed 5 minutes before expiry: a new load every 60 s of clock time.
        valid: Duration::from_secs(360),
    };
    let layer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials_provider(provider.clone())
        .clock(fixed.clone())
        .build()
        .unwrap();
    let service = layer.layer(client());
    let done = Arc::new(AtomicUsize::new(0));
    let statuses: Vec<u16> = stream::iter(0..5_000)
        .map(|i| {
            let service = service.clone();
            let fixed = fixed.clone();
            let done = done.clone();
            async move {
                let status = service
                    .oneshot(request(addr, i))
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                if done.fetch_add(1, Ordering::SeqCst) % 100 == 99 {
                    fixed.advance(Duration::from_secs(10));
                }
                status
            }
        })
        .buffer_unordered(200)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    // 500 s of clock time, a refresh every 60 s: 1 load + at most one per window.
    let loads = provider.loads.load(Ordering::SeqCst);
    assert!((8..=10).contains(&loads), "{loads} loads");
}

/// Fails until `until`, then gives credentials; or hangs forever.
#[derive(Clone, Debug)]
struct Flaky {
    until: Instant,
    hang: bool,
}

impl ProvideCredentials for Flaky {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        if self.hang {
            return provider::future::ProvideCredentials::new(std::future::pending());
        }
        let result = if Instant::now() < self.until {
            Err(CredentialsError::provider_error(
                "the credentials endpoint is down",
            ))
        } else {
            Ok(Credentials::new("AKID1", "SECRET", None, None, "flaky"))
        };
        provider::future::ProvideCredentials::ready(result)
    }
}

#[tokio::test]
async fn failing_then_recovering_and_hanging_providers_fail_fast_then_succeed() {
    let (addr, received) = server(SharedClock::new(SystemClock)).await;
    let timeout = Duration::from_millis(300);
    let flaky = Flaky {
        until: Instant::now() + Duration::from_millis(500),
        hang: false,
    };
    let layer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials_provider(flaky)
        .credentials_load_timeout(timeout)
        .build()
        .unwrap();
    let service = layer.layer(client());
    let mut failed = 0;
    let mut succeeded = 0;
    for i in 0..200 {
        let started = Instant::now();
        match service.clone().oneshot(request(addr, i)).await {
            Ok(response) => {
                assert_eq!(response.status(), 200);
                succeeded += 1;
            }
            Err(e) => {
                let e = e.downcast_ref::<Error>().expect("a signing error");
                assert!(matches!(e, Error::Credentials(_)), "{e}");
                assert!(started.elapsed() < timeout + Duration::from_millis(200));
                assert_eq!(succeeded, 0, "failed after recovering");
                failed += 1;
            }
        }
        if succeeded >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        failed > 0 && succeeded == 20,
        "{failed} failed, {succeeded} succeeded"
    );
    assert_eq!(
        received.requests.load(Ordering::SeqCst),
        20,
        "an unsigned request was sent"
    );

    let hanging = SigV4Layer::builder()
        .region("us-east-1")
        .credentials_provider(Flaky {
            until: Instant::now(),
            hang: true,
        })
        .credentials_load_timeout(timeout)
        .build()
        .unwrap();
    let service = hanging.layer(client());
    let started = Instant::now();
    let results: Vec<_> = stream::iter(0..50)
        .map(|i| service.clone().oneshot(request(addr, i)))
        .buffer_unordered(50)
        .collect()
        .await;
    for result in results {
        let err = result.unwrap_err();
        let err = err.downcast_ref::<Error>().unwrap().to_string();
        assert!(err.contains("loading took longer than 300ms"), "{err}");
    }
    // All fifty shared one load: none waited much longer than the timeout.
    assert!(started.elapsed() < timeout * 3, "{:?}", started.elapsed());
    assert_eq!(received.requests.load(Ordering::SeqCst), 20);
}

#[tokio::test]
async fn bad_bodies_give_clear_errors_and_nothing_is_sent() {
    let (addr, received) = server(SharedClock::new(SystemClock)).await;
    let layer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials(Credentials::new("AKID1", "SECRET", None, None, "static"))
        .max_body_size(1024)
        .build()
        .unwrap();
    let hyper = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let service = layer.layer(hyper);
    let url = format!("http://{addr}/mcp");

    let halfway = http::Request::post(&url)
        .body(StreamBody::new(stream::iter(vec![
            Ok(Frame::data(Bytes::from_static(b"{\"jsonrpc\":"))),
            Err(std::io::Error::other("disk read failed halfway")),
        ])))
        .unwrap();
    let err = service.clone().oneshot(halfway).await.unwrap_err();
    assert!(
        matches!(err.downcast_ref::<Error>(), Some(Error::BodyRead(_))),
        "{err}"
    );
    assert!(
        err.to_string().contains("disk read failed halfway"),
        "{err}"
    );

    let longer = http::Request::post(&url)
        .header("content-length", "4")
        .body(StreamBody::new(stream::iter(vec![Ok::<_, Infallible>(
            Frame::data(Bytes::from_static(b"0123456789")),
        )])))
        .unwrap();
    let err = service.clone().oneshot(longer).await.unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<Error>(),
            Some(Error::ContentLengthMismatch {
                declared: 4,
                actual: 10
            })
        ),
        "{err}"
    );

    let over = http::Request::post(&url)
        .header("content-length", "5000")
        .body(StreamBody::new(stream::iter(vec![Ok::<_, Infallible>(
            Frame::data(Bytes::from(vec![b'x'; 5000])),
        )])))
        .unwrap();
    let err = service.clone().oneshot(over).await.unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<Error>(),
            Some(Error::BodyTooLarge {
                limit: 1024,
                declared: Some(5000)
            })
        ),
        "{err}"
    );

    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(received.requests.load(Ordering::SeqCst), 0);
    assert_eq!(received.bytes.load(Ordering::SeqCst), 0);
}
