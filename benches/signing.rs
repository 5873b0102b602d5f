//! Signing overhead, in one run so the ratios hold on a noisy machine:
//! SHA-256 alone (the floor), aws-sigv4's `sign()` (the primitive, alone and
//! applied to the same `http::Request` the layer gets), the layer
//! (static and cached-provider credentials), the same stack without the layer,
//! reqsign (a peer), and concurrency on 1 and 2 threads. Bytes allocated per
//! request are counted in `benches/allocations.rs`, whose counting allocator
//! would otherwise tax every allocation measured here.
//!
//! `cargo bench --bench signing --all-features`

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use tower::{Layer, ServiceExt};

mod support;
use support::{
    SIZES, body, inner, primitive, primitive_on_request, provider_layer, request, runtime,
    static_layer,
};

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

fn benches(c: &mut Criterion) {
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
        group.bench_with_input(
            BenchmarkId::new("aws_sigv4_on_request", name),
            &body,
            |b, body| b.iter(|| primitive_on_request(body)),
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
