//! Signing overhead, in one run so the ratios hold on a noisy machine:
//! SHA-256 alone (the floor), aws-sigv4's `sign()` (the primitive), the layer
//! (static and cached-provider credentials), the same stack without the layer,
//! reqsign (a peer), concurrency on 1 and 2 threads, and bytes allocated per
//! signed request.
//!
//! `cargo bench --bench signing --all-features`

use std::alloc::{GlobalAlloc, Layout, System};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::Full;
use sha2::{Digest, Sha256};
use tower::{Layer, ServiceExt};
use tower_sigv4::{ServiceName, SigV4Layer};

/// Counts bytes allocated, to show the body is not copied.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const URL: &str = "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fagent-1/invocations?qualifier=DEFAULT";
const SIZES: [(usize, &str); 5] = [
    (0, "0B"),
    (1024, "1KiB"),
    (64 * 1024, "64KiB"),
    (1024 * 1024, "1MiB"),
    (8 * 1024 * 1024, "8MiB"),
];

fn credentials() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session-token".to_owned()),
        None,
        "bench",
    )
}

fn body(size: usize) -> Bytes {
    Bytes::from(vec![b'x'; size])
}

fn request(body: &Bytes) -> http::Request<Full<Bytes>> {
    http::Request::post(URL)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", "c7d1b2a4-5e6f-4a8b-9c0d-1e2f3a4b5c6d")
        .body(Full::new(body.clone()))
        .unwrap()
}

/// Credentials that expire in an hour: the cache path of a refreshing provider.
#[derive(Debug)]
struct Expiring;

impl ProvideCredentials for Expiring {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::ready(Ok(Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".to_owned()),
            Some(SystemTime::now() + Duration::from_secs(3600)),
            "expiring",
        )))
    }
}

fn static_layer() -> SigV4Layer {
    SigV4Layer::builder()
        .service(ServiceName::BEDROCK_AGENTCORE)
        .region("us-east-1")
        .credentials(credentials())
        .max_body_size(16 * 1024 * 1024)
        .build()
        .unwrap()
}

fn provider_layer() -> SigV4Layer {
    SigV4Layer::builder()
        .service(ServiceName::BEDROCK_AGENTCORE)
        .region("us-east-1")
        .credentials_provider(Expiring)
        .max_body_size(16 * 1024 * 1024)
        .build()
        .unwrap()
}

/// The inner service: answers at once.
fn inner() -> impl tower::Service<
    http::Request<Full<Bytes>>,
    Response = http::Response<()>,
    Error = Infallible,
    Future = std::future::Ready<Result<http::Response<()>, Infallible>>,
> + Clone {
    tower::service_fn(|_req: http::Request<Full<Bytes>>| {
        std::future::ready(Ok(http::Response::new(())))
    })
}

/// aws-sigv4 directly: hash, then sign the same request.
fn primitive(body: &Bytes) -> String {
    let identity = credentials().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("bedrock-agentcore")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let hash = hex::encode(Sha256::digest(body));
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-session-id", "c7d1b2a4-5e6f-4a8b-9c0d-1e2f3a4b5c6d"),
        ("host", "bedrock-agentcore.us-east-1.amazonaws.com"),
    ];
    let signable = SignableRequest::new(
        "POST",
        URL,
        headers.into_iter(),
        SignableBody::Precomputed(hash),
    )
    .unwrap();
    let (_instructions, signature) = sign(signable, &params).unwrap().into_parts();
    signature
}

fn reqsign_signer() -> reqsign::Signer<reqsign::aws::Credential> {
    reqsign::Signer::new(
        reqsign::Context::new(),
        reqsign::aws::StaticCredentialProvider::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .with_session_token("session-token"),
        reqsign::aws::RequestSigner::new("bedrock-agentcore", "us-east-1"),
    )
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap()
    }
}

fn allocations() {
    let rt = runtime(1);
    let layer = static_layer();
    for (size, name) in [SIZES[1], SIZES[3], SIZES[4]] {
        let body = body(size);
        // Warm up (first-call lazies), then count one request.
        rt.block_on(layer.layer(inner()).oneshot(request(&body)))
            .unwrap();
        let req = request(&body);
        let before = ALLOCATED.load(Ordering::SeqCst);
        rt.block_on(layer.layer(inner()).oneshot(req)).unwrap();
        let signed = ALLOCATED.load(Ordering::SeqCst) - before;
        let req = request(&body);
        let before = ALLOCATED.load(Ordering::SeqCst);
        rt.block_on(inner().oneshot(req)).unwrap();
        let plain = ALLOCATED.load(Ordering::SeqCst) - before;
        eprintln!(
            "allocations: {name} body: {signed} bytes allocated per signed request, {plain} without the layer, {} by signing",
            signed - plain
        );
    }
}

fn benches(c: &mut Criterion) {
    allocations();
    let rt = runtime(1);
    let reqsign = reqsign_signer();
    let static_layer = static_layer();
    let provider_layer = provider_layer();
    // Load the provider's credentials once, so the bench measures the cached path.
    rt.block_on(provider_layer.layer(inner()).oneshot(request(&body(0))))
        .unwrap();

    let mut group = c.benchmark_group("signing");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (size, name) in SIZES {
        let body = body(size);
        group.throughput(Throughput::Bytes(size.max(1) as u64));
        if size >= 1024 * 1024 {
            group.sample_size(20);
        } else {
            group.sample_size(60);
        }
        group.bench_with_input(BenchmarkId::new("sha256", name), &body, |b, body| {
            b.iter(|| hex::encode(Sha256::digest(body)))
        });
        group.bench_with_input(
            BenchmarkId::new("aws_sigv4_sign", name),
            &body,
            |b, body| b.iter(|| primitive(body)),
        );
        group.bench_with_input(BenchmarkId::new("layer_static", name), &body, |b, body| {
            b.to_async(&rt)
                .iter(|| static_layer.layer(inner()).oneshot(request(body)))
        });
        group.bench_with_input(
            BenchmarkId::new("layer_cached_provider", name),
            &body,
            |b, body| {
                b.to_async(&rt)
                    .iter(|| provider_layer.layer(inner()).oneshot(request(body)))
            },
        );
        group.bench_with_input(BenchmarkId::new("no_signing", name), &body, |b, body| {
            b.to_async(&rt).iter(|| inner().oneshot(request(body)))
        });
        group.bench_with_input(BenchmarkId::new("reqsign", name), &body, |b, body| {
            b.to_async(&rt).iter(|| async {
                let (mut parts, body) = request(body).into_parts();
                let bytes = http_body_util::BodyExt::collect(body)
                    .await
                    .unwrap()
                    .to_bytes();
                let hash = hex::encode(Sha256::digest(&bytes));
                parts
                    .headers
                    .insert("x-amz-content-sha256", hash.parse().unwrap());
                reqsign.sign(&mut parts, None).await.unwrap();
                parts
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("concurrency");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    const BATCH: usize = 256;
    let body = body(1024);
    group.throughput(Throughput::Elements(BATCH as u64));
    for threads in [1, 2] {
        let rt = runtime(threads);
        let layer = static_layer.clone();
        group.bench_function(
            BenchmarkId::new("signed_requests_1KiB", format!("{threads}_threads")),
            |b| {
                b.to_async(&rt).iter(|| {
                    let layer = layer.clone();
                    let body = body.clone();
                    async move {
                        let tasks: Vec<_> = (0..BATCH)
                            .map(|_| {
                                let service = layer.layer(inner());
                                let request = request(&body);
                                tokio::spawn(async move { service.oneshot(request).await })
                            })
                            .collect();
                        for task in tasks {
                            task.await.unwrap().unwrap();
                        }
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(signing, benches);
criterion_main!(signing);
